# DynMM on the dual-stream UPerNet R50-V1c (UPerHead, FCNHead auxiliary), NYUv2 (40 classes, 480x640).
# Its static twin plus DynMM's gate, resource loss and gate schedule; the gate and
# the loss are in ../_base_/models/dynmm_dual_stream.py (lambda, temperatures).
# Same architecture and weights as the static twin, plus the gate: finetune from
# its checkpoint with  load_from=...  (the gate is initialised fresh).
_base_ = [
    './upernet_r50-v1c-rgbd_1xb8-40k_nyuv2-480x640.py',
    '../_base_/models/dynmm_dual_stream.py',
]

iters_per_epoch = 99  # training images / batch 8
epoch_hard = 404  # the whole 40k schedule: soft gates, annealed

model = {{_base_.dynmm_model}}
model_wrapper_cfg = {{_base_.dynmm_model_wrapper_cfg}}
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp={{_base_.temp}}, end_temp={{_base_.end_temp}},
         epoch_ini={{_base_.epoch_ini}}, epoch_hard=epoch_hard, iters_per_epoch=iters_per_epoch),
]
