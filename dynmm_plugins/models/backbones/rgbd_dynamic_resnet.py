"""ESANet's two-stream RGB-D encoder with DynMM's global gate."""
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..layers import ResNetEncoder, build_fusion


@MODELS.register_module()
class DynMMRGBDResNet(BaseModule):
    """Two ResNet encoders (RGB and 1-channel depth), stem fusion and the gate.

    The input is the 4-channel RGB-D tensor of the data pipeline: normalised RGB
    in channels 0-2, normalised depth in channel 3. ``forward`` runs the stems,
    fuses depth into RGB after the stem (as ESANet does), max-pools both streams
    and evaluates the gate. The four residual stages are run one at a time by the
    segmentor (:meth:`rgb_stage`, :meth:`depth_stage`), interleaved with the
    fusion neck, so that a sample can stop using depth after any stage.

    Args:
        depth (int): ResNet depth of both encoders: 18, 34 or 50. Default: 34.
        block (str): 'NonBottleneck1D' or 'BasicBlock' (ignored for ResNet50,
            which uses Bottleneck). Default: 'NonBottleneck1D'.
        stem_fusion (str): Fusion after the stem: 'SE-add' or 'add'. Default: 'SE-add'.
        gate (dict, optional): Gate config, e.g. ``dict(type='DynMMGlobalGate')``.
            None builds static ESANet (every sample on the full branch).
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, depth=34, block='NonBottleneck1D', stem_fusion='SE-add', gate=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.rgb_encoder = ResNetEncoder(depth, 3, block, norm_cfg, act_cfg)
        self.depth_encoder = ResNetEncoder(depth, 1, block, norm_cfg, act_cfg)
        self.stem_fusion = build_fusion(stem_fusion, 64, act_cfg)
        self.gate = None
        if gate is not None:
            gate = dict(gate)
            gate.setdefault('in_channels', 128)
            gate.setdefault('norm_cfg', norm_cfg)
            self.gate = MODELS.build(gate)
        self.out_channels = self.rgb_encoder.out_channels
        self.num_stages = 4

    @property
    def num_branches(self):
        """Number of gate branches: depth used in the first k of 4 stages, k = 0..4."""
        return self.num_stages + 1

    def forward(self, inputs):
        """Stems, stem fusion and gate: returns (rgb, depth, gate_logits or None)."""
        if inputs.shape[1] != 4:
            raise ValueError(f'{type(self).__name__} expects RGB-D input with 4 channels '
                             f'(RGB + depth), got shape {tuple(inputs.shape)}')
        rgb = self.rgb_encoder.forward_stem(inputs[:, :3])
        depth = self.depth_encoder.forward_stem(inputs[:, 3:])
        rgb = self.rgb_encoder.maxpool(self.stem_fusion(rgb, depth))
        depth = self.depth_encoder.maxpool(depth)
        logits = None if self.gate is None else self.gate(rgb, depth)
        return rgb, depth, logits

    def depth_stem(self, inputs):
        """Depth stem and max-pool alone on RGB-D ``inputs`` (what :meth:`depth_stage` 0 takes)."""
        return self.depth_encoder.maxpool(self.depth_encoder.forward_stem(inputs[:, 3:]))

    def rgb_stage(self, index, x):
        """RGB encoder stage ``index`` (0..3)."""
        return self.rgb_encoder.forward_stage(index, x)

    def depth_stage(self, index, x):
        """Depth encoder stage ``index`` (0..3)."""
        return self.depth_encoder.forward_stage(index, x)
