"""DynMM's global gate: picks one of the fusion branches per image from the stem features."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.registry import MODELS


@MODELS.register_module()
class DynMMGlobalGate(nn.Module):
    """Gate network on concat(RGB, depth) stem features -> branch logits.

    Two 5x5 stride-2 convolutions (no padding) with BN and tanh, global average
    pooling and a bias-free 1x1 convolution to one logit per branch, as in the
    DynMM paper. Its cost is negligible next to the encoders. The softmax (with
    temperature, soft or straight-through hard) is applied by the segmentor, which
    owns the gate mode.

    Args:
        in_channels (int): Channels of RGB + depth stem features. Default: 128.
        hidden_channels (int): Width of the two convolutions. Default: 8.
        num_branches (int): Number of branches to choose from. Default: 5.
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
    """

    def __init__(self, in_channels=128, hidden_channels=8, num_branches=5,
                 norm_cfg=dict(type='BN')):
        super().__init__()
        self.num_branches = num_branches
        act_cfg = dict(type='Tanh')
        self.convs = nn.Sequential(
            ConvModule(in_channels, hidden_channels, 5, stride=2, bias=True,
                       norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(hidden_channels, hidden_channels, 5, stride=2, bias=True,
                       norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.fc = nn.Conv2d(hidden_channels, num_branches, 1, bias=False)

    def forward(self, rgb, depth):
        """Branch logits (N, num_branches)."""
        x = self.convs(torch.cat([rgb, depth], dim=1))
        return self.fc(F.adaptive_avg_pool2d(x, 1)).flatten(1)
