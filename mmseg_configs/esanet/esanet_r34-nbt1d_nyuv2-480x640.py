# Static ESANet R34-NBt1D on NYUv2 (40 classes, 480x640): the baseline DynMM is compared to.
# Train: mim train mmsegmentation mmseg_configs/esanet/esanet_r34-nbt1d_nyuv2-480x640.py
_base_ = [
    '../_base_/models/esanet_r34-nbt1d.py',
    '../_base_/datasets/nyuv2_rgbd-480x640.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/onecycle_sgd_500ep_nyuv2.py',
]

# ImageNet-pretrained encoders, as ESANet trains by default: ESANet's own R34-NBt1D
# ImageNet weights (r34_NBt1D.pth, linked in ESANet's README, github.com/TUI-NICR/ESANet),
# loaded into the RGB and the depth encoder (depth conv1 = RGB conv1 summed over its
# input channels). Nothing is downloaded: put the file here or pass
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# Train from scratch (random encoders) with --cfg-options model.backbone.init_cfg=None
pretrained = 'checkpoints/imagenet/r34_NBt1D.pth'

# Median-frequency class weights of the NYUv2 training labels, as ESANet:
#   python tools/compute_class_weights.py --data-root data/nyuv2 --split train \
#       --mode median_frequency --out data/nyuv2/class_weights_median_frequency.json
class_weight = 'data/nyuv2/class_weights_median_frequency.json'

model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(init_cfg=dict(type='ESANetPretrained', checkpoint=pretrained)),
    decode_head=dict(loss_decode=dict(
        _delete_=True, type='ESANetCrossEntropyLoss', class_weight=class_weight, loss_weight=1.0)))
