# The RGB-only baseline of the synthetic demo: the small ESANet of
# esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py, trained and tested without depth.
#
# - Depth is read as all zeros ("no measurement", LoadDepthFromFile's depth_scale=0)
#   in every pipeline and normalised with mean 0, so the depth channel is exactly 0
#   for every image: nothing about a scene reaches the network through it, and the
#   robustness protocol's depth noise (level * mean|depth| * N(0, 1)) is 0 too.
# - The model runs branch 0 only (gate mode 'fixed'): the depth encoder's four stages
#   are never computed and no stage fuses depth; only the stem fusion remains, and it
#   adds a constant. This is DynMM's cheapest branch, trained without depth.
_base_ = ['./esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py']

no_depth = dict(type='LoadDepthFromFile', depth_scale=0.0)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    no_depth,
    dict(type='LoadCheckedAnnotations'),
    dict(type='RandomResize', scale=(160, 120), ratio_range=(1.0, 1.4), keep_ratio=True,
         resize_type='mmseg.Resize'),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    no_depth,
    dict(type='LoadCheckedAnnotations'),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

data_preprocessor = dict(mean=[123.675, 116.28, 103.53, 0.0])
model = dict(data_preprocessor=data_preprocessor, gate_mode='fixed', fixed_branch=0)
