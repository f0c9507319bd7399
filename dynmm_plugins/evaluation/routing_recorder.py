"""Per-image gate decisions and realised GFLOPs during a test run."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from dynmm_plugins.core import GateStatistics


# ---------------------------------------------------------------------------- routing
class RoutingRecorder:
    """Where the gate sent each image, by scene kind, and the compute that was spent.

    Args:
        num_branches (int): Number of branches B.
    """

    def __init__(self, num_branches: int):
        self.num_branches = num_branches
        self.overall = GateStatistics(num_branches)
        self.by_kind: Dict[str, GateStatistics] = {}
        self.gflops_sum = 0.0
        self.depth_gflops_sum = 0.0
        self.costs_by_size: Dict[Tuple[int, int], dict] = {}

    def update(self, weights: Tensor, costs: dict, scene_kinds: Sequence[Optional[str]] = (),
               grouped: bool = True, input_size: Optional[Tuple[int, int]] = None) -> None:
        """Record one batch.

        Args:
            weights (Tensor): Gate weights (N, B) of the batch (one-hot when hard).
            costs (dict): ``model.branch_costs(input_size)`` at the batch's size.
            scene_kinds (Sequence[str]): Kind of each image (None: unknown).
            grouped (bool): Whether each sample ran only its own branch (hard,
                fixed, baseline). Otherwise the batch computed every depth stage
                that any of its samples weights (all of them for soft gates), and
                each image is charged the cost of that deepest branch.
            input_size (tuple, optional): (H, W) the costs were measured at.
        """
        if input_size is not None:
            self.costs_by_size[tuple(int(v) for v in input_size)] = costs
        weights = weights.detach().float().cpu()
        self.overall.update(weights)
        branches = weights.argmax(dim=1)
        if not grouped:
            used = torch.nonzero(weights.amax(dim=0) > 0).flatten()
            deepest = int(used.max()) if used.numel() else self.num_branches - 1
            branches = torch.full_like(branches, deepest)
        total = torch.tensor(costs['total'], dtype=torch.float64)
        depth = torch.tensor(costs['depth_encoder'], dtype=torch.float64)
        self.gflops_sum += float(total[branches].sum())
        self.depth_gflops_sum += float(depth[branches].sum())
        for i, kind in enumerate(scene_kinds):
            if kind is None:
                continue
            if kind not in self.by_kind:
                self.by_kind[kind] = GateStatistics(self.num_branches)
            self.by_kind[kind].update(weights[i:i + 1])

    @staticmethod
    def _describe(stats: GateStatistics) -> dict:
        fractions = stats.branch_fractions
        return dict(
            num_images=stats.count,
            branch_histogram=[int(c) for c in stats.branch_counts.tolist()],
            branch_fractions=[round(f, 6) for f in fractions.tolist()],
            mean_branch=round(float(fractions @ torch.arange(stats.num_branches).double()), 6),
            # branch >= 1: depth is fused in at least one encoder stage
            depth_branch_fraction=round(float(fractions[1:].sum()), 6))

    def summary(self) -> dict:
        """Histogram, mean branch, depth-branch fraction and GFLOPs per image, overall and by kind."""
        out = self._describe(self.overall)
        count = max(self.overall.count, 1)
        out['gflops_per_image'] = round(self.gflops_sum / count, 6)
        out['depth_gflops_per_image'] = round(self.depth_gflops_sum / count, 6)
        out['by_scene_kind'] = {k: self._describe(v) for k, v in sorted(self.by_kind.items())}
        out['input_sizes'] = [list(size) for size in self.costs_by_size]
        if len(self.costs_by_size) == 1:
            out['branch_costs'] = next(iter(self.costs_by_size.values()))
        return out
