"""SUN RGB-D: the dataset class, its depth scale and statistics, and the synthetic SUN files."""
import os.path as osp

import cv2
import numpy as np
import pytest

pytest.importorskip('mmseg')
import dynmm_plugins  # noqa: E402,F401
from mmengine.registry import init_default_scope  # noqa: E402
from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd  # noqa: E402
from dynmm_plugins.datasets.sunrgbd_rgbd import SUNRGBDRGBDDataset  # noqa: E402
from dynmm_plugins.datasets.nyuv2_rgbd import NYUv2RGBDDataset  # noqa: E402

from helpers import REPO  # noqa: E402
BASE = osp.join(REPO, 'mmseg_configs/_base_/datasets/sunrgbd_rgbd-480x640.py')
LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadDepthFromFile'),
        dict(type='LoadCheckedAnnotations')]


@pytest.fixture(scope='module')
def sets(module_mktemp):
    """The same synthetic scenes in NYUv2 files and in SUN RGB-D files."""
    init_default_scope('mmseg')
    root = module_mktemp('sun')
    for layout in ('nyuv2', 'sunrgbd'):
        make_synthetic_rgbd(str(root / layout), num_train=3, num_test=2, height=48, width=64,
                            seed=11, layout=layout)  # seed 11: depths past 8.192 m in train
    return root


def test_synthetic_sun_files_have_sun_rgbds_formats(sets):
    mm = cv2.imread(str(sets / 'nyuv2/train/depth/0001.png'), cv2.IMREAD_UNCHANGED)
    stored = cv2.imread(str(sets / 'sunrgbd/train/depth/0001.png'), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16
    assert np.array_equal(stored, (mm << 3) | (mm >> 13))  # rotated left by 3 bits
    assert osp.isfile(sets / 'sunrgbd/train/rgb/0001.jpg')
    labels = cv2.imread(str(sets / 'sunrgbd/train/labels_37/0001.png'), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(labels, cv2.imread(str(sets / 'nyuv2/train/labels_40/0001.png'),
                                             cv2.IMREAD_UNCHANGED))


def test_depth_reaches_the_pipeline_in_millimetres_like_nyuv2(sets):
    sun = SUNRGBDRGBDDataset(str(sets / 'sunrgbd'), split='train', pipeline=LOAD)
    nyu = NYUv2RGBDDataset(str(sets / 'nyuv2'), split='train', pipeline=LOAD)
    assert len(sun) == len(nyu) == 3 and len(sun.metainfo['classes']) == 37
    far = 0
    for i in range(len(sun)):
        a, b = sun[i], nyu[i]
        assert np.array_equal(a['depth'], b['depth'])
        assert np.array_equal(a['gt_seg_map'], b['gt_seg_map'])  # void -> 255, ids - 1
        far += int((b['depth'] >= 8192).sum())
    assert far > 0  # depths past 8.192 m, which SUN RGB-D's rotation wraps, come back exact


def test_base_config_carries_the_datasets_depth_statistics_and_runs(sets):
    from mmengine.config import Config
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(BASE)
    assert cfg.depth_mean == SUNRGBDRGBDDataset.DEPTH_MEAN
    assert cfg.depth_std == SUNRGBDRGBDDataset.DEPTH_STD
    assert cfg.data_preprocessor.mean[3] == cfg.depth_mean and cfg.num_classes == 37
    # ESANet's statistics are in SUN RGB-D's stored units (8x mm)
    assert SUNRGBDRGBDDataset.DEPTH_MEAN == pytest.approx(19025.149 / 8, abs=0.01)
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.update(data_root=str(sets / 'sunrgbd'))
    sample = DATASETS.build(dataset_cfg)[0]
    assert tuple(sample['inputs'].shape) == (4, 480, 640)  # resized for the network
    assert tuple(sample['data_samples'].gt_sem_seg.data.shape) == (1, 48, 64)  # scored as is


def test_bad_depth_scale_is_refused(sets):
    with pytest.raises(ValueError, match='depth_scale must be > 0'):
        SUNRGBDRGBDDataset(str(sets / 'sunrgbd'), depth_scale=0)
