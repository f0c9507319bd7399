"""Gate statistics over an evaluation run: branch histogram, mean weights, costs per sample."""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

from .resource import as_cost_tensor


class GateStatistics:
    """Accumulates gate weights batch by batch and summarises them.

    Args:
        num_branches (int): Number of gate branches B.
        costs (Sequence[float], optional): Cost of each branch. Needed for the
            expected and realised cost per sample.
    """

    def __init__(self, num_branches: int, costs: Optional[Sequence[float]] = None):
        if num_branches < 1:
            raise ValueError(f'num_branches must be >= 1, got {num_branches}')
        self.num_branches = num_branches
        self.costs = None if costs is None else as_cost_tensor(costs, num_branches).double()
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.count = 0
        self.branch_counts = torch.zeros(self.num_branches, dtype=torch.float64)
        self.weight_sum = torch.zeros(self.num_branches, dtype=torch.float64)

    def update(self, weights: Tensor) -> None:
        """Add a batch of gate weights (N, B); the chosen branch is each row's arg-max."""
        if weights.dim() != 2 or weights.shape[1] != self.num_branches:
            raise ValueError(f'gate weights must have shape (N, {self.num_branches}), '
                             f'got {tuple(weights.shape)}')
        weights = weights.detach().to('cpu', torch.float64)
        self.count += weights.shape[0]
        self.branch_counts += torch.bincount(weights.argmax(dim=1), minlength=self.num_branches).double()
        self.weight_sum += weights.sum(dim=0)

    @property
    def branch_fractions(self) -> Tensor:
        """Fraction of samples routed to each branch (B,)."""
        return self.branch_counts / max(self.count, 1)

    @property
    def mean_weights(self) -> Tensor:
        """Mean gate weight of each branch (B,)."""
        return self.weight_sum / max(self.count, 1)

    def expected_cost(self) -> float:
        """Mean over samples of ``sum_b w[b] * cost[b]`` (soft weights)."""
        return float(self.mean_weights @ self._costs())

    def realised_cost(self) -> float:
        """Mean over samples of the cost of the branch actually taken (arg-max)."""
        return float(self.branch_fractions @ self._costs())

    def summary(self) -> Dict[str, object]:
        """Plain-python summary: sample count, histogram, fractions, mean weights, costs."""
        out = dict(num_samples=self.count,
                   branch_histogram=[int(c) for c in self.branch_counts.tolist()],
                   branch_fractions=self.branch_fractions.tolist(),
                   mean_weights=self.mean_weights.tolist())
        if self.costs is not None:
            out.update(expected_cost=self.expected_cost(), realised_cost=self.realised_cost())
        return out

    def _costs(self) -> Tensor:
        if self.costs is None:
            raise ValueError('GateStatistics was built without branch costs')
        return self.costs
