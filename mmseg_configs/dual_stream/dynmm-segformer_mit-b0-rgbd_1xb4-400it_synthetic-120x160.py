# DynMM on the static segformer_mit-b0-rgbd config of the synthetic RGB-D set (CPU, minutes).
# Half of the synthetic scenes need depth; the gate should learn to send them to the
# depth-using branches and the others to cheap ones. Resource loss as the synthetic
# ESANet DynMM config: lambda charges the expected depth-stream cost as a fraction of
# the full branch's (normalize=True: the value does not depend on the image size).
# Gate schedule: soft from the start (no random phase), hard gates for the last 2 of
# 8 epochs (scaled with the run's length). lambda and the random phase were chosen on
# the val split at the demo's length (README, "Training target"): of lambda 0, 0.03,
# 0.3, 1 with ESANet's 2 random epochs (val mIoU 31.2-32.7) and lambda 0.03, 0.3
# without them (38.8, 36.9), lambda 0.03 without had the best val mIoU.
_base_ = ['./segformer_mit-b0-rgbd_1xb4-400it_synthetic-120x160.py']

loss_ratio = 0.03
flop_budget = None
temp = 1.0
end_temp = 0.01
epoch_ini = 0
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
