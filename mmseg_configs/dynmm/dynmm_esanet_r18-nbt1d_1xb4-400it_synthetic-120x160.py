# DynMM on the small ESANet of the synthetic RGB-D set (CPU, minutes).
# Half of the synthetic scenes need depth; the gate should learn to send them to
# the depth-using branches and the others to cheap ones.
_base_ = ['../esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py', '../_base_/models/dynmm_gate.py']

# lambda charges the expected depth-encoder cost as a fraction of the full branch's
# (normalize=True: costs / largest cost), so its value does not depend on the image
# size. 0.3 was chosen on the validation split for this config's own single-phase
# finetuning (of 0.3 and 1.0, 0.3 kept the static val mIoU at 0.70x its GFLOPs).
# tools/run_demo.py trains this model differently (random branches, then the gate
# alone) and chooses lambda per seed on val itself (README, "The demo").
loss_ratio = 0.3
temp = 1.0
end_temp = 0.01
epoch_ini = 2  # two epochs (of 8) of random branches train every path first
epoch_hard = 6  # hard gates for the last 2 of 8 epochs

# the gate and the resource loss of every DynMM config; only the loss's scaling differs
model = dict(_base_.dynmm)
model_wrapper_cfg = _base_.dynmm_model_wrapper_cfg
model['loss_resource'] = dict(model['loss_resource'], loss_weight=loss_ratio, normalize=True, reduction='sum')
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp=temp, end_temp=end_temp, epoch_ini=epoch_ini,
         epoch_hard=epoch_hard, iters_per_epoch={{_base_.iters_per_epoch}},
         planned_max_iters={{_base_.max_iters}}),
]
