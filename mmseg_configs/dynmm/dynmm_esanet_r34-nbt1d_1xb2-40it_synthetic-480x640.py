# DynMM R34-NBt1D trained briefly on the synthetic RGB-D set at NYUv2's size (480x640):
# a checkpoint whose weights and BatchNorm statistics are trained on every branch, for the
# deployment checks (ONNX equality and latency at 480x640) where no NYUv2 training is at hand.
# It is not an accuracy recipe (40 iterations on 128x160 crops, random encoders).
#
#   python tools/make_synthetic_rgbd.py --out data/synthetic_rgbd_480x640 \
#       --height 480 --width 640 --num-train 48 --num-val 4 --num-test 12
#   mim train mmsegmentation THIS_CONFIG --work-dir work_dirs/r34_synthetic_480x640
_base_ = ['./dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py']

data_root = 'data/synthetic_rgbd_480x640'
synthetic_classes = ('wall', 'floor', 'bed', 'chair', 'sofa', 'table', 'books', 'television')
crop_size = (128, 160)  # training crops (test images stay 480x640)
depth_mean = 4358.7  # the synthetic generator's depth statistics (mm)
depth_std = 2019.7
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53, depth_mean],
    std=[58.395, 57.12, 57.375, depth_std], bgr_to_rgb=False, pad_val=0, seg_pad_val=255,
    size=None, size_divisor=32)

max_iters = 40
# gate schedule in iterations (an "epoch" of 1 iteration): 60% random branches, so that
# every branch and its BatchNorm statistics get trained, then soft gates, hard for the last 10%
epoch_ini = 24
epoch_hard = 36
end_temp = 0.01
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(init_cfg=None),  # random encoders: nothing to download
    decode_head=dict(num_classes=len(synthetic_classes),
                     loss_decode=dict(class_weight=None)),
    loss_resource=dict(loss_weight=0.3, normalize=True, reduction='sum'))
custom_hooks = [
    dict(type='DynMMGateScheduleHook', temp=1.0, end_temp=end_temp, epoch_ini=epoch_ini,
         epoch_hard=epoch_hard, iters_per_epoch=1),
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(1.0, 1.4), keep_ratio=True,
         resize_type='mmseg.Resize'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ConcatRGBD'),
    dict(type='PackSegInputs'),
]
_dataset = dict(data_root=data_root, metainfo=dict(classes=synthetic_classes))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline, **_dataset))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(split='val', **_dataset))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(split='test', **_dataset))

optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='OneCycleLR', eta_max=0.01, total_steps=max_iters, pct_start=0.1, div_factor=25,
         final_div_factor=1e4, anneal_strategy='cos', by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
