"""RGB-D transforms: depth and label loading, HSV jitter, RGB-D stacking, alignment."""
import cv2
import numpy as np
import pytest

pytest.importorskip('mmseg')

from mmengine.dataset import Compose  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from dynmm_plugins.datasets.transforms import (ConcatRGBD,  # noqa: E402
                                               LoadCheckedAnnotations,
                                               LoadDepthFromFile, RandomHSV)

H, W = 24, 32


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def _write(path, array):
    assert cv2.imwrite(str(path), array), path
    return str(path)


def _results(img_path, depth_path, img=None, seg_map_path=None):
    if img is None:
        img = cv2.imread(img_path)
    return dict(img=img, img_path=img_path, depth_path=depth_path,
                seg_map_path=seg_map_path, seg_fields=[], reduce_zero_label=True,
                num_classes=40, label_map=None)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = rng.integers(0, 10000, (H, W)).astype(np.uint16)
    label = rng.integers(0, 41, (H, W)).astype(np.uint8)
    return dict(
        bgr=bgr, depth=depth, label=label,
        img_path=_write(tmp_path / 'rgb.png', bgr),
        depth_path=_write(tmp_path / 'depth.png', depth),
        label_path=_write(tmp_path / 'label.png', label),
        tmp=tmp_path)


# --------------------------------------------------------------- LoadDepthFromFile
def test_load_depth_gives_float_millimetres_in_seg_fields(files):
    results = LoadDepthFromFile()(_results(files['img_path'], files['depth_path']))
    assert results['depth'].dtype == np.float32
    np.testing.assert_array_equal(results['depth'], files['depth'])
    assert results['seg_fields'] == ['depth']


def test_load_depth_missing_file_names_it(files):
    missing = str(files['tmp'] / 'depth' / 'nope.png')
    with pytest.raises(FileNotFoundError, match=r'nope\.png'):
        LoadDepthFromFile()(_results(files['img_path'], missing))


def test_load_depth_rejects_8bit_png_naming_file_and_dtype(files):
    path = _write(files['tmp'] / 'depth8.png', files['depth'].astype(np.uint8))
    with pytest.raises(ValueError, match=r'depth8\.png.*uint8.*16-bit'):
        LoadDepthFromFile()(_results(files['img_path'], path))


def test_load_depth_rejects_size_mismatch_naming_both_files(files):
    path = _write(files['tmp'] / 'small.png', files['depth'][:H - 2, :W - 4])
    with pytest.raises(ValueError,
                       match=rf'small\.png.*{H - 2}x{W - 4}.*rgb\.png.*{H}x{W}'):
        LoadDepthFromFile()(_results(files['img_path'], path))


def test_load_depth_float_file_nan_and_inf_become_zero(files):
    depth = files['depth'].astype(np.float32)
    depth[0, 0], depth[0, 1], depth[0, 2] = np.nan, np.inf, -5
    path = _write(files['tmp'] / 'depth.tiff', depth)
    loaded = LoadDepthFromFile()(_results(files['img_path'], path))['depth']
    assert loaded[0, :3].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(loaded[1:], files['depth'][1:])


# ---------------------------------------------------------- LoadCheckedAnnotations
def test_checked_annotations_reduce_zero_label(files):
    label = np.array([[0, 1, 40, 255]], dtype=np.uint8)
    path = _write(files['tmp'] / 'l.png', label)
    results = LoadCheckedAnnotations()(dict(seg_map_path=path, seg_fields=[],
                                            reduce_zero_label=True, num_classes=40))
    assert results['gt_seg_map'].tolist() == [[255, 0, 39, 255]]
    assert results['seg_fields'] == ['gt_seg_map']


def test_checked_annotations_label_beyond_classes_names_file_and_value(files):
    label = files['label'].copy()
    label[3, 4] = 41
    path = _write(files['tmp'] / 'bad_label.png', label)
    with pytest.raises(ValueError, match=r'bad_label\.png.*value 41.*40 classes'):
        LoadCheckedAnnotations()(dict(seg_map_path=path, seg_fields=[],
                                      reduce_zero_label=True, num_classes=40))
    # An explicit num_classes overrides the dataset's: 13 classes reject 14.
    label13 = np.full((2, 2), 14, np.uint8)
    path13 = _write(files['tmp'] / 'l13.png', label13)
    with pytest.raises(ValueError, match=r'l13\.png.*value 14.*13 classes'):
        LoadCheckedAnnotations(num_classes=13)(dict(
            seg_map_path=path13, seg_fields=[], reduce_zero_label=True))


def test_checked_annotations_rejects_16bit_values_that_would_wrap(files):
    path = _write(files['tmp'] / 'wide.png', np.full((2, 2), 300, np.uint16))
    with pytest.raises(ValueError, match=r'wide\.png.*300'):
        LoadCheckedAnnotations()(dict(seg_map_path=path, seg_fields=[],
                                      reduce_zero_label=True))


# --------------------------------------------------------------------- RandomHSV
def test_random_hsv_changes_only_the_colour_image(files):
    np.random.seed(0)
    depth = files['depth'].astype(np.float32)
    results = dict(img=files['bgr'].copy(), depth=depth.copy(),
                   gt_seg_map=files['label'].copy())
    out = RandomHSV(hue_range=(1.1, 1.1), saturation_range=(0.8, 0.8),
                    value_shift_range=(-20, -20))(results)
    assert out['img'].dtype == np.uint8 and out['img'].shape == (H, W, 3)
    assert np.abs(out['img'].astype(int) - files['bgr']).mean() > 3
    np.testing.assert_array_equal(out['depth'], depth)
    np.testing.assert_array_equal(out['gt_seg_map'], files['label'])
    # Value shifted by -20 grey levels (ESANet's additive V): the brightest channel
    # of every pixel that had 20 to spare drops by 20.
    before, after = files['bgr'].max(-1).astype(int), out['img'].max(-1).astype(int)
    room = before >= 20
    assert np.abs(after[room] - (before[room] - 20)).max() <= 1
    assert (after[~room] <= 1).all()


def test_random_hsv_value_shift_is_uniform_in_grey_levels(files):
    np.random.seed(1)
    grey = np.full((2, 2, 3), 128, np.uint8)  # no hue or saturation to change
    shifts = [int(RandomHSV()(dict(img=grey.copy()))['img'][0, 0, 0]) - 128 for _ in range(400)]
    assert min(shifts) >= -25 and max(shifts) <= 25
    assert min(shifts) < -20 and max(shifts) > 20  # the whole +-25 range is used
    assert abs(np.mean(shifts)) < 3


def test_random_hsv_with_unit_factors_is_identity(files):
    out = RandomHSV((1, 1), (1, 1), (0, 0))(dict(img=files['bgr'].copy()))
    assert np.abs(out['img'].astype(int) - files['bgr']).max() <= 1


def test_random_hsv_rejects_rgbd_input():
    with pytest.raises(ValueError, match='before ConcatRGBD'):
        RandomHSV()(dict(img=np.zeros((4, 4, 4), np.float32)))


# -------------------------------------------------------------------- ConcatRGBD
def test_concat_rgbd_gives_rgb_plus_depth_and_drops_depth_field(files):
    depth = files['depth'].astype(np.float32)
    results = dict(img=files['bgr'], depth=depth,
                   seg_fields=['depth', 'gt_seg_map'])
    out = ConcatRGBD()(results)
    assert out['img'].shape == (H, W, 4) and out['img'].dtype == np.float32
    np.testing.assert_array_equal(out['img'][..., :3], files['bgr'][..., ::-1])
    np.testing.assert_array_equal(out['img'][..., 3], depth)
    assert out['seg_fields'] == ['gt_seg_map'] and 'depth' not in out


def test_concat_rgbd_missing_depth_value_and_nan(files):
    depth = np.array([[0, 1500], [np.nan, 3000]], np.float32)
    out = ConcatRGBD(missing_depth_value=2841.95)(dict(
        img=np.zeros((2, 2, 3), np.uint8), depth=depth, seg_fields=['depth']))
    np.testing.assert_allclose(out['img'][..., 3], [[2841.95, 1500], [2841.95, 3000]])
    kept = ConcatRGBD()(dict(img=np.zeros((2, 2, 3), np.uint8), depth=depth,
                             seg_fields=['depth']))
    assert kept['img'][0, 0, 3] == 0 and kept['img'][1, 0, 3] == 0


def test_concat_rgbd_detects_misaligned_depth(files):
    with pytest.raises(ValueError, match='aligned'):
        ConcatRGBD()(dict(img=files['bgr'], depth=np.zeros((H, W - 1), np.float32),
                          seg_fields=['depth'], img_path='x.png'))


# ------------------------------------------------------------------- alignment
@pytest.fixture
def coordinate_files(tmp_path):
    """RGB, depth and labels that all encode the pixel coordinates."""
    ys, xs = np.mgrid[0:H, 0:W]
    rgb = np.stack([xs * 8, ys * 8, np.full_like(xs, 77)], -1).astype(np.uint8)
    depth = (1000 + 100 * ys + xs).astype(np.uint16)
    label = (1 + (xs // 2) % 40).astype(np.uint8)
    return dict(
        img_path=_write(tmp_path / 'rgb.png', rgb[..., ::-1]),
        depth_path=_write(tmp_path / 'depth.png', depth),
        seg_map_path=_write(tmp_path / 'label.png', label))


def test_depth_stays_aligned_through_resize_crop_and_flip(coordinate_files):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='LoadDepthFromFile'),
        dict(type='LoadCheckedAnnotations'),
        dict(type='RandomResize', scale=(W, H), ratio_range=(1.0, 1.4),
             keep_ratio=True),
        dict(type='RandomCrop', crop_size=(H, W)),
        dict(type='RandomFlip', prob=1.0),
        dict(type='ConcatRGBD'),
    ])
    np.random.seed(1)
    scales = set()
    for _ in range(6):
        out = pipeline(dict(coordinate_files, seg_fields=[], reduce_zero_label=True,
                            num_classes=40, label_map=None))
        rgbd = out['img']
        assert rgbd.shape == (H, W, 4) and out['gt_seg_map'].shape == (H, W)
        scales.add(round(float(out['scale_factor'][0]), 3))
        depth = rgbd[..., 3].astype(int)
        assert depth.min() >= 1000  # depth resized by nearest: only true values
        x_depth, y_depth = (depth - 1000) % 100, (depth - 1000) // 100
        # Labels and depth are both resized by nearest: they agree exactly.
        np.testing.assert_array_equal(out['gt_seg_map'], (x_depth // 2) % 40)
        # The image is resized bilinearly: coordinates agree within a pixel.
        assert np.abs(rgbd[..., 0] / 8 - x_depth).max() <= 1.0
        assert np.abs(rgbd[..., 1] / 8 - y_depth).max() <= 1.0
        # The flip happened: x decreases from left to right.
        assert x_depth[:, 0].mean() > x_depth[:, -1].mean()
    assert len(scales) > 1  # the resize really varied
