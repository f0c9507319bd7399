"""ESANet's class-weighted cross-entropy, normalised by the weighted count of valid pixels."""
import os.path as osp
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from dynmm_plugins.utils.io import read_json

HOW_TO_MAKE = ('python tools/compute_class_weights.py --data-root DATA --split train '
               '--mode median_frequency --out FILE')


def read_class_weight(path: str) -> list:
    """The ``class_weight`` list of a JSON file written by tools/compute_class_weights.py."""
    content = read_json(path, 'class weight file', f'write it with {HOW_TO_MAKE}')
    weights = content.get('class_weight') if isinstance(content, dict) else None
    if not isinstance(weights, list) or not weights or \
            not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
        raise ValueError(f"class weight file {path} needs {{\"class_weight\": [one number per class]}}")
    return weights


@MODELS.register_module()
class ESANetCrossEntropyLoss(nn.Module):
    """Class-weighted cross-entropy as ESANet trains: sum of weighted losses / sum of weights.

    For one scale (the main output, or one side output against its nearest-downsampled
    labels) the loss is ``sum_i w[y_i] * CE_i / sum_i w[y_i]`` over the valid
    (non-ignored) pixels of the whole batch: the weighted mean, as ESANet's
    ``CrossEntropyLoss2d`` computes it per scale. Without weights it is the plain
    mean over valid pixels.

    Args:
        class_weight (list[float] | str, optional): One weight per class, or the
            path of a JSON file ``{"class_weight": [...]}`` from
            ``tools/compute_class_weights.py``. A file is read when the model is
            built if it exists, else at the first loss (so configs build without
            it); a missing file is then an error saying how to make it.
            Default: None (all classes weigh 1).
        loss_weight (float): Multiplier of the loss. Default: 1.0.
        loss_name (str): Name of the loss in the log. Default: 'loss_ce'.
    """

    def __init__(self, class_weight: Optional[Union[Sequence[float], str]] = None, loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce'):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name
        self.class_weight_file = class_weight if isinstance(class_weight, str) else None
        if self.class_weight_file is not None and osp.isfile(self.class_weight_file):
            class_weight = read_class_weight(self.class_weight_file)
        weights = None if class_weight is None or isinstance(class_weight, str) else \
            torch.tensor([float(w) for w in class_weight])
        if weights is not None and (weights.dim() != 1 or not torch.all(weights >= 0)):
            raise ValueError(f'class_weight must be non-negative numbers, one per class, got {class_weight}')
        # a buffer moves with the model to its device; not persistent, so checkpoints
        # of models trained with other weights (or none) still load
        self.register_buffer('class_weight', weights, persistent=False)

    def _weights(self, num_classes: int, device: torch.device) -> Optional[torch.Tensor]:
        if self.class_weight is None and self.class_weight_file is not None:
            self.class_weight = torch.tensor([float(w) for w in read_class_weight(self.class_weight_file)])
        if self.class_weight is None:
            return None
        if self.class_weight.numel() != num_classes:
            source = self.class_weight_file or 'class_weight'
            raise ValueError(f'{source} has {self.class_weight.numel()} class weights, the model predicts '
                             f'{num_classes} classes')
        return self.class_weight.to(device)

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: Optional[torch.Tensor] = None,
                ignore_index: int = 255, **kwargs) -> torch.Tensor:
        """Weighted loss of logits (N, C, H, W) against labels (N, H, W)."""
        class_weight = self._weights(cls_score.shape[1], cls_score.device)
        per_pixel = F.cross_entropy(cls_score, label,
                                    weight=None if class_weight is None else class_weight.to(cls_score.dtype),
                                    reduction='none', ignore_index=ignore_index)  # w[y] * CE, 0 where ignored
        per_pixel = per_pixel.float()  # sums over millions of pixels: not in half precision
        valid = label != ignore_index
        if weight is not None:  # mmseg's per-pixel sampler weights
            per_pixel = per_pixel * weight
        if class_weight is None:
            divisor = valid.sum().float()
        else:
            divisor = class_weight.float()[label[valid]].sum()
        # all pixels ignored: a zero that keeps the graph, not ESANet's 0/0
        loss = per_pixel.sum() / divisor if divisor > 0 else per_pixel.sum() * 0.0
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """Name of the loss in the log (it must start with ``loss_`` to be back-propagated)."""
        return self._loss_name
