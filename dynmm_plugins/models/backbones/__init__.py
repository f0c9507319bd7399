"""Backbones of the DynMM plugin."""
from .dual_stream_backbone import DynMMDualStreamBackbone
from .rgbd_dynamic_resnet import DynMMRGBDResNet

__all__ = ["DynMMRGBDResNet", "DynMMDualStreamBackbone"]
