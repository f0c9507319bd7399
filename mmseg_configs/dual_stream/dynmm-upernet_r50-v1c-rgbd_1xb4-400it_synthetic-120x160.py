# DynMM on the static upernet_r50-v1c-rgbd config of the synthetic RGB-D set (CPU, minutes).
# Half of the synthetic scenes need depth; the gate should learn to send them to the
# depth-using branches and the others to cheap ones. Schedule and resource loss as
# the synthetic ESANet DynMM config: random branches for 2 epochs, hard gates for the
# last 2 of 8 (scaled with the run's length), lambda charging the expected
# depth-stream cost as a fraction of the full branch's (normalize=True: the value does
# not depend on the image size).
_base_ = ['./upernet_r50-v1c-rgbd_1xb4-400it_synthetic-120x160.py']

loss_ratio = 0.3
flop_budget = None
temp = 1.0
end_temp = 0.01
epoch_ini = 2
epoch_hard = 6
freeze = False

model = dict(
    # _delete_: the static base has gate=None, which a dict cannot be merged into.
    # in_channels (both stems) and num_branches (stages + 1) are read from the backbones.
    backbone=dict(gate=dict(_delete_=True, type='DynMMGlobalGate', hidden_channels=8)),
    loss_resource=dict(type='DynMMResourceLoss', loss_weight=loss_ratio, budget=flop_budget,
                       costs=None, normalize=True, reduction='sum'),
    gate_mode='soft',
    temperature=temp,
    inference_gate='hard',
    freeze_all_but_gate=freeze)
# DDP: the gate and skipped depth stages can be without gradient in a step.
model_wrapper_cfg = dict(find_unused_parameters=True)
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp=temp, end_temp=end_temp, epoch_ini=epoch_ini,
         epoch_hard=epoch_hard, iters_per_epoch={{_base_.iters_per_epoch}},
         planned_max_iters={{_base_.max_iters}}),
]
