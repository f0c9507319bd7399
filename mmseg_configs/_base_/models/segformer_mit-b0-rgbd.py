# Static dual-stream SegFormer MiT-B0 on RGB-D input: two MiT-B0 backbones (RGB, and
# depth with 1 input channel), depth fused into RGB after each of the 4 stages
# (SE-add), the fused multi-scale features decoded by MMSeg's SegformerHead.
# It is the DynMM model with no gate (every image takes the full branch); the
# dynamic config adds the gate. The 4-channel data_preprocessor comes from the
# dataset base config.
norm_cfg = dict(type='BN', requires_grad=True)  # 'SyncBN' for multi-process training
# ImageNet-1k MiT-B0, the checkpoint MMSeg's SegFormer configs start from. The depth
# stream loads it too, its patch-embedding convolution summed over the RGB channels.
mit_b0_checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth'  # noqa: E501
mit_b0 = dict(
    type='MixVisionTransformer',
    in_channels=3,
    embed_dims=32,
    num_stages=4,
    num_layers=[2, 2, 2, 2],
    num_heads=[1, 2, 5, 8],
    patch_sizes=[7, 3, 3, 3],
    sr_ratios=[8, 4, 2, 1],
    out_indices=(0, 1, 2, 3),
    mlp_ratio=4,
    qkv_bias=True,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=mit_b0_checkpoint))
model = dict(
    type='DynMMEncoderDecoder',
    backbone=dict(
        type='DynMMDualStreamBackbone',
        rgb_backbone=mit_b0,
        depth_backbone=dict(mit_b0, in_channels=1),
        fusion='SE-add',  # after each stage, widths read from the backbones
        stem_fusion=None,  # branch 0 is the RGB SegFormer; the depth stem only feeds the gate
        gate=None,  # static: depth fused in every stage
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='SegformerHead',
        in_channels=[32, 64, 160, 256],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=40,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    cost_input_size=(480, 640),  # where per-branch GFLOPs are measured
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# Multi-process training (torchrun ... --launcher pytorch): this DDP wrapper also
# works for CPU processes (gloo), where mmengine's default one does not.
model_wrapper_cfg = dict(type='DynMMDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
