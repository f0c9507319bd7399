# Static ESANet (R34-NBt1D, SE-add fusion, PPM, learned 3x3 upsampling) on RGB-D input.
# It is DynMM's model with no gate: every image takes the full branch (depth fused in
# all 4 stages). The 4-channel data_preprocessor (RGB + depth normalisation) comes
# from the dataset base config.
norm_cfg = dict(type='BN', requires_grad=True)  # 'SyncBN' for multi-process training
model = dict(
    type='DynMMEncoderDecoder',
    backbone=dict(
        type='DynMMRGBDResNet',
        depth=34,
        block='NonBottleneck1D',
        stem_fusion='SE-add',
        gate=None,  # static ESANet
        norm_cfg=norm_cfg),
    neck=dict(
        type='DynMMGatedFusionNeck',
        in_channels=(64, 128, 256, 512),
        skip_channels=(512, 256, 128),  # decoder widths, deepest first
        fusion='SE-add',
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='ESANetHead',
        in_channels=512,
        channels=128,
        decoder_channels=(512, 256, 128),
        num_decoder_blocks=(3, 3, 3),
        ppm_bins=(1, 5),
        side_loss_weight=1.0,  # ESANet's multi-scale deep supervision
        num_classes=40,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                         avg_non_ignore=True)),
    cost_input_size=(480, 640),  # where per-branch GFLOPs are measured
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# Multi-process training (torchrun ... --launcher pytorch): this DDP wrapper also
# works for CPU processes (gloo), where mmengine's default one does not.
model_wrapper_cfg = dict(type='DynMMDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
