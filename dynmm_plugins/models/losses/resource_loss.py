"""DynMM's resource loss as an MMSeg loss module."""
import torch.nn as nn
from mmseg.registry import MODELS

from dynmm_plugins.core import as_cost_tensor, resource_loss


@MODELS.register_module()
class DynMMResourceLoss(nn.Module):
    """``loss_weight * max(0, expected cost - budget)`` of the gated branches.

    The expected cost of a batch is ``mean_n sum_b w[n, b] * cost[b]`` (Eq. 1 of
    the paper). Costs default to what the segmentor measures on its own depth
    encoder (GFLOPs per branch at ``cost_input_size``); ``costs`` overrides them.

    Args:
        loss_weight (float): lambda, DynMM's ``--loss-ratio`` (>= 0). Default: 1e-4.
        costs (Sequence[float], optional): Cost of each branch; None uses the
            costs measured by the segmentor.
        budget (float, optional): ``--flop-budget``: cost that is free of charge.
        normalize (bool): Divide costs by the largest. Default: False.
        reduction (str): 'sum' over branches (Eq. 1, the expected GFLOPs) or
            'mean' (the reference code: sum / number of branches, so its
            ``--loss-ratio`` and ``--flop-budget`` values carry over). Default: 'sum'.
        loss_name (str): Key in the loss dict. Default: 'loss_resource'.
    """

    def __init__(self, loss_weight=1e-4, costs=None, budget=None, normalize=False,
                 reduction='sum', loss_name='loss_resource'):
        super().__init__()
        if not float(loss_weight) >= 0:
            raise ValueError(f'DynMMResourceLoss: loss_weight (lambda) must be >= 0, got {loss_weight!r}')
        if not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must start with 'loss_' to be optimised, got {loss_name!r}")
        self.loss_weight = float(loss_weight)
        self.costs = None if costs is None else as_cost_tensor(costs).tolist()
        self.budget = budget
        self.normalize = normalize
        self.reduction = reduction
        self._loss_name = loss_name

    @property
    def loss_name(self):
        """Key of this loss in the loss dict."""
        return self._loss_name

    def check_num_branches(self, num_branches):
        """Raise ValueError if configured costs do not match ``num_branches``."""
        if self.costs is not None and len(self.costs) != num_branches:
            raise ValueError(f'DynMMResourceLoss: the cost table has {len(self.costs)} entries '
                             f'{self.costs} but the model has {num_branches} branches')

    def forward(self, weights, costs=None):
        """Loss for gate weights (N, B); ``costs`` is used when none are configured."""
        costs = self.costs if self.costs is not None else costs
        if costs is None:
            raise ValueError('DynMMResourceLoss: no branch costs configured or measured')
        return self.loss_weight * resource_loss(weights, costs, self.budget, self.normalize,
                                                self.reduction)
