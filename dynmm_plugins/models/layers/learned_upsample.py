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
        # A constant scale (not a size computed from x.shape) keeps the ONNX Resize's
        # scales a constant under a dynamic batch axis, which lets onnxruntime run it in
        # its blocked NCHWc layout instead of converting the layout there and back
        # (about 6% of a branch's time at 480x640). Same values as size=(2H, 2W).
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))
