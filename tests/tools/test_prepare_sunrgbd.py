"""tools/prepare_sunrgbd.py on a tiny release in SUN RGB-D's own file formats."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

h5py = pytest.importorskip('h5py')
scipy_io = pytest.importorskip('scipy.io')

from helpers.tool_scripts import load_tool  # noqa: E402

TOOL = load_tool('prepare_sunrgbd')
SERVER = '/n/fs/sun3d/data/SUNRGBD/'
# (scene folder, rgb name, depth name, size, in alltrain)
IMAGES = [
    ('kv1/NYUdata/NYU0001', 'NYU0001.jpg', 'NYU0001.png', (24, 32), True),
    ('kv2/kinect2data/000002_2014-05-26', '0000103.jpg', '0000103.png', (20, 28), False),
    ('realsense/lg/2014_10_24-13_35', '0000020.jpg', '0000020.png', (24, 30), True),
]


def write_release(root, labels=None, split_scenes=None):
    """SUNRGBD/ and SUNRGBDtoolbox/ as the official zips unpack, with random content."""
    rng = np.random.default_rng(0)
    data, toolbox = root / 'SUNRGBD', root / 'SUNRGBDtoolbox'
    metas, label_maps = [], []
    for scene, rgbname, depthname, (h, w), _ in IMAGES:
        folder = data / scene
        for sub in ('image', 'depth', 'depth_bfx'):
            (folder / sub).mkdir(parents=True)
        cv2.imwrite(str(folder / 'image' / rgbname), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        mm = rng.integers(500, 10000, (h, w)).astype(np.uint16)
        cv2.imwrite(str(folder / 'depth_bfx' / depthname), (mm << 3) | (mm >> 13))
        raw = np.where(rng.random((h, w)) < 0.2, 0, mm).astype(np.uint16)
        cv2.imwrite(str(folder / 'depth' / depthname), (raw << 3) | (raw >> 13))
        metas.append((f'{SERVER}{scene}/image/{rgbname}', rgbname, depthname))
        label_maps.append(rng.integers(0, 38, (h, w)).astype(np.uint8))
    (toolbox / 'Metadata').mkdir(parents=True)
    (toolbox / 'traintestSUNRGBD').mkdir()
    meta = np.empty((1, len(metas)), dtype=[('rgbpath', 'O'), ('rgbname', 'O'), ('depthname', 'O')])
    for i, entry in enumerate(metas):
        meta[0, i] = entry
    scipy_io.savemat(str(toolbox / 'Metadata/SUNRGBDMeta.mat'), {'SUNRGBDMeta': meta})
    train = split_scenes if split_scenes is not None else [
        f'{SERVER}{s}/' for s, *_, in_train in IMAGES if in_train]
    scipy_io.savemat(str(toolbox / 'traintestSUNRGBD/allsplit.mat'),
                     {'alltrain': np.array(train, dtype=object)})
    label_maps = labels if labels is not None else label_maps
    with h5py.File(toolbox / 'Metadata/SUNRGBD2Dseg.mat', 'w') as f:
        refs = f.create_dataset('SUNRGBD2Dseg/seglabel', (len(label_maps), 1), dtype=h5py.ref_dtype)
        for i, label in enumerate(label_maps):
            # MATLAB v7.3 stores arrays column-major: h5py sees them transposed
            refs[i, 0] = f.create_dataset(f'#refs#/{i}', data=label.T).ref
    return data, toolbox, label_maps


def test_converts_the_release_into_the_nyuv2_layout_as_esanet_splits_it(tmp_path):
    data, toolbox, labels = write_release(tmp_path)
    out = tmp_path / 'out'
    assert TOOL.main(['--sunrgbd-dir', str(data), '--toolbox-dir', str(toolbox),
                      '--out', str(out), '--no-progress']) == 0
    assert (out / 'train.txt').read_text().split() == ['00001', '00003']
    assert (out / 'test.txt').read_text().split() == ['00002']
    for i, (scene, rgbname, depthname, size, in_train) in enumerate(IMAGES):
        name, split = f'{i + 1:05d}', 'train' if in_train else 'test'
        # colour and both depths are copied byte for byte: SUN RGB-D's own scale
        assert (out / split / 'rgb' / f'{name}.jpg').read_bytes() == \
            (data / scene / 'image' / rgbname).read_bytes()
        assert (out / split / 'depth' / f'{name}.png').read_bytes() == \
            (data / scene / 'depth_bfx' / depthname).read_bytes()
        assert (out / split / 'depth_raw' / f'{name}.png').read_bytes() == \
            (data / scene / 'depth' / depthname).read_bytes()
        label = cv2.imread(str(out / split / 'labels_37' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and np.array_equal(label, labels[i])
    assert json.loads((out / 'image_sources.json').read_text())['00002'] == IMAGES[1][0]
    assert not [p for p in os.listdir(out / 'train' / 'rgb') if '.tmp' in p]


def _error(capsys, argv):
    code = TOOL.main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def test_missing_split_file_is_one_line_exit_2(tmp_path, capsys):
    data, toolbox, _ = write_release(tmp_path)
    os.remove(toolbox / 'traintestSUNRGBD/allsplit.mat')
    code, err = _error(capsys, ['--sunrgbd-dir', str(data), '--toolbox-dir', str(toolbox),
                                '--out', str(tmp_path / 'out'), '--no-progress'])
    assert code == 2 and len(err.splitlines()) == 1
    assert 'allsplit.mat: file not found' in err
    assert not osp.exists(tmp_path / 'out' / 'train.txt')


def test_label_map_of_the_wrong_size_names_the_files_and_writes_no_split(tmp_path, capsys):
    bad = [np.zeros((24, 32), np.uint8), np.zeros((5, 5), np.uint8), np.zeros((24, 30), np.uint8)]
    data, toolbox, _ = write_release(tmp_path, labels=bad)
    code, err = _error(capsys, ['--sunrgbd-dir', str(data), '--toolbox-dir', str(toolbox),
                                '--out', str(tmp_path / 'out'), '--no-progress'])
    assert code == 2 and len(err.splitlines()) == 1
    assert 'SUNRGBD2Dseg.mat: seglabel 2 is (5, 5)' in err and '0000103.jpg' in err
    assert not osp.exists(tmp_path / 'out' / 'train.txt')


def test_class_ids_beyond_37_are_refused(tmp_path, capsys):
    bad = [np.full((24, 32), 38, np.uint8), np.zeros((20, 28), np.uint8), np.zeros((24, 30), np.uint8)]
    data, toolbox, _ = write_release(tmp_path, labels=bad)
    code, err = _error(capsys, ['--sunrgbd-dir', str(data), '--toolbox-dir', str(toolbox),
                                '--out', str(tmp_path / 'out'), '--no-progress'])
    assert code == 2 and 'holds class 38, outside 0..37' in err
