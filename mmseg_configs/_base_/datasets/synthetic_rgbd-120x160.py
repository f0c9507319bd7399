# The synthetic RGB-D set, 120x160: the built-in data that needs no download.
#
# Write it once (seconds):
#   python tools/make_synthetic_rgbd.py --out data/synthetic_rgbd
# (train 200, val 50, test 50 images; val is what validation and budget calibration
# read, so that the test numbers come from images nothing was tuned on)
#
# Half of its scenes hide their objects in RGB (same colour and texture as the
# background) so that only depth reveals them; data_root/scene_kinds.json records
# the kind of each image and the dataset passes it on as `scene_kind` in the
# metainfo of every sample ('rgb' or 'depth'), to check where a gate routes them.
#
# Same layout, dataset class and data contract as nyuv2_rgbd-480x640.py: the model
# receives float32 (4, H, W), RGB in channels 0-2 and depth (mm) in channel 3,
# normalised by `data_preprocessor` below.

custom_imports = dict(imports=['dynmm_plugins'], allow_failed_imports=False)

dataset_type = 'NYUv2RGBDDataset'
data_root = 'data/synthetic_rgbd'
crop_size = (120, 160)  # (h, w): the generated size
# The scenes use 8 of the NYUv2 40 classes (ids 1, 2, 4, 5, 6, 7, 23, 25). Naming
# them makes the dataset map labels_40 to 0..7 (everything else is ignored), so
# models for this set use num_classes = 8.
synthetic_classes = ('wall', 'floor', 'bed', 'chair', 'sofa', 'table', 'books',
                     'television')
num_classes = len(synthetic_classes)
# Depth statistics in mm of the generated training depth (default generator
# settings, seed 0); they are the 4th mean/std of the preprocessor.
depth_mean = 4994.5
depth_std = 2025.2

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53, depth_mean],
    std=[58.395, 57.12, 57.375, depth_std],
    bgr_to_rgb=False,  # ConcatRGBD already delivers RGB
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)

meta_keys = ('img_path', 'depth_path', 'seg_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'reduce_zero_label', 'scene_kind')
# Geometric augmentation only: colour jitter would not change what the set tests.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(
        type='RandomResize',
        scale=(160, 120),  # (w, h)
        ratio_range=(1.0, 1.4),
        keep_ratio=True,
        # mmseg's Resize (the default scope's) also resizes `seg_fields`, i.e.
        # depth; naming it keeps that true under any default scope.
        resize_type='mmseg.Resize'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        label_dir='labels_40',
        metainfo=dict(classes=synthetic_classes),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        label_dir='labels_40',
        metainfo=dict(classes=synthetic_classes),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        label_dir='labels_40',
        metainfo=dict(classes=synthetic_classes),
        test_mode=True,
        pipeline=test_pipeline))

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
