"""Losses of the DynMM plugin."""
from .resource_loss import DynMMResourceLoss

__all__ = ["DynMMResourceLoss"]
