"""The compute knob of a trained DynMM mixture: calibrate its gate bias to an MFLOPs budget.

The gate runs once per sample of a loader (usually MultiBench's valid split) and its
logits are cached; :func:`dynmm_plugins.core.calibrate_tau` then finds
``bias_k = -tau * cost_k`` whose realised mean MFLOPs per sample is closest to the
target without exceeding it. cost_k is what a gated sample routed to expert k
costs: the expert's MACs plus the gate's (MFLOPs = MACs / 1e6, as in
:meth:`DynMMMixture.gate_summary`).
"""
from typing import Any, Dict, List, Optional

import torch
from torch.utils.data import DataLoader

from dynmm_plugins.core import calibrate_tau, check_target, target_from_fraction

from .mixture import DynMMMixture


def mixture_inputs(batch, packed: bool, device: torch.device) -> List[Any]:
    """A MultiBench batch as the mixture's input list (what MMDL's pass-through encoders hand it)."""
    if packed:
        return [[x.float().to(device), n] for x, n in zip(batch[0], batch[1])]
    return [x.float().to(device) for x in batch[:-1]]


@torch.no_grad()
def collect_logits(mixture: DynMMMixture, loader: DataLoader, packed: bool, device: torch.device) -> torch.Tensor:
    """The gate's logits (N, experts) over ``loader``: the gate alone runs, no expert."""
    was_training = mixture.training
    mixture.eval()
    try:
        logits = [mixture.gate_logits(mixture_inputs(batch, packed, device)).double().cpu() for batch in loader]
    finally:
        mixture.train(was_training)
    if not logits:
        raise ValueError('the calibration loader is empty')
    return torch.cat(logits)


def gated_mflops(mixture: DynMMMixture) -> List[float]:
    """MFLOPs per sample of a gated sample sent to each expert: expert + gate (needs ``measure_costs``)."""
    if mixture.expert_macs is None or mixture.gate_macs is None:
        raise ValueError('the mixture has no measured costs; call measure_costs(one sample) first')
    return [(m + mixture.gate_macs) / 1e6 for m in mixture.expert_macs]


def calibrate_mixture(mixture: DynMMMixture, logits: torch.Tensor, target_mflops: Optional[float] = None,
                      target_fraction: Optional[float] = None) -> Dict[str, Any]:
    """Budget for a target in MFLOPs per sample, or a fraction of the last expert's (gate included)."""
    check_target(target_mflops, target_fraction, unit='MFLOPs')
    costs = gated_mflops(mixture)
    target = float(target_mflops) if target_mflops is not None else target_from_fraction(target_fraction, costs)
    result = calibrate_tau(logits, costs, target, unit='MFLOPs per sample')
    return dict(gate_bias=result.gate_bias, tau=result.tau, target_mflops=result.target,
                target_fraction=None if target_fraction is None else float(target_fraction),
                calib_realised_mflops=result.realised, calib_branch_fractions=result.branch_fractions,
                reachable_mflops=list(result.reachable), bias_costs_mflops=costs,
                calib_num_samples=int(logits.shape[0]))
