# A short CPU schedule for the synthetic RGB-D set: the NYUv2 optimiser (SGD,
# lr 0.01, momentum 0.9, wd 1e-4, one-cycle) over a few hundred iterations.
iters_per_epoch = 50  # 200 training images / batch 4
max_iters = 400
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='OneCycleLR', eta_max=0.01, total_steps=max_iters, pct_start=0.1,
         div_factor=25, final_div_factor=1e4, anneal_strategy='cos', by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # OneCycleLR follows train_cfg.max_iters when a run is shortened or resumed longer
    run_length=dict(type='DynMMRunLengthHook'))
