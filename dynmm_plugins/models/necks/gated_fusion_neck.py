"""Per-stage RGB-depth fusion, gated per sample, and the encoder-decoder skips."""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..layers import build_fusion, fuse_with_probability


@MODELS.register_module()
class DynMMGatedFusionNeck(BaseModule):
    """Fuses depth into the RGB stream after each encoder stage, per sample.

    Stage i (0-based) is fused for samples on branch k > i. With gate weights w
    (N, B) the fused feature is ``p * fuse(rgb, depth) + (1 - p) * rgb`` with
    ``p = sum(w[:, i + 1:])``, the probability that the sample's branch uses
    depth at stage i; for one-hot weights this selects one of the two exactly.
    ``forward`` turns the four fused stage outputs into the decoder inputs
    (deepest first), projecting the three skips to the decoder widths.

    Args:
        in_channels (Sequence[int]): Channels of the 4 encoder stages,
            e.g. (64, 128, 256, 512).
        skip_channels (Sequence[int]): Decoder widths that the skips at strides
            16, 8 and 4 are added to, e.g. (512, 256, 128).
        fusion (str): 'SE-add' or 'add'. Default: 'SE-add'.
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, in_channels=(64, 128, 256, 512), skip_channels=(512, 256, 128),
                 fusion='SE-add', norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 4 or len(skip_channels) != 3:
            raise ValueError(f'need 4 stage widths and 3 skip widths, got {in_channels!r} and '
                             f'{skip_channels!r}')
        self.fusions = nn.ModuleList(build_fusion(fusion, c, act_cfg) for c in in_channels)
        # skips at strides 4, 8, 16 come from stages 0, 1, 2; decoder widths are listed deepest first
        self.skip_projections = nn.ModuleList()
        for stage_channels, decoder_channels in zip(in_channels[:3], reversed(skip_channels)):
            self.skip_projections.append(
                nn.Identity() if stage_channels == decoder_channels else
                ConvModule(stage_channels, decoder_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))

    def fuse_stage(self, index, rgb, depth, fuse_prob=None):
        """Fused features of stage ``index``; ``fuse_prob`` (N,) mixes with RGB-only."""
        return fuse_with_probability(self.fusions[index], rgb, depth, fuse_prob)

    def forward(self, stage_feats):
        """Decoder inputs [stage 3, skip at /16, skip at /8, skip at /4] from 4 fused stages."""
        skips = [proj(feat) for proj, feat in zip(self.skip_projections, stage_feats[:3])]
        return [stage_feats[3]] + skips[::-1]
