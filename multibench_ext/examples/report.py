"""The end of a run: mean and std of each metric printed, the JSON report, the test predictions (.npz)."""
import argparse
import json
from typing import Any, Dict, List

import numpy as np

from dynmm_plugins.utils.io import atomic_write

from ..errors import SetupError


def report(args: argparse.Namespace, script: str, runs: List[Dict[str, Any]], **extra: Any) -> int:
    """Print mean and std of each metric over the runs; write them to ``--json-out``."""
    numeric = [k for k in runs[0] if any(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                         for r in runs)]
    values = {k: [r[k] for r in runs if isinstance(r.get(k), (int, float))] for k in numeric}
    mean = {k: float(np.mean(v)) for k, v in values.items()}
    std = {k: float(np.std(v)) for k, v in values.items()}
    print('-' * 60)
    print(f'{script}: {len(runs)} run(s)')
    for k in numeric:
        print(f'  {k}: {mean[k]:.4f} +- {std[k]:.4f}')
    result = {k: runs[-1].get(k) for k in runs[0]}  # non-numeric fields (None, lists) from the last run
    result.update(mean)
    result.update(script=script, data=str(args.data), n_runs=len(runs), std=std, runs=runs, **extra)
    if args.json_out:
        with atomic_write(args.json_out, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'  metrics written to {args.json_out}')
    if getattr(args, 'preds_out', None):
        save_predictions(args.preds_out, runs)
    return 0


def save_predictions(path: str, runs: List[Dict[str, Any]]) -> None:
    """Write the last run's test ``preds`` and ``truths`` (and MM-IMDB ``logits``) to ``path`` (.npz);
    with several runs also ``preds_run0``, ``preds_run1``, ..."""
    arrays = dict(getattr(runs[-1], 'arrays', {}))
    if not arrays:
        raise SetupError('--preds-out: this script recorded no test predictions')
    if len(runs) > 1:
        arrays.update({f'preds_run{i}': run.arrays['preds'] for i, run in enumerate(runs)})
    with atomic_write(path, 'wb') as f:  # a file object: np.savez would append .npz to a name
        np.savez(f, **arrays)
    print(f'  test predictions written to {path}')
