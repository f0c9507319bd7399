"""Resource loss: the expected compute of the branches a gate chose (DynMM Eq. 1)."""
import torch
from torch import Tensor

REDUCTIONS = ('sum', 'mean')


def as_cost_tensor(costs, num_branches: int = None) -> Tensor:
    """Validate per-branch costs: 1-D, finite, >= 0 and, if given, ``num_branches`` long."""
    costs = torch.as_tensor(costs, dtype=torch.float32)
    if costs.dim() != 1 or costs.numel() == 0:
        raise ValueError(f'branch costs must be a non-empty 1-D sequence, got shape {tuple(costs.shape)}')
    if num_branches is not None and costs.numel() != num_branches:
        raise ValueError(f'expected {num_branches} branch costs (one per branch), got {costs.numel()}: '
                         f'{costs.tolist()}')
    if not torch.isfinite(costs).all():
        raise ValueError(f'branch costs must be finite, got {costs.tolist()}')
    if (costs < 0).any():
        raise ValueError(f'branch costs must be >= 0, got {costs.tolist()}')
    return costs


def expected_cost_per_sample(weights: Tensor, costs) -> Tensor:
    """``sum_b w[n, b] * cost[b]`` for each sample n: shape (N,)."""
    if weights.dim() != 2:
        raise ValueError(f'gate weights must have shape (N, B), got {tuple(weights.shape)}')
    costs = as_cost_tensor(costs, weights.shape[1]).to(weights)
    if not torch.isfinite(weights).all():
        raise ValueError('gate weights contain NaN or inf')
    return weights @ costs


def resource_loss(weights: Tensor,
                  costs,
                  budget: float = None,
                  normalize: bool = False,
                  reduction: str = 'sum') -> Tensor:
    """Expected compute of the gated branches, averaged over the batch.

    ``loss = max(0, mean_n sum_b w[n, b] * cost[b] - budget)``. The loss carries
    no weight: the caller (or :class:`DynMMResourceLoss`) multiplies it by lambda.

    Args:
        weights (Tensor): Gate weights (N, B), rows summing to 1.
        costs (Sequence[float] | Tensor): Cost of each of the B branches (>= 0).
        budget (float, optional): Free compute: only the expected cost above it is
            penalised. In the units of ``costs`` (after normalisation, if any).
        normalize (bool): Divide costs by the largest one, so the loss is in [0, 1].
            Default: False.
        reduction (str): 'sum' over branches (Eq. 1 of the paper: the expected cost,
            the default) or 'mean' over branches (the reference code's
            convention, ``sum / B``; use it to reuse the reference's
            ``--loss-ratio`` and ``--flop-budget`` values unchanged).

    Returns:
        Tensor: A scalar.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    costs = as_cost_tensor(costs, weights.shape[-1] if weights.dim() == 2 else None)
    if normalize:
        top = costs.max()
        costs = costs / top if top > 0 else costs
    loss = expected_cost_per_sample(weights, costs).mean()
    if reduction == 'mean':
        loss = loss / costs.numel()
    if budget is not None:
        if not float(budget) == float(budget):
            raise ValueError(f'budget must be a number, got {budget!r}')
        loss = torch.clamp(loss - float(budget), min=0)
    return loss
