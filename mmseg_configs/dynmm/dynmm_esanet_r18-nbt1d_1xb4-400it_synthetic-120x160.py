# DynMM on the small ESANet of the synthetic RGB-D set (CPU, minutes).
# Half of the synthetic scenes need depth; the gate should learn to send them to
# the depth-using branches and the others to cheap ones.
_base_ = ['../esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py']

# lambda: the depth encoder costs 0.02-0.53 GFLOPs per branch here (~30x less than
# at 480x640), so a large weight is needed before the resource loss matters next to
# the segmentation losses. Tuned on the demo (tools/run_demo.py: finetuning a static
# ESANet for 200 iterations): 0.05 and 0.2 keep most images on branches 2-3 and
# route both scene kinds alike, 2.0 sends almost everything to branches 0-1; 0.5
# saves ~30% of the GFLOPs at the static model's mIoU.
loss_ratio = 0.5
flop_budget = None
temp = 1.0
end_temp = 0.01
epoch_ini = 2  # two epochs (of 8) of random branches train every path first
epoch_hard = 6  # hard gates for the last 2 of 8 epochs
freeze = False

model = dict(
    # _delete_: the static base has gate=None, which a dict cannot be merged into
    backbone=dict(gate=dict(_delete_=True, type='DynMMGlobalGate', hidden_channels=8, num_branches=5)),
    loss_resource=dict(type='DynMMResourceLoss', loss_weight=loss_ratio, budget=flop_budget,
                       costs=None, reduction='sum'),
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
