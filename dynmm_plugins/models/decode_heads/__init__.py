"""Decode heads of the DynMM plugin."""
from .esanet_head import ESANetHead

__all__ = ["ESANetHead"]
