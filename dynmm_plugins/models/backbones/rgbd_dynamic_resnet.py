"""ESANet's two-stream RGB-D encoder with DynMM's global gate."""
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..layers import ResNetEncoder, build_fusion, fuse_with_probability


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
        gated_stem_fusion (bool): Where the stem fusion belongs. False (ESANet's,
            the reference DynMM's): every branch, branch 0 too, fuses the depth
            stem into RGB before the max-pool, so branch 0 still sees depth.
            True: the stem fusion is gated like the stage fusions: it is applied
            after the max-pools (:meth:`fuse_stem`), for branches 1..4 only, so
            branch 0 runs on RGB alone (the depth stem still runs: the gate reads
            it). Default: False.
        gate (dict, optional): Gate config, e.g. ``dict(type='DynMMGlobalGate')``.
            None builds static ESANet (every sample on the full branch).
        norm_cfg (dict): Normalisation layer config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='ReLU').
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, depth=34, block='NonBottleneck1D', stem_fusion='SE-add', gate=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'), init_cfg=None,
                 gated_stem_fusion=False):
        super().__init__(init_cfg=init_cfg)
        self.gated_stem_fusion = bool(gated_stem_fusion)
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
        """Stems, stem fusion and gate: returns (rgb, depth, gate_logits or None).

        With ``gated_stem_fusion`` the returned RGB features are not fused yet: the
        segmentor fuses them (:meth:`fuse_stem`) for the branches that use depth.
        """
        if inputs.shape[1] != 4:
            raise ValueError(f'{type(self).__name__} expects RGB-D input with 4 channels '
                             f'(RGB + depth), got shape {tuple(inputs.shape)}')
        rgb = self.rgb_encoder.forward_stem(inputs[:, :3])
        depth = self.depth_encoder.forward_stem(inputs[:, 3:])
        if not self.gated_stem_fusion:
            rgb = self.stem_fusion(rgb, depth)
        rgb = self.rgb_encoder.maxpool(rgb)
        depth = self.depth_encoder.maxpool(depth)
        logits = None if self.gate is None else self.gate(rgb, depth)
        return rgb, depth, logits

    def fuse_stem(self, rgb, depth, fuse_prob=None):
        """The gated stem fusion of the max-pooled stems (``gated_stem_fusion`` only);
        ``fuse_prob`` (N,) mixes it with RGB alone, as the stage fusions do."""
        if not self.gated_stem_fusion:
            raise RuntimeError('fuse_stem is for gated_stem_fusion=True; otherwise forward() '
                               'has already fused the stems')
        return fuse_with_probability(self.stem_fusion, rgb, depth, fuse_prob)

    def depth_stem(self, inputs):
        """Depth stem and max-pool alone on RGB-D ``inputs`` (what :meth:`depth_stage` 0 takes)."""
        return self.depth_encoder.maxpool(self.depth_encoder.forward_stem(inputs[:, 3:]))

    def rgb_stage(self, index, x):
        """RGB encoder stage ``index`` (0..3)."""
        return self.rgb_encoder.forward_stage(index, x)

    def depth_stage(self, index, x):
        """Depth encoder stage ``index`` (0..3)."""
        return self.depth_encoder.forward_stage(index, x)
