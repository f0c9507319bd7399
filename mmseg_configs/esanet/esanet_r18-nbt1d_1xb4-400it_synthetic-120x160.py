# Static ESANet (R18-NBt1D, narrow decoder) on the built-in synthetic RGB-D set.
# Trains on the CPU in minutes:
#   python tools/make_synthetic_rgbd.py --out data/synthetic_rgbd
#   mim train mmsegmentation mmseg_configs/esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py
_base_ = [
    '../_base_/models/esanet_r34-nbt1d.py',
    '../_base_/datasets/synthetic_rgbd-120x160.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_onecycle_400it.py',
]
# ESANet's encoder downsamples by 32 and adds skips at every scale, so the
# 120x160 images are zero-padded to 128x160 (the padding is cropped off again
# in predictions).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53, {{_base_.depth_mean}}],
    std=[58.395, 57.12, 57.375, {{_base_.depth_std}}],
    bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size=(128, 160),
    test_cfg=dict(size=(128, 160)))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(depth=18),
    neck=dict(skip_channels=(128, 64, 64)),
    decode_head=dict(channels=64, decoder_channels=(128, 64, 64), num_decoder_blocks=(1, 1, 1),
                     num_classes={{_base_.num_classes}}),
    cost_input_size=(128, 160))
# CPU runs: gloo for multi-process training (torchrun ... --launcher pytorch).
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
