# SegFormer's schedule as MMSeg configures it, over 80k iterations (about 120 SUN
# RGB-D epochs at batch 8): AdamW (lr 6e-5, wd 0.01; no decay on norms and position
# blocks, 10x learning rate for the decode head), 1500 iterations of linear
# warm-up, then poly decay to 0.
_base_ = ['mmseg::_base_/schedules/schedule_80k.py']
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys=dict(
        pos_block=dict(decay_mult=0.0), norm=dict(decay_mult=0.0), head=dict(lr_mult=10.0))))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False),
]
