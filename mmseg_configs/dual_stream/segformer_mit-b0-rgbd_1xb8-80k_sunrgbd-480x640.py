# Static dual-stream SegFormer MiT-B0 (SegformerHead) on SUN RGB-D (37 classes, resized to 480x640):
# depth fused into RGB after every stage; the baseline its DynMM twin is compared to.
# ImageNet initialisation of both streams comes from the backbones' init_cfg.
#   python tools/prepare_sunrgbd.py ... --out data/sunrgbd
#   mim train mmsegmentation mmseg_configs/dual_stream/segformer_mit-b0-rgbd_1xb8-80k_sunrgbd-480x640.py
_base_ = [
    '../_base_/models/segformer_mit-b0-rgbd.py',
    '../_base_/datasets/sunrgbd_rgbd-480x640.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/adamw_poly_segformer_80k.py',
]
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    decode_head=dict(num_classes={{_base_.num_classes}}))
