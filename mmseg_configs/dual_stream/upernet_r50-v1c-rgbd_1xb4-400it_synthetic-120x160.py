# Static dual-stream UPerNet R50-V1c (UPerHead, FCNHead auxiliary) on the built-in
# synthetic RGB-D set, with narrow heads so that it trains on the CPU, from scratch
# (no download):
#   python tools/make_synthetic_rgbd.py --out data/synthetic_rgbd
#   mim train mmsegmentation mmseg_configs/dual_stream/upernet_r50-v1c-rgbd_1xb4-400it_synthetic-120x160.py
_base_ = [
    '../_base_/models/upernet_r50-v1c-rgbd.py',
    '../_base_/datasets/synthetic_rgbd-120x160.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/sgd_onecycle_synthetic.py',
]
# No ImageNet weights: the synthetic set needs none, and CI has no network.
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(rgb_backbone=dict(init_cfg=None), depth_backbone=dict(init_cfg=None)),
    decode_head=dict(channels=128, num_classes={{_base_.num_classes}}),
    auxiliary_head=dict(channels=64, num_classes={{_base_.num_classes}}),
    cost_input_size=(120, 160))
# CPU runs: gloo for multi-process training (torchrun ... --launcher pytorch).
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
