"""The synthetic RGB-D generator: layout, determinism and the depth-needing property."""
import hashlib
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

cv2 = pytest.importorskip('cv2')

from dynmm_plugins.datasets.synthetic_rgbd import (  # noqa: E402
    CLASS_COLOURS,
    NYU40_TO_13,
    OBJECT_CLASSES,
    make_synthetic_rgbd,
)

from helpers import REPO as ROOT  # noqa: E402
H, W = 48, 64


def _digest(folder):
    """SHA-256 over every file (relative path and bytes) under ``folder``."""
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob('*') if p.is_file()):
        sha.update(str(path.relative_to(folder)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def _read(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def _rgb_lookup_accuracy(rgb, labels):
    """Accuracy of the best per-pixel RGB -> label lookup fitted on the image."""
    keys = (rgb.astype(np.int64) * [65536, 256, 1]).sum(-1).ravel()
    pairs = np.stack([keys, labels.ravel().astype(np.int64)], 1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    # For each RGB value keep its most frequent label.
    order = np.lexsort((-counts, uniq[:, 0]))
    first = np.ones(len(order), dtype=bool)
    first[1:] = uniq[order[1:], 0] != uniq[order[:-1], 0]
    return counts[order][first].sum() / keys.size


@pytest.fixture(scope='module')
def dataset(module_mktemp):
    out = module_mktemp('synthetic')
    kinds = make_synthetic_rgbd(str(out), num_train=16, num_test=8, height=H,
                                width=W, depth_only_ratio=0.5, seed=3)
    return out, kinds


def test_writes_nyuv2_layout(dataset):
    out, kinds = dataset
    names = (out / 'train.txt').read_text().split()
    assert names == [f'{i:04d}' for i in range(1, 17)]
    assert (out / 'test.txt').read_text().split() == [
        f'{i:04d}' for i in range(17, 25)]
    assert json.loads((out / 'scene_kinds.json').read_text()) == kinds
    for split, first in (('train', '0001'), ('test', '0017')):
        rgb = _read(out / split / 'rgb' / f'{first}.png')
        depth = _read(out / split / 'depth' / f'{first}.png')
        label_40 = _read(out / split / 'labels_40' / f'{first}.png')
        label_13 = _read(out / split / 'labels_13' / f'{first}.png')
        assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
        assert depth.shape == (H, W) and depth.dtype == np.uint16
        assert 500 <= depth.min() and depth.max() <= 10000  # realistic mm
        assert label_40.dtype == np.uint8
        assert set(np.unique(label_40)) <= set(CLASS_COLOURS)
        assert 0 not in label_40  # every pixel is labelled
        np.testing.assert_array_equal(label_13, NYU40_TO_13[label_40])


def test_several_classes_and_varied_layouts(dataset):
    out, _ = dataset
    labels = [_read(p) for p in sorted((out / 'train' / 'labels_40').glob('*.png'))]
    present = set(np.unique(np.stack(labels)))
    assert len(present & set(OBJECT_CLASSES)) >= 4
    assert len({label.tobytes() for label in labels}) == len(labels)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    args = dict(num_train=4, num_test=2, height=24, width=32)
    make_synthetic_rgbd(str(tmp_path / 'a'), seed=7, **args)
    make_synthetic_rgbd(str(tmp_path / 'b'), seed=7, **args)
    make_synthetic_rgbd(str(tmp_path / 'c'), seed=8, **args)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    assert _digest(tmp_path / 'a') != _digest(tmp_path / 'c')
    rgb_a = _read(tmp_path / 'a' / 'train' / 'rgb' / '0001.png')
    rgb_c = _read(tmp_path / 'c' / 'train' / 'rgb' / '0001.png')
    assert not np.array_equal(rgb_a, rgb_c)


@pytest.mark.parametrize('ratio, expected', [(0.5, (8, 4)), (0.25, (4, 2)),
                                             (0.0, (0, 0)), (1.0, (16, 8))])
def test_proportion_of_depth_scenes_follows_the_flag(tmp_path, ratio, expected):
    kinds = make_synthetic_rgbd(str(tmp_path), num_train=16, num_test=8, height=16,
                                width=16, depth_only_ratio=ratio)
    counts = tuple(sum(k == 'depth' for k in kinds[s].values())
                   for s in ('train', 'test'))
    assert counts == expected
    assert set(kinds['train'].values()) <= {'rgb', 'depth'}


def test_rgb_determines_labels_only_on_rgb_scenes(dataset):
    out, kinds = dataset
    accuracy = {'rgb': [], 'depth': []}
    for split, names in kinds.items():
        for name, kind in names.items():
            rgb = _read(out / split / 'rgb' / f'{name}.png')
            labels = _read(out / split / 'labels_40' / f'{name}.png')
            accuracy[kind].append(_rgb_lookup_accuracy(rgb, labels))
            if kind == 'depth':
                # Some RGB value is shared by an object and the background.
                keys = (rgb.astype(np.int64) * [65536, 256, 1]).sum(-1)
                is_obj = np.isin(labels, list(OBJECT_CLASSES))
                assert np.isin(keys[is_obj], keys[~is_obj]).mean() > 0.5
    assert len(accuracy['rgb']) == len(accuracy['depth']) == 12
    # An RGB -> label lookup fitted on the image itself is perfect on 'rgb' scenes...
    assert min(accuracy['rgb']) == 1.0
    # ...and clearly not on 'depth' scenes, where objects are invisible in RGB.
    assert max(accuracy['depth']) < 0.97
    assert np.mean(accuracy['depth']) < 0.9


def test_depth_reveals_objects_in_depth_scenes(dataset):
    out, kinds = dataset
    gaps = []
    for name, kind in kinds['train'].items():
        if kind != 'depth':
            continue
        depth = _read(out / 'train' / 'depth' / f'{name}.png').astype(np.float64)
        labels = _read(out / 'train' / 'labels_40' / f'{name}.png')
        background = np.isin(labels, [1, 2])
        # Horizontal neighbours where the background meets an object.
        step = depth[:, 1:] - depth[:, :-1]
        gaps.append(step[background[:, :-1] & ~background[:, 1:]] * -1)
        gaps.append(step[~background[:, :-1] & background[:, 1:]])
    gaps = np.concatenate(gaps)
    assert gaps.size > 100
    # Every object stands at least 200 mm in front of the floor's nearest point (and
    # of any farther object), up to sensor noise: depth alone shows its outline.
    assert gaps.min() > 150


def test_depth_alone_determines_the_class(dataset):
    """Object pixels lie in their class's depth band; band and outline identify the class."""
    out, kinds = dataset
    bands = {cls: band for cls, (_, _, band) in OBJECT_CLASSES.items()}
    for split, names in kinds.items():
        for name in names:
            depth = _read(out / split / 'depth' / f'{name}.png').astype(np.float64)
            labels = _read(out / split / 'labels_40' / f'{name}.png')
            for cls, (lo, hi) in bands.items():
                values = depth[labels == cls]
                if values.size:
                    # sensor noise: std 4e-7 d^2 (1.1 mm at 1.2 m, 3.1 mm at 2.8 m)
                    assert lo - 20 <= values.min() and values.max() <= hi + 20, (name, cls)
            background = depth[np.isin(labels, [1, 2])]
            assert background.min() > max(hi for _, hi in bands.values()) + 100
    # two classes per band, told apart by their outline
    pairs = {}
    for cls, (_, outline, band) in OBJECT_CLASSES.items():
        pairs.setdefault(band, set()).add(outline)
    assert all(outlines == {'rectangle', 'ellipse'} for outlines in pairs.values())


def test_validation_split_leaves_train_and_test_unchanged(tmp_path):
    args = dict(num_train=4, num_test=2, height=24, width=32, seed=5)
    make_synthetic_rgbd(str(tmp_path / 'a'), **args)
    kinds = make_synthetic_rgbd(str(tmp_path / 'b'), num_val=4, **args)
    assert (tmp_path / 'b' / 'val.txt').read_text().split() == ['0007', '0008', '0009', '0010']
    assert sorted(kinds['val'].values()) == ['depth', 'depth', 'rgb', 'rgb']
    for split in ('train', 'test'):
        assert _digest(tmp_path / 'a' / split) == _digest(tmp_path / 'b' / split)
    assert not (tmp_path / 'a' / 'val.txt').exists()
    meta = json.loads((tmp_path / 'b' / 'synthetic_rgbd.json').read_text())
    assert meta['num_val'] == 4


def test_cli_writes_dataset(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'make_synthetic_rgbd', osp.join(ROOT, 'tools', 'make_synthetic_rgbd.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--out', str(tmp_path), '--num-train', '3', '--num-test', '1',
                      '--height', '24', '--width', '32', '--depth-only-ratio',
                      '0.34', '--seed', '1', '--num-val', '2', '--no-progress']) == 0
    kinds = json.loads((tmp_path / 'scene_kinds.json').read_text())
    assert list(kinds['train'].values()).count('depth') == 1
    assert len((tmp_path / 'test.txt').read_text().split()) == 1
    assert len(kinds['val']) == 2


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='depth_only_ratio'):
        make_synthetic_rgbd(str(tmp_path), depth_only_ratio=1.5)
    with pytest.raises(ValueError, match='must be >= 1: an empty split'):
        make_synthetic_rgbd(str(tmp_path), num_train=0, num_test=0)
    with pytest.raises(ValueError, match='num_val'):
        make_synthetic_rgbd(str(tmp_path), num_val=-1)
    with pytest.raises(ValueError, match='rgb_scene_depth'):
        make_synthetic_rgbd(str(tmp_path), rgb_scene_depth='flat')
    with pytest.raises(ValueError, match="scene_classes.*'some'"):
        make_synthetic_rgbd(str(tmp_path), scene_classes='some')


def test_rgb_scene_depth_background_hides_objects_from_depth_in_rgb_scenes_only(tmp_path):
    """The demo's set: 'rgb' scene objects leave depth as wall and floor; nothing else changes."""
    from dynmm_plugins.datasets.synthetic_rgbd import render_scene
    top = max(hi for _, _, (_, hi) in OBJECT_CLASSES.values())
    for index in range(6):
        rgb_objects, rgb_flat = (render_scene(np.random.default_rng([0, index]), H, W, 'rgb',
                                              rgb_scene_depth=mode) for mode in ('objects', 'background'))
        for key in ('rgb', 'labels_40', 'labels_13'):
            assert np.array_equal(rgb_objects[key], rgb_flat[key]), key
        is_obj = ~np.isin(rgb_flat['labels_40'], [1, 2])
        assert is_obj.any()
        assert np.array_equal(rgb_objects['depth'][~is_obj], rgb_flat['depth'][~is_obj])
        assert rgb_objects['depth'][is_obj].max() <= top + 20  # in front, as in 'depth' scenes
        assert rgb_flat['depth'].min() > top + 100  # wall and floor only: no object in depth
        depth_scene = [render_scene(np.random.default_rng([1, index]), H, W, 'depth', rgb_scene_depth=mode)
                       for mode in ('objects', 'background')]
        assert all(np.array_equal(depth_scene[0][k], depth_scene[1][k]) for k in depth_scene[0])
    make_synthetic_rgbd(str(tmp_path), num_train=2, num_test=1, height=H, width=W,
                        rgb_scene_depth='background')
    assert json.loads((tmp_path / 'synthetic_rgbd.json').read_text())['rgb_scene_depth'] == 'background'


def test_scene_classes_by_kind_keep_depth_scenes_to_one_class_per_depth_band(tmp_path):
    """The demo's set: 'depth' scenes hold one class per depth band, 'rgb' scenes all six."""
    from dynmm_plugins.datasets.synthetic_rgbd import CLASSES_BY_KIND
    depth_classes, rgb_classes = CLASSES_BY_KIND['depth'], CLASSES_BY_KIND['rgb']
    assert set(rgb_classes) == set(OBJECT_CLASSES) and len(depth_classes) == 3
    bands = sorted(OBJECT_CLASSES[c][2] for c in depth_classes)
    assert all(hi < lo for (_, hi), (lo, _) in zip(bands, bands[1:]))  # one class per band
    kinds = make_synthetic_rgbd(str(tmp_path), num_train=12, num_test=4, height=H, width=W,
                                rgb_scene_depth='background', scene_classes='by_kind', seed=5)
    seen = {'rgb': set(), 'depth': set()}
    for split in ('train', 'test'):
        for name, kind in kinds[split].items():
            labels = _read(tmp_path / split / 'labels_40' / f'{name}.png')
            depth = _read(tmp_path / split / 'depth' / f'{name}.png').astype(np.int64)
            objects = set(np.unique(labels).tolist()) - {1, 2}
            assert objects <= set(CLASSES_BY_KIND[kind]), (name, kind, objects)
            seen[kind] |= objects
            if kind == 'depth':  # the band alone gives the class
                for cls in objects:
                    lo, hi = OBJECT_CLASSES[cls][2]
                    pixels = depth[labels == cls]
                    assert pixels.min() >= lo - 20 and pixels.max() <= hi + 20, (name, cls)
    assert seen['depth'] == set(depth_classes)
    assert seen['rgb'] & set(depth_classes) and seen['rgb'] - set(depth_classes)  # any of six
    meta = json.loads((tmp_path / 'synthetic_rgbd.json').read_text())
    assert meta['scene_classes'] == 'by_kind'
    assert meta['classes_by_kind']['depth'] == [str(c) for c in depth_classes]


def test_depth_scene_light_dims_the_colours_of_depth_scenes_only():
    """The demo's set: 'depth' scenes in a dim room (RGB still blind to their objects)."""
    from dynmm_plugins.datasets.synthetic_rgbd import render_scene
    for kind in ('depth', 'rgb'):
        bright, dim = (render_scene(np.random.default_rng([4, kind == 'rgb']), H, W, kind,
                                    depth_scene_light=light) for light in (1.0, 0.5))
        for key in ('depth', 'labels_40', 'labels_13'):
            assert np.array_equal(bright[key], dim[key]), (kind, key)
        if kind == 'rgb':
            assert np.array_equal(bright['rgb'], dim['rgb'])
        else:
            expected = np.rint(bright['rgb'].astype(np.float64) * 0.5)
            assert np.abs(dim['rgb'] - expected).max() <= 1
            # still a function of wall and floor alone: one colour set per background class
            assert _rgb_lookup_accuracy(dim['rgb'], np.isin(dim['labels_40'], [1, 2])) < 1
    for light in (0.0, 1.5):
        with pytest.raises(ValueError, match='depth_scene_light'):
            render_scene(np.random.default_rng(0), H, W, 'depth', depth_scene_light=light)
