"""A small DynMM/ESANet config for fast tests: the real modules, narrow and shallow."""
import copy

TINY_MODEL = dict(
    type='DynMMEncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53, 2841.95],
        std=[58.395, 57.12, 57.375, 1417.26],
        bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size_divisor=32),
    backbone=dict(type='DynMMRGBDResNet', depth=18, block='NonBottleneck1D', stem_fusion='SE-add',
                  gate=dict(type='DynMMGlobalGate')),
    neck=dict(type='DynMMGatedFusionNeck', in_channels=(64, 128, 256, 512),
              skip_channels=(64, 32, 32), fusion='SE-add'),
    decode_head=dict(type='ESANetHead', in_channels=512, channels=32, decoder_channels=(64, 32, 32),
                     num_decoder_blocks=(1, 1, 1), num_classes=5,
                     loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    loss_resource=dict(type='DynMMResourceLoss', loss_weight=0.01),
    cost_input_size=(64, 96),
    test_cfg=dict(mode='whole'))


def tiny_model_cfg(**overrides):
    """A deep copy of the tiny config with top-level keys replaced."""
    cfg = copy.deepcopy(TINY_MODEL)
    cfg.update(overrides)
    return cfg


def build_tiny(**overrides):
    import dynmm_plugins  # noqa: F401  (registers the modules)
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return MODELS.build(tiny_model_cfg(**overrides))
