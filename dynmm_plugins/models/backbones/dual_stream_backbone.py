"""Two MMSeg backbones (RGB and depth) fused stage by stage, with DynMM's global gate."""
import copy
import re
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
from mmseg.registry import MODELS

from ..layers import build_fusion, fuse_with_probability
from .stage_adapters import build_stage_adapter, check_supported


def adapt_input_channels(state_dict: dict, module: nn.Module) -> dict:
    """Fit 3-channel (RGB) input convolutions of a checkpoint to ``module``'s input width.

    A weight that differs from the module's only in its input channels (dim 1, 3 in
    the checkpoint) is summed over them for 1-channel input, as ESANet initialises
    its depth encoder: a depth image then produces what a grey RGB image of the
    same values produced. For other widths the RGB mean is repeated, keeping the
    response to equal inputs on every channel.
    """
    own = module.state_dict()
    adapted = dict(state_dict)
    for key, value in state_dict.items():
        target = own.get(key)
        if (target is None or not torch.is_tensor(value) or value.dim() != 4
                or value.shape[1] != 3 or target.shape[1] == 3
                or value.shape[:1] + value.shape[2:] != target.shape[:1] + target.shape[2:]):
            continue
        channels = target.shape[1]
        if channels == 1:
            adapted[key] = value.sum(dim=1, keepdim=True)
        else:
            adapted[key] = value.mean(dim=1, keepdim=True).repeat(1, channels, 1, 1) * 3 / channels
    return adapted


@MODELS.register_module()
class DynMMDualStreamBackbone(BaseModule):
    """An RGB and a depth MMSeg backbone, depth fused into RGB after every stage, gated.

    Both backbones are built from ordinary MMSeg backbone configs and run stage by
    stage through a stage adapter (supported: the ``ResNet`` family, e.g.
    ``ResNetV1c``, and ``MixVisionTransformer``). The input is the RGB-D tensor of
    the data pipeline: RGB in channels 0-2, depth after them. ``forward`` runs
    both stems and the gate and returns ``(rgb, depth, gate_logits or None)``;
    the segmentor (:class:`DynMMEncoderDecoder`) then runs :meth:`rgb_stage`,
    :meth:`depth_stage` and :meth:`fuse_stage` per stage, so that branch ``k``
    fuses depth after the first ``k`` stages and never runs the depth stages
    after them. The fused RGB stage outputs (shallowest first) are the
    multi-scale features any MMSeg decode head takes (``UPerHead``,
    ``SegformerHead``, ``FCNHead`` ...).

    Fusion adds depth features to RGB features of the same shape, so both streams
    need the same number of stages, the same widths and the same strides; a
    mismatch is reported when the model is built. All stages are used whatever
    the backbones' ``out_indices`` say.

    Pretrained weights come through each backbone's own ``init_cfg`` (or
    ``pretrained``), as in MMSeg's configs. For the depth backbone a
    ``Pretrained`` init is loaded by this module instead, with the RGB input
    convolution fitted to the depth channels (:func:`adapt_input_channels`).

    Args:
        rgb_backbone (dict): Config of the RGB backbone (``in_channels=3``).
        depth_backbone (dict): Config of the depth backbone; ``in_channels`` 1
            (depth) or 3 (HHA-like encodings, or depth repeated). Default: the
            RGB config with ``in_channels=1``.
        gate (dict, optional): Gate config, e.g. ``dict(type='DynMMGlobalGate')``;
            its ``in_channels`` and ``num_branches`` default to the two stems'
            widths and ``num_stages + 1``. None builds the static model (every
            sample fuses depth in every stage).
        fusion (str): Per-stage fusion, 'SE-add' or 'add'. Default: 'SE-add'.
        stem_fusion (str, optional): Also fuse depth into RGB after the stems (as
            ESANet does), for every branch: 'SE-add', 'add' or None. Default: None.
        act_cfg (dict): Activation inside the SE fusions. Default: dict(type='ReLU').
        norm_cfg (dict): Normalisation layer config of the gate. Default:
            dict(type='BN').
        init_cfg (dict, optional): mmengine initialisation config of this module.
    """

    def __init__(self, rgb_backbone: dict, depth_backbone: Optional[dict] = None,
                 gate: Optional[dict] = None, fusion: str = 'SE-add',
                 stem_fusion: Optional[str] = None, act_cfg=dict(type='ReLU'),
                 norm_cfg=dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        rgb_cfg = copy.deepcopy(rgb_backbone)
        if depth_backbone is None:
            depth_cfg = copy.deepcopy(rgb_backbone)
            depth_cfg['in_channels'] = 1
        else:
            depth_cfg = copy.deepcopy(depth_backbone)
        check_supported(rgb_cfg, 'rgb_backbone')
        check_supported(depth_cfg, 'depth_backbone')
        self.rgb_in_channels = rgb_cfg.get('in_channels', 3)
        self.depth_in_channels = depth_cfg.get('in_channels', 3)
        if self.rgb_in_channels != 3:
            raise ValueError(f'rgb_backbone.in_channels must be 3, got {self.rgb_in_channels}')
        self.depth_pretrained = self._take_pretrained(depth_cfg)

        self.rgb_backbone = MODELS.build(rgb_cfg)
        self.depth_backbone = MODELS.build(depth_cfg)
        self.rgb_stages = build_stage_adapter(self.rgb_backbone, 'rgb_backbone')
        self.depth_stages = build_stage_adapter(self.depth_backbone, 'depth_backbone')
        self._check_streams_match(stem_fusion is not None)

        self.num_stages = self.rgb_stages.num_stages
        self.out_channels = list(self.rgb_stages.stage_channels)
        self.fusions = nn.ModuleList(build_fusion(fusion, c, act_cfg) for c in self.out_channels)
        self.stem_fusion = None if stem_fusion is None else build_fusion(
            stem_fusion, self.rgb_stages.stem_channels, act_cfg)
        self.gate = None
        if gate is not None:
            gate = dict(gate)
            gate.setdefault('in_channels',
                            self.rgb_stages.stem_channels + self.depth_stages.stem_channels)
            gate.setdefault('num_branches', self.num_branches)
            gate.setdefault('norm_cfg', norm_cfg)
            if gate['num_branches'] != self.num_branches:
                raise ValueError(f"gate.num_branches={gate['num_branches']} but the backbones "
                                 f'have {self.num_stages} stages, i.e. {self.num_branches} '
                                 'branches (depth fused in the first 0..num_stages stages)')
            self.gate = MODELS.build(gate)

    @staticmethod
    def _take_pretrained(cfg: dict) -> Optional[dict]:
        """Remove a ``Pretrained`` init from ``cfg``; this module loads it, adapted."""
        pretrained = cfg.pop('pretrained', None)
        init_cfg = cfg.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            return dict(cfg.pop('init_cfg'))
        if pretrained is not None:
            return dict(type='Pretrained', checkpoint=pretrained)
        return None

    def _check_streams_match(self, check_stems: bool) -> None:
        """One clear error when the depth stream cannot be fused into the RGB stream."""
        rgb, depth = self.rgb_stages, self.depth_stages
        names = f'{type(self.rgb_backbone).__name__} (rgb_backbone) and ' \
                f'{type(self.depth_backbone).__name__} (depth_backbone)'
        for what in ('num_stages', 'stage_channels', 'stage_strides'):
            a, b = getattr(rgb, what), getattr(depth, what)
            if a != b:
                raise ValueError(f'{names} differ in {what}: {a} vs {b}; depth is fused into '
                                 'RGB after every stage, so both streams need the same number '
                                 'of stages, widths and strides')
        if check_stems and rgb.stem_channels != depth.stem_channels:
            raise ValueError(f'{names} differ in stem_channels: {rgb.stem_channels} vs '
                             f'{depth.stem_channels}; stem_fusion needs equal widths')

    @property
    def num_branches(self) -> int:
        """Number of gate branches: depth used in the first k stages, k = 0..num_stages."""
        return self.num_stages + 1

    def init_weights(self):
        """Initialise both streams; load the depth stream's ImageNet weights, adapted."""
        was_initialised = self.is_init
        super().init_weights()
        if self.depth_pretrained is None or was_initialised:
            return
        checkpoint = _load_checkpoint(self.depth_pretrained['checkpoint'], map_location='cpu')
        state_dict = checkpoint.get('state_dict', checkpoint)
        prefix = self.depth_pretrained.get('prefix')
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        state_dict = {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}
        load_state_dict(self.depth_backbone, adapt_input_channels(state_dict, self.depth_backbone),
                        strict=False, logger='current')

    def _split_inputs(self, inputs):
        """RGB and depth parts of the input; 1-channel depth is repeated for a 3-channel stream."""
        channels = inputs.shape[1] - 3
        if channels not in (1, self.depth_in_channels):
            raise ValueError(
                f'{type(self).__name__} expects RGB-D input with 3 + {self.depth_in_channels} '
                f'(or 3 + 1) channels, got shape {tuple(inputs.shape)}')
        depth = inputs[:, 3:]
        if channels != self.depth_in_channels:
            depth = depth.expand(-1, self.depth_in_channels, -1, -1)
        return inputs[:, :3], depth

    def forward(self, inputs):
        """Stems (and stem fusion) and the gate: returns (rgb, depth, gate_logits or None)."""
        rgb, depth = self._split_inputs(inputs)
        rgb = self.rgb_stages.stem(rgb)
        depth = self.depth_stages.stem(depth)
        if self.stem_fusion is not None:
            rgb = self.stem_fusion(rgb, depth)
        logits = None if self.gate is None else self.gate(rgb, depth)
        return rgb, depth, logits

    def depth_stem(self, inputs):
        """Depth stem alone on RGB-D ``inputs`` (what :meth:`depth_stage` 0 takes)."""
        return self.depth_stages.stem(self._split_inputs(inputs)[1])

    def rgb_stage(self, index, x):
        """RGB backbone stage ``index``."""
        return self.rgb_stages.stage(index, x)

    def depth_stage(self, index, x):
        """Depth backbone stage ``index``."""
        return self.depth_stages.stage(index, x)

    def fuse_stage(self, index, rgb, depth, fuse_prob=None):
        """Depth fused into RGB after stage ``index``; ``fuse_prob`` (N,) mixes with RGB-only."""
        return fuse_with_probability(self.fusions[index], rgb, depth, fuse_prob)
