"""Necks of the DynMM plugin."""
from .gated_fusion_neck import DynMMGatedFusionNeck

__all__ = ["DynMMGatedFusionNeck"]
