# Static ESANet R34-NBt1D on NYUv2 (40 classes, 480x640): the baseline DynMM is compared to.
# Train: mim train mmsegmentation mmseg_configs/esanet/esanet_r34-nbt1d_nyuv2-480x640.py
_base_ = [
    '../_base_/models/esanet_r34-nbt1d.py',
    '../_base_/datasets/nyuv2_rgbd-480x640.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/onecycle_sgd_500ep_nyuv2.py',
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
