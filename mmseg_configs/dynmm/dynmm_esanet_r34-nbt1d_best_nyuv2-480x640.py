# The published best DynMM setting on NYUv2 (50.98 mIoU, >21% depth-encoder savings):
# loss_ratio 1e-4, temperature 1.0 -> 0.001 over 500 epochs, no random phase,
# finetuned from a checkpoint trained with hard gates. Produce that checkpoint by
# training dynmm_esanet_r34-nbt1d_nyuv2-480x640.py with epoch_hard=0 (hard gates
# from the start), or convert the reference release with
# tools/convert_dynmm_checkpoint.py, and point load_from at it.
_base_ = ['./dynmm_esanet_r34-nbt1d_nyuv2-480x640.py']

loss_ratio = 1e-4
temp = 1.0
end_temp = 0.001
epoch_ini = 0
epoch_hard = 500

model = dict(loss_resource=dict(loss_weight=loss_ratio), temperature=temp)
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp=temp, end_temp=end_temp, epoch_ini=epoch_ini,
         epoch_hard=epoch_hard, iters_per_epoch={{_base_.iters_per_epoch}},
         planned_max_iters={{_base_.max_iters}}),
]
load_from = 'checkpoints/dynmm_esanet_r34-nbt1d_hard_nyuv2-480x640.pth'
