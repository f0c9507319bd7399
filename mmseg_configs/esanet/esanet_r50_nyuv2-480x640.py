# Static ESANet with ResNet50 (Bottleneck) encoders on NYUv2 480x640.
_base_ = ['./esanet_r34-nbt1d_nyuv2-480x640.py']
model = dict(
    backbone=dict(depth=50),
    neck=dict(in_channels=(256, 512, 1024, 2048)),
    decode_head=dict(in_channels=2048))
