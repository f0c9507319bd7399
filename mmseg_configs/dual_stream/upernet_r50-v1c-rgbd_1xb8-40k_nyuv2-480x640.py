# Static dual-stream UPerNet R50-V1c (UPerHead, FCNHead auxiliary) on NYUv2 (40 classes, 480x640):
# depth fused into RGB after every stage; the baseline its DynMM twin is compared to.
# ImageNet initialisation of both streams comes from the backbones' init_cfg.
#   python tools/prepare_nyuv2.py ... --out data/nyuv2
#   mim train mmsegmentation mmseg_configs/dual_stream/upernet_r50-v1c-rgbd_1xb8-40k_nyuv2-480x640.py
_base_ = [
    '../_base_/models/upernet_r50-v1c-rgbd.py',
    '../_base_/datasets/nyuv2_rgbd-480x640.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},)
