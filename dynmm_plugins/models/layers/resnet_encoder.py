"""One ESANet encoder: a ResNet stem and four stages, callable stage by stage."""
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer

from .resnet_blocks import RESNET_BLOCKS
from .separable_max_pool import SeparableMaxPool2d

# Variants are data: blocks per stage and the block used.
RESNET_ARCH = {
    18: ((2, 2, 2, 2), 'BasicBlock'),
    34: ((3, 4, 6, 3), 'BasicBlock'),
    50: ((3, 4, 6, 3), 'Bottleneck'),
}
STAGE_WIDTHS = (64, 128, 256, 512)


class ResNetEncoder(nn.Module):
    """ResNet encoder as ESANet uses it (7x7 stem, no classifier).

    The stem (conv1-bn1-act) and the max-pool are separate because ESANet fuses
    RGB and depth between them. Attribute names follow torchvision/ESANet
    (``conv1``, ``bn1``, ``layer1``..``layer4``), so ImageNet or ESANet weights map
    one-to-one.

    Args:
        depth (int): 18, 34 or 50.
        in_channels (int): 3 for RGB, 1 for depth. Default: 3.
        block (str, optional): 'BasicBlock' or 'NonBottleneck1D' for depth 18/34;
            ResNet50 always uses 'Bottleneck'. Default: the depth's own block.
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
    """

    def __init__(self, depth, in_channels=3, block=None, norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU')):
        super().__init__()
        if depth not in RESNET_ARCH:
            raise ValueError(f'ResNet depth must be one of {sorted(RESNET_ARCH)}, got {depth!r}')
        num_blocks, default_block = RESNET_ARCH[depth]
        block = default_block if depth == 50 or block is None else block
        if block not in RESNET_BLOCKS or (depth != 50 and block == 'Bottleneck'):
            raise ValueError(f"block must be 'BasicBlock' or 'NonBottleneck1D' for ResNet{depth}, "
                             f'got {block!r}')
        block_cls = RESNET_BLOCKS[block]
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, 64)[1]
        self.act = build_activation_layer(act_cfg)
        self.maxpool = SeparableMaxPool2d(3, 2, 1)

        self.out_channels = []
        channels_in = 64
        for index, (blocks, width) in enumerate(zip(num_blocks, STAGE_WIDTHS)):
            stride = 1 if index == 0 else 2
            out = width * block_cls.expansion
            downsample = None
            if stride != 1 or channels_in != out:
                downsample = nn.Sequential(
                    nn.Conv2d(channels_in, out, 1, stride, bias=False),
                    build_norm_layer(norm_cfg, out)[1])
            layers = [block_cls(channels_in, width, stride, downsample, norm_cfg, act_cfg)]
            layers += [block_cls(out, width, 1, None, norm_cfg, act_cfg) for _ in range(blocks - 1)]
            self.add_module(f'layer{index + 1}', nn.Sequential(*layers))
            self.out_channels.append(out)
            channels_in = out
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.SyncBatchNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    @property
    def stages(self):
        """The four residual stages, in order."""
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward_stem(self, x):
        """7x7 stride-2 convolution, norm, activation (no max-pool)."""
        return self.act(self.bn1(self.conv1(x)))

    def forward_stage(self, index, x):
        """Run stage ``index`` (0..3)."""
        return self.stages[index](x)
