"""Train and test a DynMM mixture with MultiBench's unmodified Supervised_Learning (the ``*_dyn`` scripts)."""
import argparse
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from dynmm_plugins.utils.errors import error_message

from ..budget import calibrate_mixture, collect_logits
from ..checkpoints import load_module
from ..errors import DataFormatError, SetupError
from ..fusion_expert import FusionExpert
from ..mixture import DynMMMixture
from ..modality_expert import ModalityExpert
from ..objective import DynMMObjective
from ..passthrough import PackedPassThrough, PassThroughHead
from .checkpoint_files import dyn_checkpoint_name, fresh_checkpoint, mm_checkpoint_name, require_saved
from .environment import seed_everything
from .evaluation import evaluate, known_split_report
from .flags import INFER_MODES
from .loaders import first_sample
from .report import report
from .tasks import Task


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


def load_experts(args: argparse.Namespace, env: SimpleNamespace, task: Task, script: str,
                 packed: bool) -> List[nn.Module]:
    """The trained experts, cheapest first: the ``*_uni`` text expert, the ``*_mm`` late-fusion network."""
    prefix = script.split('_')[0]
    where = f'--data {args.data} --log-dir {args.log_dir}'
    uni = f'python -m multibench_ext.examples.{prefix}_uni {where}'
    text = ModalityExpert(load_module(env.log_dir / 'encoder_text.pt', 'text expert encoder', uni, whole_model=False),
                          load_module(env.log_dir / 'head_text.pt', 'text expert head', uni, whole_model=False),
                          modality=task.text)
    packed_flag = ' --packed' if packed else ''
    late_fusion = load_module(env.log_dir / mm_checkpoint_name(task, task.late_fusion, packed), 'late-fusion expert',
                              f'python -m multibench_ext.examples.{prefix}_mm --fuse {task.late_fusion}{packed_flag} '
                              f'{where}', whole_model=True)
    if bool(getattr(late_fusion, 'has_padding', False)) != packed:
        raise SetupError(f'the late-fusion expert in {args.log_dir} was trained '
                         f'{"with" if late_fusion.has_padding else "without"} --packed; '
                         f'run {script} the same way')
    return [text, FusionExpert(late_fusion)]


def run_dyn(args: argparse.Namespace, env: SimpleNamespace, *, script: str, task: Task,
            loaders: Tuple[DataLoader, DataLoader, DataLoader], source: str, packed: bool) -> int:
    """Train the gate (unless --eval-only), test with hard routed gates, report metrics and compute.

    Args:
        args: Parsed flags (see ``build_parser(..., dyn=True)``).
        env: From ``setup``: ``mb`` (MultiBench), ``device``, ``log_dir``.
        script (str): Script name, for messages and the report.
        task (Task): The data set's table (experts, gate, loss, MultiBench task names).
        loaders: Train, valid and test loaders.
        source (str): Which loader produced them, for the report.
        packed (bool): Packed sequence batches (MultiBench's ``is_packed``).
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
            mixture = DynMMMixture(load_experts(args, env, task, script, packed), task.gate(), gate_mode='hard' if args.hard_gate else 'soft',
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
            objective = DynMMObjective(task.loss(), mixture.expert_macs, reg=args.reg, cost_scale=args.cost_scale)
            num_modalities = len(first_sample(test_dl, packed, env.device))
            encoders = [PackedPassThrough() if packed else nn.Identity() for _ in range(num_modalities)]
            env.mb.supervised.train(encoders, mixture, PassThroughHead(), train_dl, valid_dl, args.n_epochs,
                                    early_stop=True, task=task.train_task, optimtype=torch.optim.AdamW, lr=args.lr,
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
            result = run_pareto(args, env, model, mixture, valid_dl, test_dl, task.name, packed, script)
            return report(args, script, [{'max_abs_target_error_pct': result['summary']['max_abs_target_error_pct']}],
                          checkpoint=str(checkpoint), pareto=result)
        budget = calibrate_budget(args, mixture, valid_dl, packed, env.device)
        if INFER_MODES[args.infer_mode] is not None:
            mixture.set_gate('fixed', branch=INFER_MODES[args.infer_mode])
        print(f'Testing {checkpoint} (infer mode {args.infer_mode}):')
        env.mb.supervised.test(model, test_dl, dataset=task.name, method_name='dynmm', is_packed=packed,
                               criterion=task.loss(), task=task.test_task, no_robust=True)
        mixture.reset_stats()
        branches = []
        metrics = evaluate(task.name, model, test_dl, packed, env.device,
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
