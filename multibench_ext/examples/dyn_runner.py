"""Train and test a DynMM mixture with MultiBench's unmodified Supervised_Learning (imdb_dyn, affect_dyn)."""
import argparse
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..budget import calibrate_mixture, collect_logits
from ..checkpoints import load_module
from dynmm_plugins.utils.errors import error_message

from ..errors import DataFormatError, SetupError
from ..mixture import DynMMMixture
from ..objective import DynMMObjective
from ..passthrough import PackedPassThrough, PassThroughHead
from .common import (INFER_MODES, evaluate, first_sample, fresh_checkpoint, known_split_report, report,
                     require_saved, seed_everything)


def dyn_checkpoint_name(args: argparse.Namespace, packed: bool = False) -> str:
    """File name of the trained mixture; it encodes the flags that change training."""
    scale = getattr(args, 'cost_scale', 'range')
    return (f'dynmm_freeze{int(args.freeze)}_hard{int(args.hard_gate)}_reg{args.reg:g}'
            f'{"" if scale == "range" else f"_scale{scale}"}{"_packed" if packed else ""}.pt')


def calibrate_budget(args: argparse.Namespace, mixture: DynMMMixture, valid_dl: DataLoader, packed: bool,
                     device: torch.device) -> Optional[Dict[str, Any]]:
    """Set the gate bias for ``--target-mflops`` / ``--target-fraction``, calibrated on the valid split."""
    target, fraction = getattr(args, 'target_mflops', None), getattr(args, 'target_fraction', None)
    if target is None and fraction is None:
        return None
    try:
        budget = calibrate_mixture(mixture, collect_logits(mixture, valid_dl, packed, device), target, fraction)
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    mixture.set_gate_bias(budget['gate_bias'])
    print(f'Gate bias {[round(b, 5) for b in budget["gate_bias"]]} (tau {budget["tau"]:.5g}): valid split '
          f'{budget["calib_realised_mflops"]:.3f} MFLOPs/sample for a target of {budget["target_mflops"]:.3f}')
    return budget


def run_dyn(args: argparse.Namespace, env: SimpleNamespace, *, script: str, dataset: str,
            loaders: Tuple[DataLoader, DataLoader, DataLoader], source: str, packed: bool,
            build_experts: Callable[[], List[nn.Module]], build_gate: Callable[[], nn.Module],
            task_loss: Callable[[], nn.Module], task: str, test_task: str) -> int:
    """Train the gate (unless --eval-only), test with hard routed gates, report metrics and compute.

    Args:
        args: Parsed flags (see ``build_parser(..., dyn=True)``).
        env: From ``setup``: ``mb`` (MultiBench), ``device``, ``log_dir``.
        script (str): Script name, for messages and the report.
        dataset (str): 'imdb' or 'mosei'.
        loaders: Train, valid and test loaders.
        source (str): Which loader produced them, for the report.
        packed (bool): Packed sequence batches (MultiBench's ``is_packed``).
        build_experts: Loads the trained experts, cheapest first.
        build_gate: Builds a fresh gate.
        task_loss: Builds the task loss (also MultiBench's test criterion).
        task (str): MultiBench's training task ('multilabel', 'regression').
        test_task (str): MultiBench's test task ('multilabel', 'posneg-classification').
    """
    train_dl, valid_dl, test_dl = loaders
    checkpoint = env.log_dir / dyn_checkpoint_name(args, packed)
    flags = ' '.join(f for f, on in (('--freeze', args.freeze), ('--hard-gate', args.hard_gate),
                                     ('--packed', packed)) if on)
    scale = '' if args.cost_scale == 'range' else f' --cost-scale {args.cost_scale}'
    how = (f'python -m multibench_ext.examples.{script} {flags} --reg {args.reg:g}{scale} --data {args.data} '
           f'--log-dir {args.log_dir} (without --eval-only)').replace('  ', ' ')
    runs = []
    for run in range(args.n_runs):
        seed_everything(args.seed + run)
        if not args.eval_only:
            mixture = DynMMMixture(build_experts(), build_gate(), gate_mode='hard' if args.hard_gate else 'soft',
                                   temperature=args.temp, freeze_experts=args.freeze).to(env.device)
            # Costs are measured on one real sample, not typed in; this is also the experts'
            # first run on the data, where an expert of another kind fails
            try:
                mixture.measure_costs(first_sample(test_dl, packed, env.device))
            except (RuntimeError, ValueError, IndexError, TypeError) as exc:
                raise DataFormatError(
                    f'the experts in {args.log_dir} do not run on a sample of {args.data} '
                    f'({error_message(exc)}): one of them was trained for another data set, --fuse '
                    f'or --packed setting; retrain it for this run') from exc
            objective = DynMMObjective(task_loss(), mixture.expert_macs, reg=args.reg, cost_scale=args.cost_scale)
            num_modalities = len(first_sample(test_dl, packed, env.device))
            encoders = [PackedPassThrough() if packed else nn.Identity() for _ in range(num_modalities)]
            env.mb.supervised.train(encoders, mixture, PassThroughHead(), train_dl, valid_dl, args.n_epochs,
                                    early_stop=True, task=task, optimtype=torch.optim.AdamW, lr=args.lr,
                                    weight_decay=args.wd, objective=objective, objective_args_dict={},
                                    is_packed=packed, save=str(fresh_checkpoint(checkpoint)))
            require_saved(checkpoint)
        model = load_module(checkpoint, 'DynMM', how).to(env.device).eval()
        mixture = getattr(model, 'fuse', None)
        if not isinstance(mixture, DynMMMixture):
            raise DataFormatError(f'{checkpoint} is not a MultiBench MMDL with a DynMMMixture fusion; rewrite it '
                                  f'with {how}')
        if mixture.expert_macs is None:  # a mixture saved before its costs were measured
            mixture.measure_costs(first_sample(test_dl, packed, env.device))
        if getattr(args, 'pareto', None):
            from .dyn_pareto import run_pareto
            result = run_pareto(args, env, model, mixture, valid_dl, test_dl, dataset, packed, script)
            return report(args, script, [{'max_abs_target_error_pct': result['summary']['max_abs_target_error_pct']}],
                          checkpoint=str(checkpoint), pareto=result)
        budget = calibrate_budget(args, mixture, valid_dl, packed, env.device)
        if INFER_MODES[args.infer_mode] is not None:
            mixture.set_gate('fixed', branch=INFER_MODES[args.infer_mode])
        print(f'Testing {checkpoint} (infer mode {args.infer_mode}):')
        env.mb.supervised.test(model, test_dl, dataset=dataset, method_name='dynmm', is_packed=packed,
                               criterion=task_loss(), task=test_task, no_robust=True)
        mixture.reset_stats()
        branches = []
        metrics = evaluate(dataset, model, test_dl, packed, env.device,
                           on_batch=lambda: branches.extend(mixture.last_branches.tolist()))
        gate = mixture.gate_summary()
        metrics.update(mflops_per_sample=gate['mflops_per_sample'], branch_ratio=gate['branch_ratio'],
                       late_fusion_mflops=gate['expert_mflops'][-1], text_mflops=gate['expert_mflops'][0],
                       gate_mflops=gate['gate_mflops'])
        if budget is not None:
            metrics.update(budget, target_error_pct=100 * (gate['mflops_per_sample'] / budget['target_mflops'] - 1))
        known = known_split_report(args.data, branches, args.limit)
        for key, value in (known or {}).items():
            metrics[f'known_{key}'] = value
        runs.append(metrics)
        print(f'  routed {gate["branch_fractions"]} of {gate["num_samples"]} test samples to the experts '
              f'(text, late fusion); {gate["mflops_per_sample"]:.3f} MFLOPs/sample vs '
              f'{gate["expert_mflops"][-1]:.3f} for late fusion alone')
    return report(args, script, runs, data_loader=source, checkpoint=str(checkpoint), infer_mode=args.infer_mode)
