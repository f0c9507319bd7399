"""ESANet's learned x2 upsampling: nearest neighbour, then a depth-wise 3x3 convolution."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class LearnedUpsample(nn.Module):
    """x2 nearest-neighbour upsampling followed by a learned depth-wise 3x3 conv.

    The convolution starts as the bilinear kernel, so at initialisation the
    module approximates bilinear upsampling ('learned-3x3-zeropad' in ESANet).

    Args:
        channels (int): Feature channels.
    """

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        bilinear = torch.tensor([[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125],
                                 [0.0625, 0.125, 0.0625]])
        with torch.no_grad():
            self.conv.weight.copy_(bilinear.expand(channels, 1, 3, 3))
            self.conv.bias.zero_()

    def forward(self, x):
        """Forward function."""
        size = (x.shape[2] * 2, x.shape[3] * 2)
        return self.conv(F.interpolate(x, size, mode='nearest'))
