"""Resource-aware DynMM objective for MultiBench's ``train``: task loss + reg * expected cost."""
from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from dynmm_plugins.core import as_cost_tensor, resource_loss

COST_SCALES = ('max', 'range', 'none')


def scale_costs(costs: Tensor, cost_scale: str = 'range') -> Tensor:
    """Scale expert costs: 'max' by ``c / max``, 'range' by ``(c - min) / (max - min)``, 'none' not at all."""
    if cost_scale == 'range':
        spread = costs.max() - costs.min()
        return (costs - costs.min()) / spread if spread > 0 else torch.zeros_like(costs)
    if cost_scale == 'max':
        return costs / costs.max() if costs.max() > 0 else costs
    return costs


class DynMMObjective(nn.Module):
    """``task_loss(pred, truth) + reg * sum_k w_k * cost_k`` averaged over the batch (DynMM Eq. 1).

    Pass it as ``objective=`` to MultiBench's ``Supervised_Learning.train`` together with
    ``objective_args_dict={}``; MultiBench then calls it as ``objective(pred, truth, args)``
    with ``args['fused']`` set to the fusion's raw output, which for a
    :class:`DynMMMixture` is ``(prediction, gate_weights)``. The cost of each expert
    is weighted by its gate weight, so sending a sample to the late-fusion expert costs
    more than sending it to the text expert in proportion to their measured compute
    (the reference code penalised only the weight of the expensive expert).

    Args:
        task_loss (nn.Module): Task loss, e.g. ``nn.BCEWithLogitsLoss()`` (MM-IMDB) or
            ``nn.L1Loss()`` (MOSEI). The target is cast to float, as MultiBench does for
            these losses.
        costs (Sequence[float]): Cost of each expert, e.g. ``DynMMMixture.expert_macs``.
        reg (float): Weight lambda of the resource loss. Default: 0.0.
        cost_scale (str): How the costs are scaled before weighting. 'range' (default):
            ``(cost - min) / (max - min)``, the expected extra compute over the cheapest
            expert as a fraction of the largest extra. With two experts this is the
            expensive expert's mean gate weight, exactly the reference code's resource
            loss, so the published ``--reg`` values mean what they meant there.
            'max': ``cost / max``, the expected compute as a fraction of the most
            expensive expert's (the cheap expert is penalised too, so the same ``reg``
            pulls less: 0.93x on MM-IMDB, 0.59x on MOSEI). 'none': raw costs.
    """

    def __init__(self, task_loss: nn.Module, costs: Sequence[float], reg: float = 0.0, cost_scale: str = 'range'):
        super().__init__()
        self.task_loss = task_loss
        if cost_scale not in COST_SCALES:
            raise ValueError(f'cost_scale must be one of {COST_SCALES}, got {cost_scale!r}')
        raw = as_cost_tensor(costs)
        self.register_buffer('raw_costs', raw)
        self.register_buffer('costs', scale_costs(raw, cost_scale))
        reg = float(reg)
        if not reg >= 0:
            raise ValueError(f'reg must be a number >= 0, got {reg!r}')
        self.reg = reg
        self.cost_scale = cost_scale
        self.last_task_loss: Optional[float] = None
        self.last_resource_loss: Optional[float] = None

    def forward(self, pred: Tensor, truth: Tensor, args: Optional[Dict[str, Any]] = None) -> Tensor:
        """Loss of one batch; ``args`` is MultiBench's objective argument dict."""
        weights = self.gate_weights(args)
        task = self.task_loss(pred, truth.float().to(pred.device))
        resource = resource_loss(weights, self.costs.to(weights.device))
        self.last_task_loss, self.last_resource_loss = float(task.detach()), float(resource.detach())
        return task + self.reg * resource

    def gate_weights(self, args: Optional[Dict[str, Any]]) -> Tensor:
        """The gate weights (N, K) from MultiBench's ``args['fused']``."""
        fused = None if args is None else args.get('fused')
        if not isinstance(fused, tuple) or len(fused) < 2 or not torch.is_tensor(fused[1]):
            raise ValueError("DynMMObjective needs the gate weights in args['fused'][1]: call MultiBench's "
                             'train(..., objective_args_dict={}) with a DynMMMixture as the fusion')
        weights = fused[1]
        if weights.dim() != 2 or weights.shape[1] != self.costs.numel():
            raise ValueError(f'gate weights of shape {tuple(weights.shape)} do not match '
                             f'{self.costs.numel()} expert costs')
        return weights
