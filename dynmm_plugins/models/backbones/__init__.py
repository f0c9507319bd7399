"""Backbones of the DynMM plugin."""
from .rgbd_dynamic_resnet import DynMMRGBDResNet

__all__ = ["DynMMRGBDResNet"]
