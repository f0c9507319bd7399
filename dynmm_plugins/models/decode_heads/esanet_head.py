"""ESANet's decoder: pyramid pooling context, three decoder modules, learned upsampling."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS

from ..layers import LearnedUpsample, NonBottleneck1D, is_eager_inference


class ESANetPPM(nn.Module):
    """Pyramid pooling context module (PSPNet style) with nearest upsampling.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        bins (Sequence[int]): Pooled grid sizes. Default: (1, 5), ESANet's 'ppm'.
        norm_cfg (dict): Normalisation layer config.
        act_cfg (dict): Activation config.
    """

    def __init__(self, in_channels, out_channels, bins=(1, 5), norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU')):
        super().__init__()
        reduced = in_channels // len(bins)
        self.pools = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b),
                          ConvModule(in_channels, reduced, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
            for b in bins)
        self.bottleneck = ConvModule(in_channels + reduced * len(bins), out_channels, 1,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x):
        """Forward function."""
        size = x.shape[2:]
        pooled = [F.interpolate(pool(x), size, mode='nearest') for pool in self.pools]
        return self.bottleneck(torch.cat([x] + pooled, dim=1))


class ESANetDecoderModule(nn.Module):
    """3x3 conv, NonBottleneck1D blocks, x2 learned upsampling, plus a side output.

    Args:
        in_channels (int): Input channels.
        channels (int): Width of the module.
        num_blocks (int): NonBottleneck1D blocks. Default: 3.
        num_classes (int): Classes of the side output (deep supervision).
        norm_cfg (dict): Normalisation layer config.
        act_cfg (dict): Activation config.
    """

    def __init__(self, in_channels, channels, num_blocks, num_classes, norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU')):
        super().__init__()
        self.conv = ConvModule(in_channels, channels, 3, padding=1, norm_cfg=norm_cfg,
                               act_cfg=act_cfg)
        self.blocks = nn.Sequential(*[
            NonBottleneck1D(channels, channels, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in range(num_blocks)])
        self.upsample = LearnedUpsample(channels)
        self.side_output = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x, skip):
        """Returns (upsampled features + skip, side logits or None outside training)."""
        x = self.blocks(self.conv(x))
        side = self.side_output(x) if self.training else None
        return self.upsample(x) + skip, side


@MODELS.register_module()
class ESANetHead(BaseDecodeHead):
    """ESANet's decoder as an MMSeg decode head, with multi-scale deep supervision.

    Inputs are the neck's [deepest features, skip /16, skip /8, skip /4]. The
    output is at the input resolution (the /4 features go through a 3x3 class
    convolution and two learned x2 upsamplings). In training the three decoder
    modules also emit side logits at strides 32, 16 and 8; each gets the same
    ``loss_decode`` against labels downsampled by nearest neighbour, as ESANet
    trains, logged as ``loss_side_s32`` etc. next to the main ``loss_ce``.

    Args:
        in_channels (int): Channels of the deepest encoder features. Default: 512.
        channels (int): Width of the last decoder module. Default: 128.
        decoder_channels (Sequence[int]): Widths of the three decoder modules,
            deepest first. Default: (512, 256, 128).
        num_decoder_blocks (Sequence[int]): NonBottleneck1D blocks per module.
            Default: (3, 3, 3).
        ppm_bins (Sequence[int]): Context module bins. Default: (1, 5).
        side_loss_weight (float): Weight of each side loss (0 disables deep
            supervision). Default: 1.0.
        **kwargs: :class:`BaseDecodeHead` arguments (``num_classes``,
            ``loss_decode``, ``norm_cfg``, ``ignore_index``, ...).
    """

    def __init__(self, in_channels=512, channels=128, decoder_channels=(512, 256, 128),
                 num_decoder_blocks=(3, 3, 3), ppm_bins=(1, 5), side_loss_weight=1.0, **kwargs):
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('init_cfg', None)
        super().__init__(in_channels, channels, **kwargs)
        if decoder_channels[-1] != channels:
            raise ValueError(f'channels ({channels}) must equal the last decoder width '
                             f'({decoder_channels[-1]})')
        self.side_loss_weight = side_loss_weight
        cfg = dict(norm_cfg=self.norm_cfg or dict(type='BN'), act_cfg=self.act_cfg)
        self.context = ESANetPPM(in_channels, decoder_channels[0], ppm_bins, **cfg)
        widths_in = [decoder_channels[0]] + list(decoder_channels[:-1])
        self.decoder_modules = nn.ModuleList(
            ESANetDecoderModule(c_in, c, n, self.out_channels, **cfg)
            for c_in, c, n in zip(widths_in, decoder_channels, num_decoder_blocks))
        # ESANet classifies with a 3x3 conv at stride 4, then upsamples twice.
        self.conv_seg = nn.Conv2d(channels, self.out_channels, 3, padding=1)
        self.upsample1 = LearnedUpsample(self.out_channels)
        self.upsample2 = LearnedUpsample(self.out_channels)

    def forward(self, inputs):
        """Logits at input resolution; in training also the side logits (s32, s16, s8)."""
        x = self.context(inputs[0])
        sides = []
        for module, skip in zip(self.decoder_modules, inputs[1:]):
            x, side = module(x, skip)
            sides.append(side)
        logits = self.cls_seg(x)
        if self._upsample_channels_last(logits):
            logits = logits.contiguous(memory_format=torch.channels_last)
        out = self.upsample2(self.upsample1(logits))
        return (out, *sides) if self.training else out

    @staticmethod
    def _upsample_channels_last(logits):
        """Whether the two full-resolution upsamplings run in channels-last layout.

        Gradient-free CPU inference only (not during ONNX export, whose graphs
        keep NCHW): there oneDNN's depth-wise 3x3 convolution on NCHW maps
        converts the layout there and back, and the last one, on the
        C x H x W logits at input resolution, took 20 ms in NCHW against 9 ms in
        channels last (40 x 480 x 640, 2 threads), the same whatever the
        branch. The logits then come out channels-last: same shape and values
        (to float rounding), other strides; ``.contiguous()`` gives NCHW (a copy).
        """
        return logits.device.type == 'cpu' and logits.dim() == 4 and is_eager_inference(logits)

    def loss_by_feat(self, seg_logits, batch_data_samples):
        """Main loss (and accuracy) by BaseDecodeHead, plus the side losses."""
        if not isinstance(seg_logits, (tuple, list)):
            return super().loss_by_feat(seg_logits, batch_data_samples)
        main, *sides = seg_logits
        losses = super().loss_by_feat(main, batch_data_samples)
        if self.side_loss_weight <= 0:
            return losses
        labels = self._stack_batch_gt(batch_data_samples).float()
        for side in sides:
            stride = labels.shape[-1] // side.shape[-1]
            target = F.interpolate(labels, side.shape[2:], mode='nearest').squeeze(1).long()
            decode_losses = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) \
                else [self.loss_decode]
            for loss_decode in decode_losses:
                name = f'loss_side_s{stride}'
                value = self.side_loss_weight * loss_decode(side, target, ignore_index=self.ignore_index)
                losses[name] = losses.get(name, 0) + value
        return losses
