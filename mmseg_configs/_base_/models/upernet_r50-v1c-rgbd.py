# Static dual-stream UPerNet R50-V1c on RGB-D input: two ResNet-50-V1c backbones (RGB,
# and depth with 1 input channel), depth fused into RGB after each of the 4 stages
# (SE-add), the fused multi-scale features decoded by MMSeg's UPerHead, with MMSeg's
# FCNHead on stage 3 as auxiliary head. It is the DynMM model with no gate (every
# image takes the full branch); the dynamic config adds the gate. The 4-channel
# data_preprocessor comes from the dataset base config.
norm_cfg = dict(type='BN', requires_grad=True)  # 'SyncBN' for multi-process training
# ImageNet ResNet-50-V1c, the checkpoint MMSeg's UPerNet configs start from
# (there as `pretrained=`, which is the same init_cfg). The depth stream loads it
# too, its first stem convolution summed over the RGB channels.
r50_v1c = dict(
    type='ResNetV1c',
    in_channels=3,
    depth=50,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    dilations=(1, 1, 1, 1),
    strides=(1, 2, 2, 2),
    norm_cfg=norm_cfg,
    norm_eval=False,
    style='pytorch',
    contract_dilation=True,
    init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c'))
model = dict(
    type='DynMMEncoderDecoder',
    backbone=dict(
        type='DynMMDualStreamBackbone',
        rgb_backbone=r50_v1c,
        depth_backbone=dict(r50_v1c, in_channels=1),
        fusion='SE-add',  # after each stage, widths read from the backbones
        stem_fusion=None,  # branch 0 is the RGB UPerNet; the depth stem only feeds the gate
        gate=None,  # static: depth fused in every stage
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPerHead',
        in_channels=[256, 512, 1024, 2048],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=40,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=1024,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=40,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    cost_input_size=(480, 640),  # where per-branch GFLOPs are measured
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# Multi-process training (torchrun ... --launcher pytorch): this DDP wrapper also
# works for CPU processes (gloo), where mmengine's default one does not.
model_wrapper_cfg = dict(type='DynMMDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
