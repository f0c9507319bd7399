"""Stage-by-stage views of MMSeg backbones, for streams that exchange features between stages.

MMSeg backbones run all their stages in one ``forward``. DynMM needs to stop after
each stage (to fuse depth into RGB, and to stop running the depth stream early), so
every supported backbone family gets a small adapter that exposes the same
computation in pieces: ``stem(x)`` (everything before the first stage's main work,
at stride 4) and ``stage(i, x)``. Running the stem and then every stage in turn
gives exactly the backbone's own ``forward`` outputs. Adapters hold a reference to
the backbone, not a copy: parameters and checkpoints keep the backbone's own names.
"""
from typing import List

import torch.nn as nn
from mmseg.models.backbones import MixVisionTransformer, ResNet
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw
from mmseg.registry import MODELS


class ResNetStages:
    """Stem and residual stages of MMSeg's ``ResNet`` family (ResNet, ResNetV1c, V1d).

    The stem is the 7x7 convolution (or the deep 3x3 stem of V1c/V1d) and the
    max-pool; stage ``i`` is ``layer{i+1}``.

    Args:
        backbone (ResNet): The backbone to run.
    """

    def __init__(self, backbone: ResNet):
        self.backbone = backbone

    @property
    def num_stages(self) -> int:
        """Number of residual stages."""
        return len(self.backbone.res_layers)

    @property
    def stem_channels(self) -> int:
        """Channels of the stem output."""
        return self.backbone.stem_channels

    @property
    def stage_channels(self) -> List[int]:
        """Output channels of every stage."""
        b = self.backbone
        return [b.block.expansion * b.base_channels * 2**i for i in range(self.num_stages)]

    @property
    def stage_strides(self) -> List[int]:
        """Output stride (relative to the input) of every stage."""
        strides, total = [], 4  # stride-2 stem convolution and stride-2 max-pool
        for s in self.backbone.strides[:self.num_stages]:
            total *= s
            strides.append(total)
        return strides

    def stem(self, x):
        """Stem convolution(s) and max-pool: stride 4."""
        b = self.backbone
        if b.deep_stem:
            x = b.stem(x)
        else:
            x = b.relu(b.norm1(b.conv1(x)))
        return b.maxpool(x)

    def stage(self, index: int, x):
        """Residual stage ``index``."""
        return getattr(self.backbone, self.backbone.res_layers[index])(x)


class MixVisionTransformerStages:
    """Patch embeddings and transformer stages of MMSeg's ``MixVisionTransformer``.

    The stem is stage 0's overlapping patch embedding (stride 4); stage 0 is its
    transformer blocks and norm; stage ``i > 0`` is its patch embedding, blocks
    and norm. Features travel between stages as NCHW tensors, as the backbone
    outputs them.

    Args:
        backbone (MixVisionTransformer): The backbone to run.
    """

    def __init__(self, backbone: MixVisionTransformer):
        self.backbone = backbone

    @property
    def num_stages(self) -> int:
        """Number of transformer stages."""
        return len(self.backbone.layers)

    @property
    def stem_channels(self) -> int:
        """Channels of the stem output (stage 0's embedding width)."""
        return self.stage_channels[0]

    @property
    def stage_channels(self) -> List[int]:
        """Output channels of every stage."""
        b = self.backbone
        return [b.embed_dims * b.num_heads[i] for i in range(self.num_stages)]

    @property
    def stage_strides(self) -> List[int]:
        """Output stride (relative to the input) of every stage."""
        strides, total = [], 1
        for s in self.backbone.strides[:self.num_stages]:
            total *= s
            strides.append(total)
        return strides

    def stem(self, x):
        """Stage 0's patch embedding, as an NCHW tensor."""
        tokens, hw_shape = self.backbone.layers[0][0](x)
        return nlc_to_nchw(tokens, hw_shape)

    def stage(self, index: int, x):
        """Transformer stage ``index`` (with its patch embedding unless it is stage 0)."""
        patch_embed, blocks, norm = self.backbone.layers[index]
        if index == 0:
            hw_shape = x.shape[2:]
            tokens = nchw_to_nlc(x)
        else:
            tokens, hw_shape = patch_embed(x)
        for block in blocks:
            tokens = block(tokens, hw_shape)
        return nlc_to_nchw(norm(tokens), hw_shape)


# Checked in order with isinstance, so subclasses (ResNetV1c, ResNeXt ...) are covered.
STAGE_ADAPTERS = ((ResNet, ResNetStages), (MixVisionTransformer, MixVisionTransformerStages))


def _unsupported(name: str, role: str) -> TypeError:
    supported = ', '.join(f'{family.__name__} (and subclasses)' for family, _ in STAGE_ADAPTERS)
    return TypeError(f'{role} type {name!r} cannot be run stage by stage; '
                     f'supported backbone families: {supported}')


def check_supported(cfg: dict, role: str) -> None:
    """Refuse a backbone config of an unsupported family before it is built."""
    cls = cfg.get('type')
    if isinstance(cls, str):
        cls = MODELS.get(cls)
    if isinstance(cls, type) and not issubclass(cls, tuple(f for f, _ in STAGE_ADAPTERS)):
        raise _unsupported(cls.__name__, role)


def build_stage_adapter(backbone: nn.Module, role: str):
    """The stage adapter of ``backbone``; ``role`` names it in the error message."""
    for family, adapter in STAGE_ADAPTERS:
        if isinstance(backbone, family):
            return adapter(backbone)
    raise _unsupported(type(backbone).__name__, role)
