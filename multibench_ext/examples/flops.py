"""Compute cost of a network, measured on one sample."""
from typing import Any, List

from torch import nn

from dynmm_plugins.core import count_macs


def mflops(module: nn.Module, inputs: List[Any]) -> float:
    """MFLOPs (MACs / 1e6, thop's unit) of one eval-mode call ``module(inputs)``."""
    was_training = module.training
    module.eval()
    try:
        return count_macs(module, inputs) / 1e6
    finally:
        module.train(was_training)
