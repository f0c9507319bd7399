"""Residual blocks of ESANet's encoders: BasicBlock, NonBottleneck1D (ERFNet) and Bottleneck."""
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet18/34).

    Args:
        in_channels (int): Input channels.
        channels (int): Output channels.
        stride (int): Stride of the first convolution. Default: 1.
        downsample (nn.Module, optional): Projection of the identity path.
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
    """
    expansion = 1

    def __init__(self, in_channels, channels, stride=1, downsample=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU')):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, channels)[1]
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, channels)[1]
        self.act = build_activation_layer(act_cfg)
        self.downsample = downsample

    def forward(self, x):
        """Forward function."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + identity)


class NonBottleneck1D(nn.Module):
    """ERFNet's factorised block: (3x1, 1x3) convolutions twice, with a residual.

    ESANet's default encoder and decoder block. Its convolutions carry biases and
    its BatchNorms use eps=1e-3, as in ERFNet.

    Args:
        in_channels (int): Input channels.
        channels (int): Output channels.
        stride (int): Stride of the first (3x1, 1x3) pair. Default: 1.
        downsample (nn.Module, optional): Projection of the identity path.
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
    """
    expansion = 1

    def __init__(self, in_channels, channels, stride=1, downsample=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU')):
        super().__init__()
        norm_cfg = dict(norm_cfg, eps=1e-3)
        self.conv3x1_1 = nn.Conv2d(in_channels, channels, (3, 1), (stride, 1), (1, 0))
        self.conv1x3_1 = nn.Conv2d(channels, channels, (1, 3), (1, stride), (0, 1))
        self.bn1 = build_norm_layer(norm_cfg, channels)[1]
        self.conv3x1_2 = nn.Conv2d(channels, channels, (3, 1), 1, (1, 0))
        self.conv1x3_2 = nn.Conv2d(channels, channels, (1, 3), 1, (0, 1))
        self.bn2 = build_norm_layer(norm_cfg, channels)[1]
        self.act = build_activation_layer(act_cfg)
        self.downsample = downsample

    def forward(self, x):
        """Forward function."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.act(self.conv3x1_1(x))
        out = self.act(self.bn1(self.conv1x3_1(out)))
        out = self.act(self.conv3x1_2(out))
        out = self.bn2(self.conv1x3_2(out))
        return self.act(out + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 residual block with 4x channel expansion (ResNet50).

    Args:
        in_channels (int): Input channels.
        channels (int): Width of the block; the output has ``4 * channels``.
        stride (int): Stride of the 3x3 convolution. Default: 1.
        downsample (nn.Module, optional): Projection of the identity path.
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
    """
    expansion = 4

    def __init__(self, in_channels, channels, stride=1, downsample=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU')):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, channels)[1]
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, channels)[1]
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)
        self.downsample = downsample

    def forward(self, x):
        """Forward function."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.act(out + identity)


RESNET_BLOCKS = dict(BasicBlock=BasicBlock, NonBottleneck1D=NonBottleneck1D, Bottleneck=Bottleneck)
