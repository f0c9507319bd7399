# Static ESANet with ResNet50 (Bottleneck) encoders on NYUv2 480x640.
_base_ = ['./esanet_r34-nbt1d_nyuv2-480x640.py']

# torchvision's ResNet50 ImageNet weights, as ESANet uses for Bottleneck encoders
# (https://download.pytorch.org/models/resnet50-19c8e357.pth; nothing is downloaded).
pretrained = 'checkpoints/imagenet/resnet50-19c8e357.pth'

model = dict(
    backbone=dict(depth=50, init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=(256, 512, 1024, 2048)),
    decode_head=dict(in_channels=2048))
