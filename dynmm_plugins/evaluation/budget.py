"""Budget files: calibrating the gate bias of an RGB-D DynMM checkpoint and applying it in the tools.

A budget file is the JSON that ``tools/calibrate_budget.py`` writes::

    {"gate_bias": [...], "tau": ..., "target_gflops": ..., "realised_gflops": ...,
     "split": "val", "checkpoint_sha256": "...", ...}

It belongs to one checkpoint (its SHA-256): ``--budget FILE`` of the tools
refuses it for another one, since the same bias moves another gate elsewhere.
"""
import json
from typing import Dict, Optional, Tuple

import torch

from dynmm_plugins.core import calibrate_tau, check_gate_bias, target_from_fraction
from dynmm_plugins.utils.io import atomic_write, file_sha256, read_json

#: Keys every budget file has.
BUDGET_KEYS = ('gate_bias', 'tau', 'target_gflops', 'realised_gflops', 'split', 'checkpoint_sha256')
#: Splits a budget is calibrated on: the config's dataloader of that name.
SPLITS = ('val', 'test')


def read_budget(path: str, checkpoint: Optional[str] = None, num_branches: Optional[int] = None,
                checkpoint_sha256: Optional[str] = None) -> dict:
    """Read and check a budget file; ValueError (one line, naming the file) if it is unusable.

    Args:
        path (str): The budget JSON.
        checkpoint (str, optional): The checkpoint it will be applied to; its
            SHA-256 must be the file's ``checkpoint_sha256``.
        num_branches (int, optional): The model's branches; ``gate_bias`` must have
            one value per branch.
        checkpoint_sha256 (str, optional): Instead of ``checkpoint``, its SHA-256 (as an
            ONNX export's manifest records it).
    """
    budget = read_json(path, 'budget file')
    if not isinstance(budget, dict):
        raise ValueError(f'budget file {path} must hold a JSON object, got {type(budget).__name__}')
    missing = [k for k in BUDGET_KEYS if k not in budget]
    if missing:
        raise ValueError(f'budget file {path} lacks {missing}; write it with tools/calibrate_budget.py')
    bias = budget['gate_bias']
    if not isinstance(bias, list):
        raise ValueError(f'budget file {path}: gate_bias must be a list of numbers, got {bias!r}')
    try:
        check_gate_bias(bias, len(bias) if num_branches is None else num_branches)
    except ValueError as exc:
        raise ValueError(f'budget file {path}: {exc}') from None
    have = file_sha256(checkpoint) if checkpoint is not None else checkpoint_sha256
    if have is not None and budget['checkpoint_sha256'] != have:
        raise ValueError(f'budget file {path} was calibrated for another checkpoint (sha256 '
                         f'{str(budget["checkpoint_sha256"])[:12]}..., {checkpoint or "this model"} has '
                         f'{have[:12]}...); recalibrate it with tools/calibrate_budget.py')
    return budget


def apply_budget(model, path: str, checkpoint: Optional[str]) -> dict:
    """Check ``path`` against ``checkpoint`` and the model, and set the model's gate bias from it."""
    if checkpoint is None:
        raise ValueError(f'--budget {path} needs the checkpoint it was calibrated for (--checkpoint)')
    if not model.has_gate:
        raise ValueError(f'--budget {path} needs a dynamic model; this config is static ESANet (no gate)')
    budget = read_budget(path, checkpoint, model.num_branches)
    model.set_gate_bias(budget['gate_bias'])
    return budget


def write_budget(budget: dict, path: str) -> str:
    """Write a budget file atomically (a reader never sees half a file); returns the path."""
    with atomic_write(path, 'w') as f:
        json.dump(budget, f, indent=2)
        f.write('\n')
    return path


def build_split_dataloader(cfg, split: str, num_workers: Optional[int] = None):
    """The config's ``{split}_dataloader`` ('val' or 'test'), ``num_workers=0`` without persistence."""
    from mmengine.runner import Runner
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    loader_cfg = cfg.get(f'{split}_dataloader')
    if not loader_cfg:
        raise ValueError(f'the config has no {split}_dataloader')
    loader_cfg = loader_cfg.copy()
    if num_workers is not None:
        loader_cfg['num_workers'] = num_workers
    if loader_cfg.get('num_workers', 0) == 0:
        loader_cfg['persistent_workers'] = False
    return Runner.build_dataloader(loader_cfg)


@torch.no_grad()
def collect_gate_logits(model, dataloader, progress: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Run the network up to the gate once per image; returns (logits (N, B), costs (N, B)).

    ``costs[i, k]`` is branch k's measured GFLOPs at image i's (padded) input size,
    what a hard gate charges image i for taking branch k.
    """
    from dynmm_plugins.utils.progress import progress_bar
    if not model.has_gate:
        raise ValueError('calibration needs a dynamic model; this config is static ESANet (no gate)')
    model.eval()
    logits, costs = [], []
    for data in progress_bar(dataloader, progress, desc='gate logits', leave=False, unit='batch'):
        inputs = model.data_preprocessor(data, False)['inputs']
        _, _, batch_logits = model.backbone(inputs)
        logits.append(batch_logits.double().cpu())
        size_costs = torch.tensor(model.branch_costs(tuple(inputs.shape[-2:]))['total'], dtype=torch.float64)
        costs.append(size_costs.expand(inputs.shape[0], -1))
    if not logits:
        raise ValueError('the calibration split has no images')
    return torch.cat(logits), torch.cat(costs)


def calibrate(model, logits: torch.Tensor, sample_costs: torch.Tensor, target_gflops: Optional[float] = None,
              target_fraction: Optional[float] = None) -> Dict[str, object]:
    """The budget for a target (GFLOPs per image, or a fraction of the last branch's) on cached logits.

    The bias is ``-tau * cost_k`` with cost_k = ``model.branch_costs()['total'][k]``.
    Returns the budget's numbers (without split and checkpoint, which the caller adds).
    """
    from dynmm_plugins.core import check_target
    check_target(target_gflops, target_fraction)
    # the fraction is of the last branch's cost per image on this split (its images' sizes)
    last = float(sample_costs[:, -1].mean())
    target = float(target_gflops) if target_gflops is not None else target_from_fraction(target_fraction, [last])
    costs = model.branch_costs()['total']
    result = calibrate_tau(logits, costs, target, sample_costs=sample_costs, unit='GFLOPs per image')
    return dict(gate_bias=result.gate_bias, tau=result.tau, target_gflops=result.target,
                target_fraction=None if target_fraction is None else float(target_fraction),
                realised_gflops=result.realised, realised_fraction=result.realised / last,
                branch_fractions=result.branch_fractions, bias_costs_gflops=list(costs),
                reachable_gflops=list(result.reachable), num_images=int(logits.shape[0]))
