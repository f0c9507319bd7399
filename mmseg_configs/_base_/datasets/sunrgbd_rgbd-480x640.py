# SUN RGB-D, RGB-D semantic segmentation (37 classes), resized to 480x640 as ESANet
# trains it; 5285 training and 5050 test images from four sensors.
#
# Prepare the data once (never downloads; pass the official files you have):
#   python tools/prepare_sunrgbd.py --sunrgbd-dir SUNRGBD \
#       --toolbox-dir SUNRGBDtoolbox --out data/sunrgbd
#
# Same layout and data contract as nyuv2_rgbd-480x640.py: every sample reaches the
# model as float32 (4, H, W), RGB (0..255) in channels 0-2 and depth in millimetres
# in channel 3. SUN RGB-D stores depth at 8x millimetres; the dataset hands its
# depth_scale (1/8) to LoadDepthFromFile, so a model sees NYUv2 and SUN RGB-D depth
# in the same units. Labels: void (0) is ignored (255), the 37 classes become 0..36.

# `import dynmm_plugins` registers SUNRGBDRGBDDataset and the RGB-D transforms.
custom_imports = dict(imports=['dynmm_plugins'], allow_failed_imports=False)

dataset_type = 'SUNRGBDRGBDDataset'
data_root = 'data/sunrgbd'
crop_size = (480, 640)  # (h, w)
num_classes = 37
# Depth statistics in mm (SUNRGBDRGBDDataset.DEPTH_MEAN/DEPTH_STD): ESANet's
# statistics of the refined training depth, converted from SUN RGB-D's 8x mm.
depth_mean = 2378.14
depth_std = 1235.11

# RGB with the ImageNet statistics, depth with the statistics above.
# bgr_to_rgb must stay False: ConcatRGBD already delivers RGB.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53, depth_mean],
    std=[58.395, 57.12, 57.375, depth_std],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)

meta_keys = ('img_path', 'depth_path', 'seg_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'reduce_zero_label', 'scene_kind')
# ESANet's training augmentation: the images of the four sensors (427x561 to
# 531x730) resized to 480x640, random rescale by 1.0-1.4, random 480x640 crop, HSV
# jitter on RGB only, horizontal flip. Depth is resized with nearest neighbours.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(
        type='RandomResize',
        scale=(640, 480),  # (w, h)
        ratio_range=(1.0, 1.4),
        keep_ratio=False,  # every sensor's images to 4:3
        resize_type='mmseg.Resize'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomHSV',
         hue_range=(0.9, 1.1),
         saturation_range=(0.9, 1.1),
         value_range=(0.9, 1.1)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# The network sees 480x640; predictions are resized back to each image's own size,
# where the metric compares them with the labels.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthFromFile'),
    dict(type='mmseg.Resize', scale=(640, 480), keep_ratio=False),
    dict(type='LoadCheckedAnnotations'),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',  # train.txt, train/{rgb,depth,labels_37}
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
        depth_dir='depth',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
