"""The accuracy-compute curve of a trained mixture (``imdb_dyn`` / ``affect_dyn --eval-only --pareto ...``).

For each fraction the gate bias is calibrated on the valid split (the gate's logits
are computed once) and the mixture is tested on the test split; next to these
points: the mixture as trained (no bias) and each expert alone (every sample sent
to it, the gate not run; the late-fusion expert alone is the static multimodal
model). Latency is the wall time of the whole test pass divided by its samples.
"""
import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List

import torch
from torch import nn
from torch.utils.data import DataLoader

from dynmm_plugins.utils.io import atomic_write
from dynmm_plugins.visualization.pareto import (
    dominance,
    dominance_lines,
    plot_pareto,
    target_summary,
    write_csv,
)

from ..budget import calibrate_mixture, collect_logits
from ..errors import SetupError
from ..mixture import DynMMMixture
from .evaluation import evaluate

#: Accuracy metric drawn per dataset (higher is better).
METRIC = {'imdb': 'f1_micro', 'mosei': 'acc'}
EXPERT_NAMES = ('text expert', 'late-fusion expert')
CSV_COLUMNS = ('name', 'kind', 'target_fraction', 'target_mflops', 'calib_realised_mflops', 'metric',
               'mflops_per_sample', 'target_error_pct', 'latency_ms', 'tau', 'gate_bias', 'branch_fractions')


def _test_point(dataset: str, model: nn.Module, mixture: DynMMMixture, test_dl: DataLoader, packed: bool,
                device: torch.device) -> Dict[str, Any]:
    mixture.reset_stats()
    start = time.perf_counter()
    metrics = evaluate(dataset, model, test_dl, packed, device)
    elapsed = time.perf_counter() - start
    gate = mixture.gate_summary()
    return dict(metrics, metric=metrics[METRIC[dataset]], mflops_per_sample=gate['mflops_per_sample'],
                branch_fractions=gate['branch_fractions'], latency_ms=1e3 * elapsed / gate['num_samples'])


def run_pareto(args: argparse.Namespace, env, model: nn.Module, mixture: DynMMMixture, valid_dl: DataLoader,
               test_dl: DataLoader, dataset: str, packed: bool, script: str) -> Dict[str, Any]:
    """Evaluate every point, write pareto.csv/json/png to ``--pareto-out``; returns the JSON content."""
    logits = collect_logits(mixture, valid_dl, packed, env.device)
    try:
        budgets = [calibrate_mixture(mixture, logits, target_fraction=f) for f in args.pareto]
    except ValueError as exc:
        raise SetupError(f'--pareto: {exc}') from None
    rows: List[Dict[str, Any]] = []
    with torch.no_grad():
        mixture.set_gate_bias(None)
        rows.append(dict(name='DynMM as trained', kind='trained',
                         **_test_point(dataset, model, mixture, test_dl, packed, env.device)))
        for f, budget in zip(args.pareto, budgets):
            mixture.set_gate_bias(budget['gate_bias'])
            point = _test_point(dataset, model, mixture, test_dl, packed, env.device)
            rows.append(dict(name=f'DynMM @ {100 * f:g}%', kind='calibrated', target_fraction=f,
                             target_mflops=budget['target_mflops'],
                             calib_realised_mflops=budget['calib_realised_mflops'], tau=budget['tau'],
                             gate_bias=budget['gate_bias'],
                             target_error_pct=100 * (point['mflops_per_sample'] / budget['target_mflops'] - 1),
                             **point))
        mixture.set_gate_bias(None)
        for k in range(mixture.num_experts):
            with mixture.gate_override('fixed', branch=k):
                name = EXPERT_NAMES[k] if mixture.num_experts == len(EXPERT_NAMES) else f'expert {k}'
                rows.append(dict(name=name, kind='fixed',
                                 **_test_point(dataset, model, mixture, test_dl, packed, env.device)))
    metric = METRIC[dataset]
    summary = dict(target_summary(rows, 'mflops_per_sample'), dominance=dominance(rows, 'metric', 'mflops_per_sample'))
    print(f'{script}: accuracy-compute curve (calibrated on valid, {logits.shape[0]} samples; tested on test)')
    for r in rows:
        extra = '' if r['kind'] != 'calibrated' else (f'  target {r["target_mflops"]:.3f} (valid '
                                                      f'{r["calib_realised_mflops"]:.3f}), error '
                                                      f'{r["target_error_pct"]:+.2f}%')
        print(f'  {r["name"]:<22} {metric} {r["metric"]:.4f}  {r["mflops_per_sample"]:.3f} MFLOPs/sample  '
              f'{r["latency_ms"]:.3f} ms/sample{extra}')
    print(f'  largest |realised - target| on test: {summary["max_abs_target_error_pct"]:.2f}%; monotone in the '
          f'target: {summary["realised_monotone_in_target"]}')
    print('\n'.join(dominance_lines(rows, 'metric', 'mflops_per_sample', 'MFLOPs')))
    out = Path(args.pareto_out)
    result = dict(script=script, data=str(args.data), metric=metric, points=rows, summary=summary)
    write_csv(rows, str(out / 'pareto.csv'), CSV_COLUMNS)
    with atomic_write(str(out / 'pareto.json'), 'w') as f:
        f.write(json.dumps(result, indent=1) + '\n')
    plot_pareto(rows, str(out / 'pareto.png'), 'metric', 'mflops_per_sample', 'realised MFLOPs per sample',
                f'{script}: calibrated on valid, tested on test', metric)
    print(f'  wrote {out / "pareto.csv"}, {out / "pareto.json"}, {out / "pareto.png"}')
    return result
