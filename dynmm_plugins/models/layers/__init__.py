"""Building blocks shared by the DynMM ESANet modules."""
from .eager_inference import is_eager_inference
from .fusion import AddFusion, SEAddFusion, SqueezeExcitation, build_fusion, fuse_with_probability
from .learned_upsample import LearnedUpsample
from .resnet_blocks import BasicBlock, Bottleneck, NonBottleneck1D
from .resnet_encoder import ResNetEncoder
from .separable_max_pool import SeparableMaxPool2d

__all__ = ['AddFusion', 'SEAddFusion', 'SqueezeExcitation', 'build_fusion', 'fuse_with_probability', 'LearnedUpsample',
           'BasicBlock', 'Bottleneck', 'NonBottleneck1D', 'ResNetEncoder',
           'SeparableMaxPool2d', 'is_eager_inference']
