# DynMM on the static upernet_r50-v1c-rgbd config of the synthetic RGB-D set (CPU, minutes).
# Half of the synthetic scenes need depth; the gate should learn to send them to the
# depth-using branches and the others to cheap ones. Schedule and resource loss as
# the synthetic ESANet DynMM config: random branches for 2 epochs, hard gates for the
# last 2 of 8 (scaled with the run's length), lambda charging the expected
# depth-stream cost as a fraction of the full branch's (normalize=True: the value does
# not depend on the image size).
_base_ = ['./upernet_r50-v1c-rgbd_1xb4-400it_synthetic-120x160.py', '../_base_/models/dynmm_dual_stream.py']

loss_ratio = 0.3
end_temp = 0.01
epoch_ini = 2
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
