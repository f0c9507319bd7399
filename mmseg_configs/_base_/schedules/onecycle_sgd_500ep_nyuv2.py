# ESANet / DynMM training schedule on NYUv2, iteration-based like MMSeg's own:
# SGD (lr 0.01, momentum 0.9, Nesterov, wd 1e-4), batch 8, one-cycle LR over 500 epochs.
# NYUv2 has 795 training images; with batch 8 and drop_last an epoch is 99 iterations.
iters_per_epoch = 99
num_epochs = 500
max_iters = num_epochs * iters_per_epoch

optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)  # as ESANet
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    # torch's OneCycleLR as ESANet configures it: 10% warm-up, cosine annealing
    dict(type='OneCycleLR', eta_max=0.01, total_steps=max_iters, pct_start=0.1,
         div_factor=25, final_div_factor=1e4, anneal_strategy='cos', by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10 * iters_per_epoch)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10 * iters_per_epoch,
                    max_keep_ckpts=3, save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # OneCycleLR follows train_cfg.max_iters when a run is shortened or resumed longer
    run_length=dict(type='DynMMRunLengthHook'))
