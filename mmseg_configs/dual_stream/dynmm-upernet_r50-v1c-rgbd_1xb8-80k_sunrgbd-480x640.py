# DynMM on the dual-stream UPerNet R50-V1c (UPerHead, FCNHead auxiliary), SUN RGB-D (37 classes, resized to 480x640).
# The gate picks, per image, after how many of the 4 backbone stages depth stops
# being fused (branch k fuses it after the first k); the depth backbone's later
# stages are then not run. Training minimises
#   seg_loss + loss_ratio * max(0, E[depth-stream GFLOPs] - flop_budget).
# Same architecture and weights as the static twin, plus the gate: finetune from
# its checkpoint with  load_from=...  (the gate is initialised fresh).
_base_ = ['./upernet_r50-v1c-rgbd_1xb8-80k_sunrgbd-480x640.py']

iters_per_epoch = 660  # training images / batch 8
loss_ratio = 1e-4  # lambda, DynMM's ESANet default; the depth-stream costs differ, tune it
flop_budget = None  # GFLOPs of the depth stream that cost nothing
temp = 1.0  # start temperature of the gate softmax
end_temp = 0.001  # reached at epoch_hard
epoch_ini = 0  # epochs with uniformly random branches
epoch_hard = 121  # the whole schedule: soft gates, annealed
freeze = False  # train only the gate

model = dict(
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
model_wrapper_cfg = dict(find_unused_parameters=True)
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp=temp, end_temp=end_temp, epoch_ini=epoch_ini,
         epoch_hard=epoch_hard, iters_per_epoch=iters_per_epoch),
]
