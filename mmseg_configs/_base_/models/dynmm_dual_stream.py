# DynMM's additions to a static dual-stream model (DynMMDualStreamBackbone): the gate,
# the resource loss, the gate modes and DDP's setting, shared by every DynMM config in
# mmseg_configs/dual_stream/ (480x640 and synthetic). The gate picks, per image, after
# how many of the backbone's stages depth stops being fused (branch k fuses it after the first k);
# the depth backbone's later stages are then not run. Training minimises
#   seg_loss + loss_ratio * max(0, E[depth-stream GFLOPs] - flop_budget).
#
# Its blocks have names of their own: mmengine refuses a key that two bases both
# define, and the static twin already defines `model` and `model_wrapper_cfg`. A
# DynMM config lists this file after its static twin and takes them by name, then
# writes only what differs (the gate schedule's epochs):
#   _base_ = ['./<static twin>.py', '../_base_/models/dynmm_dual_stream.py']
#   model = {{_base_.dynmm_model}}
#   model_wrapper_cfg = {{_base_.dynmm_model_wrapper_cfg}}
#   custom_hooks = [dict(type='DynMMGateScheduleHook', temp={{_base_.temp}}, ...)]
# The blocks are built here from the values below: a config changes lambda with
#   model = dict(loss_resource=dict(loss_weight=...))  (not by setting loss_ratio).
loss_ratio = 1e-4  # lambda, DynMM's ESANet default; the depth-stream costs differ, tune it
flop_budget = None  # GFLOPs of the depth stream that cost nothing
temp = 1.0  # start temperature of the gate softmax
end_temp = 0.001  # reached at epoch_hard
epoch_ini = 0  # epochs with uniformly random branches
freeze = False  # train only the gate

dynmm_model = dict(
    # _delete_: the static base has gate=None, which a dict cannot be merged into.
    # in_channels (both stems) and num_branches (stages + 1) are read from the backbones.
    backbone=dict(gate=dict(_delete_=True, type='DynMMGlobalGate', hidden_channels=8)),
    loss_resource=dict(
        type='DynMMResourceLoss',
        loss_weight=loss_ratio,
        budget=flop_budget,
        costs=None,  # None: the depth stream's own GFLOPs per branch, measured
        reduction='mean'),
    gate_mode='soft',
    temperature=temp,
    inference_gate='hard',  # DynMM evaluates with hard gates
    freeze_all_but_gate=freeze)
# With fixed/random gates the gate and the skipped depth stages can be without
# gradient in a step: DDP must not wait for them.
dynmm_model_wrapper_cfg = dict(find_unused_parameters=True)
