"""NYUv2RGBDDataset and the base dataset configs on small generated layouts."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmseg.registry import DATASETS, MODELS  # noqa: E402

from dynmm_plugins.datasets import make_synthetic_rgbd  # noqa: E402
from dynmm_plugins.datasets.nyuv2_rgbd import (NYU13_CLASSES,  # noqa: E402
                                               NYU13_PALETTE, NYU40_CLASSES)

from helpers import REPO as ROOT  # noqa: E402
CONFIGS = osp.join(ROOT, 'mmseg_configs', '_base_', 'datasets')
NYU_CONFIG = osp.join(CONFIGS, 'nyuv2_rgbd-480x640.py')
SYN_CONFIG = osp.join(CONFIGS, 'synthetic_rgbd-120x160.py')
H, W = 48, 64
NUM_TRAIN, NUM_TEST, NUM_VAL = 4, 2, 3


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture(scope='module')
def layout(module_mktemp):
    root = module_mktemp('rgbd')
    make_synthetic_rgbd(str(root), num_train=NUM_TRAIN, num_test=NUM_TEST,
                        num_val=NUM_VAL, height=H, width=W, seed=0)
    return root


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _build(cfg):
    return DATASETS.build(cfg)


def test_lengths_class_names_and_ignore_index(layout):
    train = _build(dict(type='NYUv2RGBDDataset', data_root=str(layout)))
    test = _build(dict(type='NYUv2RGBDDataset', data_root=str(layout),
                       split='test', test_mode=True))
    assert (len(train), len(test)) == (NUM_TRAIN, NUM_TEST)
    classes = train.metainfo['classes']
    assert len(classes) == 40 and classes[:2] == ('wall', 'floor')
    assert classes[-1] == 'otherprop' and tuple(classes) == NYU40_CLASSES
    assert len(train.metainfo['palette']) == 40
    assert train.ignore_index == 255 and train.reduce_zero_label
    info = train.get_data_info(0)
    assert info['img_path'].endswith(osp.join('train', 'rgb', '0001.png'))
    assert info['depth_path'].endswith(osp.join('train', 'depth', '0001.png'))
    assert info['seg_map_path'].endswith(osp.join('train', 'labels_40', '0001.png'))
    kinds = json.loads((layout / 'scene_kinds.json').read_text())
    assert info['scene_kind'] == kinds['train']['0001']
    assert test.get_data_info(0)['img_path'].endswith(
        osp.join('test', 'rgb', f'{NUM_TRAIN + 1:04d}.png'))


def test_labels_13_selects_13_class_names_and_palette(layout):
    pipeline = [dict(type='LoadCheckedAnnotations')]
    dataset = _build(dict(type='NYUv2RGBDDataset', data_root=str(layout),
                          label_dir='labels_13', pipeline=pipeline))
    assert tuple(dataset.metainfo['classes']) == NYU13_CLASSES
    assert dataset.metainfo['palette'] == NYU13_PALETTE
    assert dataset.label_map is None
    gt = dataset[0]['gt_seg_map']
    raw = _read(layout / 'train' / 'labels_13' / '0001.png')
    np.testing.assert_array_equal(gt, np.where(raw == 0, 255, raw.astype(int) - 1))
    assert gt.max() < 13


def test_void_becomes_ignore_and_classes_shift_down(layout, tmp_path):
    root = tmp_path / 'copy'
    make_synthetic_rgbd(str(root), num_train=1, num_test=1, height=H, width=W)
    label = _read(root / 'train' / 'labels_40' / '0001.png')
    label[:5] = 0  # void rows
    cv2.imwrite(str(root / 'train' / 'labels_40' / '0001.png'), label)
    dataset = _build(dict(type='NYUv2RGBDDataset', data_root=str(root),
                          pipeline=[dict(type='LoadCheckedAnnotations')]))
    gt = dataset[0]['gt_seg_map']
    assert (gt[:5] == 255).all()
    np.testing.assert_array_equal(gt[5:], label[5:].astype(int) - 1)


def _batch(samples):
    return dict(inputs=[s['inputs'] for s in samples],
                data_samples=[s['data_samples'] for s in samples])


def test_nyuv2_config_train_pipeline_gives_normalised_rgbd_crops(layout):
    cfg = Config.fromfile(NYU_CONFIG)
    assert cfg.custom_imports.imports == ['dynmm_plugins']
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = str(layout)
    dataset = _build(ds_cfg)
    assert len(dataset) == NUM_TRAIN
    sample = dataset[0]
    inputs, data_sample = sample['inputs'], sample['data_samples']
    assert inputs.shape == (4, 480, 640) and inputs.dtype == torch.float32
    assert data_sample.gt_sem_seg.data.shape == (1, 480, 640)
    assert data_sample.scene_kind in ('rgb', 'depth')
    assert data_sample.depth_path.endswith('.png')
    labels = data_sample.gt_sem_seg.data.unique().tolist()
    assert set(labels) <= set(range(40)) | {255}
    # The depth channel still holds true millimetres (resized by nearest).
    depth = inputs[3]
    assert depth.min() >= 500 and depth.max() <= 10000

    preprocessor = MODELS.build(cfg.data_preprocessor)
    out = preprocessor(_batch([sample, dataset[1]]), training=True)
    assert out['inputs'].shape == (2, 4, 480, 640)
    expected_depth = (depth - 2841.95) / 1417.26
    torch.testing.assert_close(out['inputs'][0, 3], expected_depth)
    torch.testing.assert_close(out['inputs'][0, 0],
                               (inputs[0] - 123.675) / 58.395)


def test_nyuv2_config_test_pipeline_keeps_native_size_and_normalises(layout):
    cfg = Config.fromfile(NYU_CONFIG)
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = str(layout)
    dataset = _build(ds_cfg)
    assert len(dataset) == NUM_TEST
    name = f'{NUM_TRAIN + 1:04d}'
    sample = dataset[0]
    assert sample['inputs'].shape == (4, H, W)
    bgr = _read(layout / 'test' / 'rgb' / f'{name}.png')
    depth = _read(layout / 'test' / 'depth' / f'{name}.png').astype(np.float32)
    label = _read(layout / 'test' / 'labels_40' / f'{name}.png')
    # Channels 0-2 are RGB (the file is BGR), channel 3 is depth in mm.
    np.testing.assert_array_equal(sample['inputs'][:3].numpy(),
                                  bgr[..., ::-1].transpose(2, 0, 1))
    np.testing.assert_array_equal(sample['inputs'][3].numpy(), depth)
    np.testing.assert_array_equal(sample['data_samples'].gt_sem_seg.data[0].numpy(),
                                  label.astype(int) - 1)

    preprocessor = MODELS.build(cfg.data_preprocessor)
    out = preprocessor(_batch([sample]), training=False)['inputs'][0]
    # A depth of 2841.95 mm (the mean) normalises to 0, one std above to 1.
    np.testing.assert_allclose(out[3].numpy(), (depth - 2841.95) / 1417.26,
                               rtol=1e-5, atol=1e-5)
    assert ((torch.tensor([2841.95, 2841.95 + 1417.26]) - 2841.95) /
            1417.26).tolist() == pytest.approx([0.0, 1.0])
    np.testing.assert_allclose(
        out[1].numpy(), (bgr[..., 1].astype(np.float32) - 116.28) / 57.12,
        rtol=1e-5, atol=1e-5)


def test_synthetic_config_maps_labels_to_its_8_classes(layout):
    cfg = Config.fromfile(SYN_CONFIG)
    assert cfg.num_classes == 8
    # The train pipeline rescales to the 120x160 crop, the test one keeps the size.
    for loader, count, size in ((cfg.train_dataloader, NUM_TRAIN, (120, 160)),
                                (cfg.val_dataloader, NUM_VAL, (H, W)),
                                (cfg.test_dataloader, NUM_TEST, (H, W))):
        loader.dataset.data_root = str(layout)
        dataset = _build(loader.dataset)
        assert len(dataset) == count
        assert len(dataset.metainfo['classes']) == 8
        assert len(dataset.metainfo['palette']) == 8
        sample = dataset[0]
        assert sample['inputs'].shape == (4, *size)
        labels = set(sample['data_samples'].gt_sem_seg.data.unique().tolist())
        assert labels <= set(range(8)) and {0, 1} <= labels  # wall and floor
        assert sample['data_samples'].scene_kind in ('rgb', 'depth')
    # The test split labels map exactly: wall (1) -> 0, television (25) -> 7.
    name = f'{NUM_TRAIN + 1:04d}'
    raw = _read(layout / 'test' / 'labels_40' / f'{name}.png')
    lut = np.full(256, 255)
    for new, cls in enumerate((1, 2, 4, 5, 6, 7, 23, 25)):
        lut[cls] = new
    np.testing.assert_array_equal(
        dataset[0]['data_samples'].gt_sem_seg.data[0].numpy(), lut[raw])


# ------------------------------------------------------------------ bad inputs
def test_missing_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nowhere.*does not exist'):
        _build(dict(type='NYUv2RGBDDataset', data_root=str(tmp_path / 'nowhere')))


def test_missing_split_file_is_named(tmp_path):
    (tmp_path / 'train').mkdir()
    with pytest.raises(FileNotFoundError, match=r'train\.txt'):
        _build(dict(type='NYUv2RGBDDataset', data_root=str(tmp_path)))


def test_empty_split_file_is_named(tmp_path):
    (tmp_path / 'test.txt').write_text('\n\n')
    with pytest.raises(ValueError, match=r'test\.txt.*empty'):
        _build(dict(type='NYUv2RGBDDataset', data_root=str(tmp_path), split='test'))


def test_missing_depth_for_an_image_is_named(tmp_path):
    make_synthetic_rgbd(str(tmp_path), num_train=2, num_test=1, height=16, width=16)
    (tmp_path / 'train' / 'depth' / '0002.png').unlink()
    with pytest.raises(FileNotFoundError,
                       match=r"depth image .*0002\.png.*'0002'.*train\.txt"):
        _build(dict(type='NYUv2RGBDDataset', data_root=str(tmp_path)))


def test_unknown_label_dir_needs_metainfo(layout):
    with pytest.raises(ValueError, match='labels_894'):
        _build(dict(type='NYUv2RGBDDataset', data_root=str(layout),
                    label_dir='labels_894'))
