"""A compute knob at inference: a cost-proportional bias on the gate logits, calibrated to a budget.

A trained gate ranks the branches of every sample by its logits. Adding
``bias_k = -tau * cost_k`` to the logits before the arg-max moves every decision
toward cheaper branches (tau > 0) or richer ones (tau < 0) without touching the
weights. For a fixed set of samples the realised mean cost is a non-increasing
step function of tau (each sample's chosen branch can only get cheaper as tau
grows, because the costs increase with the branch index), so a bisection on tau
over cached logits finds the operating point closest to a target from below.

Pure PyTorch: shared by the MMSeg segmentor and the MultiBench mixture.
"""
import math
from typing import NamedTuple, Optional, Union

import torch
from torch import Tensor

Number = Union[int, float]


def check_gate_bias(bias, num_branches: int, name: str = 'gate_bias') -> Tensor:
    """``bias`` as a float64 tensor of length ``num_branches``; ValueError if it is not one.

    Accepts a sequence of numbers, a 1-D tensor or a numpy array. None means zeros.
    """
    if bias is None:
        return torch.zeros(num_branches, dtype=torch.float64)
    if isinstance(bias, (str, bytes)) or isinstance(bias, bool):
        raise ValueError(f'{name} must be a list of {num_branches} numbers (one per branch), got {bias!r}')
    if isinstance(bias, Tensor):
        values = bias.detach().cpu().reshape(-1).tolist() if bias.dim() <= 1 else None
    else:
        try:
            values = list(bias)
        except TypeError:
            values = None
    if values is None:
        raise ValueError(f'{name} must be a list of {num_branches} numbers (one per branch), got {bias!r}')
    if len(values) != num_branches:
        raise ValueError(f'{name} must have one value per branch ({num_branches}), got {len(values)}: {values!r}')
    out = []
    for k, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, '__float__'):
            raise ValueError(f'{name}[{k}] must be a number, got {value!r}')
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f'{name}[{k}] must be finite, got {value!r}')
        out.append(value)
    return torch.tensor(out, dtype=torch.float64)


def check_costs(costs, name: str = 'branch costs') -> Tensor:
    """Per-branch costs as float64; they must be finite and strictly increasing with the branch."""
    costs = torch.as_tensor(costs, dtype=torch.float64).reshape(-1)
    if costs.numel() < 2 or not bool(torch.isfinite(costs).all()):
        raise ValueError(f'{name} must be at least 2 finite numbers, got {costs.tolist()}')
    if not bool((costs[1:] > costs[:-1]).all()):
        raise ValueError(f'{name} must increase strictly with the branch index, got {costs.tolist()}')
    return costs


def cost_bias(tau: float, costs) -> Tensor:
    """The knob's bias ``-tau * cost_k`` (float64, one value per branch)."""
    return -float(tau) * torch.as_tensor(costs, dtype=torch.float64)


def biased_branches(logits: Tensor, bias) -> Tensor:
    """Branch of each sample, ``argmax_k(logits + bias)`` (ties: the cheaper branch)."""
    return (logits.double() + torch.as_tensor(bias, dtype=torch.float64, device=logits.device)).argmax(dim=1)


def _per_sample_costs(costs, num_samples: int) -> Tensor:
    costs = torch.as_tensor(costs, dtype=torch.float64)
    return costs.expand(num_samples, -1) if costs.dim() == 1 else costs


def realised_cost(logits: Tensor, costs, bias) -> float:
    """Mean cost per sample when each sample runs ``argmax(logits + bias)``.

    Args:
        logits (Tensor): Gate logits (N, B).
        costs: Cost of each branch (B,), or of each sample's branches (N, B).
        bias: Gate bias (B,).
    """
    branches = biased_branches(logits, bias).cpu()
    per_sample = _per_sample_costs(costs, logits.shape[0])
    return float(per_sample.gather(1, branches[:, None]).mean())


class Calibration(NamedTuple):
    """Result of :func:`calibrate_tau`."""
    tau: float
    gate_bias: list
    target: float
    realised: float
    branch_fractions: list
    reachable: tuple


def calibrate_tau(logits: Tensor, costs, target: float, sample_costs=None,
                  unit: str = 'GFLOPs', max_iters: int = 200) -> Calibration:
    """Bisection on tau: the mean realised cost closest to ``target`` without exceeding it.

    Args:
        logits (Tensor): Cached gate logits (N, B) of the calibration samples.
        costs: Cost of each branch (B,), strictly increasing; the bias is ``-tau * costs``.
        target (float): Mean cost per sample to reach.
        sample_costs (optional): Cost of each sample's branches (N, B) when it
            differs per sample (images of several sizes); default ``costs``.
        unit (str): Unit of the costs, for messages.
        max_iters (int): Most bisection steps.

    Returns:
        Calibration: tau, the bias, the realised mean cost, the branch fractions and
        the reachable range (cost of every sample on the first branch, on the last).

    Raises:
        ValueError: ``target`` outside the reachable range, or bad inputs.
    """
    costs = check_costs(costs)
    if logits.dim() != 2 or logits.shape[1] != costs.numel() or logits.shape[0] < 1:
        raise ValueError(f'logits must be (N >= 1, {costs.numel()}), got {tuple(logits.shape)}')
    logits = logits.detach().double().cpu()
    if not bool(torch.isfinite(logits).all()):
        raise ValueError('the gate produced non-finite logits; cannot calibrate')
    per_sample = _per_sample_costs(costs if sample_costs is None else sample_costs, logits.shape[0]).cpu()
    target = float(target)
    if not math.isfinite(target):
        raise ValueError(f'target must be a finite number, got {target!r}')
    low, high = float(per_sample[:, 0].mean()), float(per_sample[:, -1].mean())
    eps = 1e-9 * max(abs(high), 1.0)
    if target < low - eps or target > high + eps:
        raise ValueError(f'target {target:.6g} {unit} per sample is outside the reachable range '
                         f'[{low:.6g}, {high:.6g}] {unit} (every sample on the first branch .. every '
                         f'sample on the last; fractions of the last: [{low / high:.4f}, 1])')

    def realised(tau):
        return realised_cost(logits, per_sample, cost_bias(tau, costs))

    # Bracket: above tau_max every sample takes branch 0, below tau_min the last branch.
    gaps = costs[None, :] - costs[:, None]  # gaps[j, k] = c_k - c_j
    slopes_up = (logits[:, 1:] - logits[:, :1]) / gaps[0, 1:]
    slopes_down = (logits[:, -1:] - logits[:, :-1]) / gaps[:-1, -1]
    tau_max = float(slopes_up.max()) + 1.0
    tau_min = float(slopes_down.min()) - 1.0
    tau_max += 1e-6 * abs(tau_max)
    tau_min -= 1e-6 * abs(tau_min)
    if realised(tau_min) <= target + eps:  # target at (or above) the last branch's cost
        hi = tau_min
    else:
        lo, hi = tau_min, tau_max  # realised(lo) > target >= realised(hi)
        for _ in range(max_iters):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if realised(mid) > target + eps:
                lo = mid
            else:
                hi = mid
        # hi sits within float rounding of a decision boundary; move it to the middle of
        # the interval of tau with exactly these decisions, so that float32 logits at
        # inference (or a tiny change of the inputs) reproduce them.
        chosen = biased_branches(logits, cost_bias(hi, costs))
        a, b = hi, tau_max
        if bool((biased_branches(logits, cost_bias(b, costs)) == chosen).all()):
            a = b
        else:
            for _ in range(max_iters):
                mid = 0.5 * (a + b)
                if mid in (a, b):
                    break
                if bool((biased_branches(logits, cost_bias(mid, costs)) == chosen).all()):
                    a = mid
                else:
                    b = mid
        hi = 0.5 * (hi + a)
    branches = biased_branches(logits, cost_bias(hi, costs))
    fractions = torch.bincount(branches, minlength=costs.numel()).double() / logits.shape[0]
    return Calibration(tau=hi, gate_bias=cost_bias(hi, costs).tolist(), target=target,
                       realised=realised(hi), branch_fractions=fractions.tolist(), reachable=(low, high))


def target_from_fraction(fraction: float, costs) -> float:
    """``fraction`` of the last branch's cost; ValueError unless it is a finite number > 0."""
    fraction = float(fraction)
    if not math.isfinite(fraction) or fraction <= 0:
        raise ValueError(f'target fraction must be a finite number > 0, got {fraction!r}')
    return fraction * float(torch.as_tensor(costs, dtype=torch.float64).reshape(-1)[-1])


def check_target(target: Optional[Number], fraction: Optional[Number], unit: str = 'GFLOPs') -> None:
    """Exactly one of a target cost and a target fraction, each a finite number > 0."""
    if (target is None) == (fraction is None):
        raise ValueError(f'give exactly one of a target in {unit} and a target fraction')
    value = target if target is not None else fraction
    if isinstance(value, bool) or not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f'the target must be a finite number > 0, got {value!r}')


