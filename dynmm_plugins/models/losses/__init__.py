"""Losses of the DynMM plugin."""
from .esanet_cross_entropy_loss import ESANetCrossEntropyLoss
from .resource_loss import DynMMResourceLoss

__all__ = ["DynMMResourceLoss", "ESANetCrossEntropyLoss"]
