# DynMM (fusion level) on ESANet R34-NBt1D, NYUv2 480x640.
# The gate picks, per image, in how many of the 4 encoder stages depth is fused;
# training minimises  seg_loss + loss_ratio * max(0, E[depth-encoder GFLOPs] - flop_budget).
# Every DynMM knob of the reference script is below; override any of them with
# --cfg-options, e.g.  model.loss_resource.loss_weight=1e-3  or  load_from=ckpt.pth
_base_ = [
    '../_base_/models/dynmm_esanet_r34-nbt1d.py',
    '../_base_/datasets/nyuv2_rgbd-480x640.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/onecycle_sgd_500ep_nyuv2.py',
]

# ImageNet-pretrained encoders, as the reference (ESANet's training code) by default:
# ESANet's R34-NBt1D ImageNet weights (r34_NBt1D.pth, linked in ESANet's README at
# github.com/TUI-NICR/ESANet), in both encoders (depth conv1 = RGB conv1 summed over its input
# channels). Nothing is downloaded. With load_from set they are overwritten anyway;
# without any file use --cfg-options model.backbone.init_cfg=None (random encoders).
pretrained = 'checkpoints/imagenet/r34_NBt1D.pth'
# Median-frequency class weights of the training labels (tools/compute_class_weights.py)
class_weight = 'data/nyuv2/class_weights_median_frequency.json'

loss_ratio = 1e-4  # --loss-ratio (lambda)
flop_budget = None  # --flop-budget, GFLOPs of the depth encoder (reference convention)
temp = 1.0  # --temp: start temperature of the gate softmax
end_temp = 0.001  # --end-temp: reached at epoch_hard
epoch_ini = 0  # --epoch-ini: epochs with uniformly random branches
epoch_hard = 500  # --epoch-hard: hard (straight-through) gates from this epoch on
freeze = False  # --freeze: train only the gate

model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(init_cfg=dict(type='ESANetPretrained', checkpoint=pretrained)),
    decode_head=dict(loss_decode=dict(
        _delete_=True, type='ESANetCrossEntropyLoss', class_weight=class_weight, loss_weight=1.0)),
    loss_resource=dict(loss_weight=loss_ratio, budget=flop_budget),
    temperature=temp,
    freeze_all_but_gate=freeze)

custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp=temp, end_temp=end_temp, epoch_ini=epoch_ini,
         epoch_hard=epoch_hard, iters_per_epoch={{_base_.iters_per_epoch}},
         planned_max_iters={{_base_.max_iters}}),
]
load_from = None  # finetune from a checkpoint (e.g. a hard-gate DynMM or a static ESANet one)
