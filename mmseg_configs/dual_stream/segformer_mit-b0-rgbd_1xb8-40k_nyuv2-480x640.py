# Static dual-stream SegFormer MiT-B0 (SegformerHead) on NYUv2 (40 classes, 480x640):
# depth fused into RGB after every stage; the baseline its DynMM twin is compared to.
# ImageNet initialisation of both streams comes from the backbones' init_cfg.
#   python tools/prepare_nyuv2.py ... --out data/nyuv2
#   mim train mmsegmentation mmseg_configs/dual_stream/segformer_mit-b0-rgbd_1xb8-40k_nyuv2-480x640.py
_base_ = [
    '../_base_/models/segformer_mit-b0-rgbd.py',
    '../_base_/datasets/nyuv2_rgbd-480x640.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/adamw_poly_segformer_40k.py',
]
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},)
