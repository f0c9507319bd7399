"""RGB-depth fusion modules of ESANet: plain add and squeeze-excite-then-add."""
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer


class SqueezeExcitation(nn.Module):
    """Channel re-weighting by a global-pool, 1x1 bottleneck, sigmoid gate.

    Args:
        channels (int): Feature channels.
        reduction (int): Bottleneck reduction ratio. Default: 16.
        act_cfg (dict): Activation inside the bottleneck. Default: dict(type='ReLU').
    """

    def __init__(self, channels, reduction=16, act_cfg=dict(type='ReLU')):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            build_activation_layer(act_cfg),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid())

    def forward(self, x):
        """Forward function."""
        return x * self.fc(F.adaptive_avg_pool2d(x, 1))


class SEAddFusion(nn.Module):
    """ESANet's 'SE-add': squeeze-excite each modality, then add.

    Args:
        channels (int): Feature channels of both modalities.
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
    """

    def __init__(self, channels, act_cfg=dict(type='ReLU')):
        super().__init__()
        self.se_rgb = SqueezeExcitation(channels, act_cfg=act_cfg)
        self.se_depth = SqueezeExcitation(channels, act_cfg=act_cfg)

    def forward(self, rgb, depth):
        """Forward function."""
        return self.se_rgb(rgb) + self.se_depth(depth)


class AddFusion(nn.Module):
    """Plain element-wise sum of RGB and depth features (no parameters).

    Args:
        channels (int): Unused; kept so every fusion takes the same arguments.
        act_cfg (dict): Unused.
    """

    def __init__(self, channels=None, act_cfg=None):
        super().__init__()

    def forward(self, rgb, depth):
        """Forward function."""
        return rgb + depth


FUSIONS = {'SE-add': SEAddFusion, 'add': AddFusion}


def build_fusion(kind, channels, act_cfg=dict(type='ReLU')):
    """Build the fusion called ``kind`` ('SE-add' or 'add') for ``channels``."""
    if kind not in FUSIONS:
        raise ValueError(f'fusion must be one of {sorted(FUSIONS)}, got {kind!r}')
    return FUSIONS[kind](channels, act_cfg=act_cfg)


def fuse_with_probability(fusion: nn.Module, rgb, depth, fuse_prob=None):
    """``fusion(rgb, depth)``; with ``fuse_prob`` (N,) each sample's mix of it with RGB alone,
    ``p * fused + (1 - p) * rgb`` (a soft gate's expected stage output)."""
    fused = fusion(rgb, depth)
    if fuse_prob is None:
        return fused
    p = fuse_prob.view(-1, 1, 1, 1).to(fused.dtype)
    return p * fused + (1 - p) * rgb
