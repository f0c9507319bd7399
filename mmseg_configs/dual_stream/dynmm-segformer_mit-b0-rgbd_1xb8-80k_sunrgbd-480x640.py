# DynMM on the dual-stream SegFormer MiT-B0 (SegformerHead), SUN RGB-D (37 classes, resized to 480x640).
# Its static twin plus DynMM's gate, resource loss and gate schedule; the gate and
# the loss are in ../_base_/models/dynmm_dual_stream.py (lambda, temperatures).
# Same architecture and weights as the static twin, plus the gate: finetune from
# its checkpoint with  load_from=...  (the gate is initialised fresh).
_base_ = [
    './segformer_mit-b0-rgbd_1xb8-80k_sunrgbd-480x640.py',
    '../_base_/models/dynmm_dual_stream.py',
]

iters_per_epoch = 660  # training images / batch 8
epoch_hard = 121  # the whole 80k schedule: soft gates, annealed

model = {{_base_.dynmm_model}}
model_wrapper_cfg = {{_base_.dynmm_model_wrapper_cfg}}
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp={{_base_.temp}}, end_temp={{_base_.end_temp}},
         epoch_ini={{_base_.epoch_ini}}, epoch_hard=epoch_hard, iters_per_epoch=iters_per_epoch),
]
