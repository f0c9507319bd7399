"""tools/prepare_nyuv2.py on a tiny labelled .mat written the way MATLAB v7.3 does."""
import importlib.util
import os.path as osp

import numpy as np
import pytest

cv2 = pytest.importorskip('cv2')
h5py = pytest.importorskip('h5py')
scipy_io = pytest.importorskip('scipy.io')

from helpers import REPO  # noqa: E402

TOOL = osp.join(REPO, 'tools', 'prepare_nyuv2.py')
N, H, W = 5, 12, 16


def _load_tool():
    spec = importlib.util.spec_from_file_location('prepare_nyuv2', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prep = _load_tool()


@pytest.fixture
def source():
    """The arrays as a user would see them (H, W first), before MATLAB storage."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(N, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.0, size=(N, H, W)).astype(np.float32)
    raw = depth.copy()
    raw[:, :2, :3] = 0  # missing measurements
    raw[0, 5, 5] = np.nan
    labels = rng.integers(0, 895, size=(N, H, W)).astype(np.uint16)
    # classMapping40.mat: 894 entries with ids 1..40 (a fixed pseudo-random table).
    map_class = rng.integers(1, 41, size=(1, 894)).astype(np.float64)
    return dict(rgb=rgb, depth=depth, raw=raw, labels=labels, map_class=map_class)


def _write_inputs(tmp_path, src, train=(1, 3, 4), test=(2, 5), drop_key=None):
    mat = tmp_path / 'nyu_depth_v2_labeled.mat'
    with h5py.File(mat, 'w') as f:
        # MATLAB is column-major: h5py sees every array transposed.
        arrays = dict(images=src['rgb'].transpose(0, 3, 2, 1),
                      depths=src['depth'].transpose(0, 2, 1),
                      rawDepths=src['raw'].transpose(0, 2, 1),
                      labels=src['labels'].transpose(0, 2, 1))
        for key, value in arrays.items():
            if key != drop_key:
                f.create_dataset(key, data=value)
    splits = tmp_path / 'splits.mat'
    scipy_io.savemat(splits, dict(
        trainNdxs=np.array(train, dtype=np.float64)[:, None],
        testNdxs=np.array(test, dtype=np.float64)[:, None]))
    mapping = tmp_path / 'classMapping40.mat'
    class_names = np.empty((1, 40), dtype=object)
    for i in range(40):
        class_names[0, i] = f'class{i + 1}'
    scipy_io.savemat(mapping, dict(mapClass=src['map_class'], className=class_names))
    return str(mat), str(splits), str(mapping)


def _read(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_convert_writes_esanet_layout_with_correct_values(tmp_path, source):
    mat, splits, mapping = _write_inputs(tmp_path, source)
    out = tmp_path / 'nyuv2'
    assert prep.main(['--labeled-mat', mat, '--splits', splits, '--class-mapping',
                      mapping, '--out', str(out), '--no-progress']) == 0

    assert (out / 'train.txt').read_text().split() == ['0001', '0003', '0004']
    assert (out / 'test.txt').read_text().split() == ['0002', '0005']
    map_40 = np.concatenate([[0], source['map_class'][0]]).astype(np.uint8)
    for split, name in (('train', '0003'), ('test', '0005')):
        i = int(name) - 1
        folder = out / split
        rgb = _read(folder / 'rgb' / f'{name}.png')
        np.testing.assert_array_equal(rgb[..., ::-1], source['rgb'][i])
        depth = _read(folder / 'depth' / f'{name}.png')
        assert depth.dtype == np.uint16 and depth.shape == (H, W)
        np.testing.assert_array_equal(
            depth, (source['depth'][i].astype(np.float64) * 1000).astype(np.uint16))
        label_894 = _read(folder / 'labels_894' / f'{name}.png')
        assert label_894.dtype == np.uint16
        np.testing.assert_array_equal(label_894, source['labels'][i])
        label_40 = _read(folder / 'labels_40' / f'{name}.png')
        assert label_40.dtype == np.uint8
        np.testing.assert_array_equal(label_40, map_40[source['labels'][i]])
        assert label_40[source['labels'][i] == 0].max(initial=0) == 0  # void
        label_13 = _read(folder / 'labels_13' / f'{name}.png')
        np.testing.assert_array_equal(label_13, prep.NYU40_TO_13[label_40])
        assert label_13.max() <= 13


def test_raw_depth_keeps_missing_as_zero_and_nan_becomes_zero(tmp_path, source):
    mat, splits, mapping = _write_inputs(tmp_path, source)
    out = tmp_path / 'nyuv2'
    prep.convert(mat, splits, mapping, str(out), progress=False)
    raw = _read(out / 'train' / 'depth_raw' / '0001.png')
    assert raw.dtype == np.uint16
    assert (raw[:2, :3] == 0).all()
    assert raw[5, 5] == 0  # NaN in the .mat
    assert raw[6, 6] == int(source['raw'][0, 6, 6].astype(np.float64) * 1000)


def test_depth_to_mm_sanitises_and_clips():
    mm = prep.depth_to_mm(np.array([np.nan, np.inf, -1.0, 1.2345, 70.0]))
    np.testing.assert_array_equal(mm, [0, 0, 0, 1234, 65535])


def test_nyu40_to_13_table_matches_the_toolkit_mapping():
    # A few rows of class13Mapping.mat: wall->wall, floor->floor, bed->bed,
    # television->tv, books->books, otherprop->objects.
    assert len(prep.NYU40_TO_13) == 41 and prep.NYU40_TO_13[0] == 0
    for id40, id13 in ((1, 12), (2, 5), (4, 1), (25, 11), (23, 2), (40, 7)):
        assert prep.NYU40_TO_13[id40] == id13
    assert set(prep.NYU40_TO_13[1:]) == set(range(1, 14))
    # The synthetic generator holds the same table (the tool is self-contained).
    from dynmm_plugins.datasets.synthetic_rgbd import NYU40_TO_13
    np.testing.assert_array_equal(NYU40_TO_13, prep.NYU40_TO_13)


def test_missing_mat_dataset_is_named(tmp_path, source):
    mat, splits, mapping = _write_inputs(tmp_path, source, drop_key='rawDepths')
    with pytest.raises(prep.PrepareError,
                       match=r'nyu_depth_v2_labeled\.mat.*rawDepths'):
        prep.convert(mat, splits, mapping, str(tmp_path / 'out'), progress=False)


def test_split_index_out_of_range_is_named(tmp_path, source):
    mat, splits, mapping = _write_inputs(tmp_path, source, test=(2, 6))
    with pytest.raises(prep.PrepareError, match=r'splits\.mat.*testNdxs.*6'):
        prep.convert(mat, splits, mapping, str(tmp_path / 'out'), progress=False)
    assert not (tmp_path / 'out' / 'train.txt').exists()


def test_missing_class_mapping_variable_is_named(tmp_path, source):
    mat, splits, _ = _write_inputs(tmp_path, source)
    bad = tmp_path / 'wrong.mat'
    scipy_io.savemat(bad, dict(somethingElse=np.zeros((1, 3))))
    with pytest.raises(prep.PrepareError, match=r'wrong\.mat.*mapClass'):
        prep.convert(mat, splits, str(bad), str(tmp_path / 'out'), progress=False)


def test_not_an_hdf5_file_and_missing_file_give_clear_errors(tmp_path, source, capsys):
    _, splits, mapping = _write_inputs(tmp_path, source)
    fake = tmp_path / 'fake.mat'
    fake.write_bytes(b'MATLAB 5.0 MAT-file, not HDF5')
    with pytest.raises(prep.PrepareError, match=r'fake\.mat.*HDF5'):
        prep.convert(str(fake), splits, mapping, str(tmp_path / 'o'), progress=False)
    assert prep.main(['--labeled-mat', str(tmp_path / 'nope.mat'), '--splits', splits,
                      '--class-mapping', mapping, '--out', str(tmp_path / 'o'),
                      '--no-progress']) == 2
    assert 'nope.mat: file not found' in capsys.readouterr().err


def test_interrupted_run_leaves_no_split_file(tmp_path, source, monkeypatch):
    mat, splits, mapping = _write_inputs(tmp_path, source)
    out = tmp_path / 'nyuv2'
    real_write = prep._write_png
    calls = []

    def failing_write(path, array):
        calls.append(path)
        if len(calls) == 8:  # in the middle of the second training image
            raise KeyboardInterrupt
        real_write(path, array)

    monkeypatch.setattr(prep, '_write_png', failing_write)
    with pytest.raises(KeyboardInterrupt):
        prep.convert(mat, splits, mapping, str(out), progress=False)
    assert not (out / 'train.txt').exists() and not (out / 'test.txt').exists()
    assert not list(out.rglob('*.tmp*'))
