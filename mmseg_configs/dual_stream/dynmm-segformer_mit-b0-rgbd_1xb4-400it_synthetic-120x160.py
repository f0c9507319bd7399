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
_base_ = ['./segformer_mit-b0-rgbd_1xb4-400it_synthetic-120x160.py', '../_base_/models/dynmm_dual_stream.py']

loss_ratio = 0.03
end_temp = 0.01
epoch_ini = 0
epoch_hard = 6

# the gate and the resource loss of every dual-stream DynMM config; only the loss's scaling differs
model = dict(_base_.dynmm_model)
model_wrapper_cfg = _base_.dynmm_model_wrapper_cfg
model['loss_resource'] = dict(model['loss_resource'], loss_weight=loss_ratio, normalize=True, reduction='sum')
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp={{_base_.temp}}, end_temp=end_temp, epoch_ini=epoch_ini,
         epoch_hard=epoch_hard, iters_per_epoch={{_base_.iters_per_epoch}},
         planned_max_iters={{_base_.max_iters}}),
]
