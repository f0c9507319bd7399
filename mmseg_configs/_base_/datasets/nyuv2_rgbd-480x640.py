# NYU Depth v2, RGB-D semantic segmentation (40 classes), 480x640, as ESANet trains.
#
# Prepare the data once (never downloads; pass the official files you have):
#   python tools/prepare_nyuv2.py --labeled-mat nyu_depth_v2_labeled.mat \
#       --splits splits.mat --class-mapping classMapping40.mat --out data/nyuv2
#
# Data contract with the models (see dynmm_plugins/datasets/transforms/concat_rgbd.py):
# every sample reaches the model as a float32 tensor (4, H, W): R, G, B (0..255) in
# channels 0-2 and depth in millimetres in channel 3, normalised by the
# `data_preprocessor` below. Model configs pick it up with
#   model = dict(data_preprocessor=data_preprocessor, ...)
# Labels: void (0) is ignored (255) and the 40 classes become 0..39.

# `import dynmm_plugins` registers NYUv2RGBDDataset and the RGB-D transforms.
custom_imports = dict(imports=['dynmm_plugins'], allow_failed_imports=False)

dataset_type = 'NYUv2RGBDDataset'
data_root = 'data/nyuv2'
crop_size = (480, 640)  # (h, w): the native NYUv2 size
# Depth statistics in mm of the in-painted training depth, as ESANet uses them
# (they are the 4th mean/std of the preprocessor). Change both if you train on
# depth_raw or on another data set.
depth_mean = 2841.95
depth_std = 1417.26

# RGB with the ImageNet statistics, depth with the statistics above.
# bgr_to_rgb must stay False: it only acts on 3-channel inputs, ConcatRGBD already
# delivers RGB. Padding is 0 after normalisation and 255 (ignored) for labels.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53, depth_mean],
    std=[58.395, 57.12, 57.375, depth_std],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)

# ESANet's training augmentation: random rescale by 1.0-1.4, random 480x640 crop,
# HSV jitter on RGB only, horizontal flip. Depth is in `seg_fields` from
# LoadDepthFromFile on, so Resize/RandomCrop/RandomFlip keep it aligned with the
# image (nearest-neighbour resizing, as ESANet).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(
        type='RandomResize',
        scale=(640, 480),  # (w, h); the ratio scales both sides
        ratio_range=(1.0, 1.4),
        keep_ratio=True,
        # mmseg's Resize (the default scope's) also resizes `seg_fields`, i.e.
        # depth; naming it keeps that true under any default scope.
        resize_type='mmseg.Resize'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomHSV',  # H, S x U(0.9, 1.1); V + U(-25, 25) grey levels
         hue_range=(0.9, 1.1),
         saturation_range=(0.9, 1.1),
         value_shift_range=(-25, 25)),
    dict(type='RandomFlip', prob=0.5),
    # BGR -> RGB, float32, depth appended as channel 3: (H, W, 4).
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'depth_path', 'seg_map_path', 'ori_shape',
                    'img_shape', 'pad_shape', 'scale_factor', 'flip',
                    'flip_direction', 'reduce_zero_label', 'scene_kind')),
]
# Evaluation at the native resolution: no resize.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'depth_path', 'seg_map_path', 'ori_shape',
                    'img_shape', 'pad_shape', 'scale_factor', 'flip',
                    'flip_direction', 'reduce_zero_label', 'scene_kind')),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',  # train.txt, train/{rgb,depth,labels_40}
        label_dir='labels_40',  # or 'labels_13' (13 classes, set num_classes=13)
        depth_dir='depth',  # or 'depth_raw' (0 = no measurement)
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        label_dir='labels_40',
        depth_dir='depth',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
