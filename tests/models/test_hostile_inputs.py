"""Hostile inputs get one clear message naming the file, key or value (README table)."""
import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')
from mmcv.transforms import LoadImageFromFile  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

from dynmm_plugins.datasets.transforms import LoadCheckedAnnotations  # noqa: E402
from helpers.tiny_dynmm import build_tiny  # noqa: E402


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def _truncated_png(path, array):
    cv2.imwrite(str(path), array)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return str(path)


def test_truncated_rgb_png_is_named(tmp_path):
    path = _truncated_png(tmp_path / 'rgb.png', np.full((24, 32, 3), 7, np.uint8))
    with pytest.raises(AssertionError, match=f'failed to load image: {path}'):
        LoadImageFromFile()(dict(img_path=path))


def test_truncated_label_png_is_named(tmp_path):
    path = _truncated_png(tmp_path / 'label.png', np.random.default_rng(0).integers(0, 40, (24, 32)).astype(np.uint8))
    with pytest.raises(ValueError, match=f"label image '{path}' is corrupt or truncated"):
        LoadCheckedAnnotations()(dict(seg_map_path=path, seg_fields=[], reduce_zero_label=True,
                                      num_classes=40, label_map=None))


@pytest.fixture
def model():
    """A fresh tiny model per test: some tests load checkpoints into it."""
    torch.manual_seed(0)
    return build_tiny()


def test_checkpoint_of_another_architecture_is_refused(model, tmp_path):
    other = build_tiny(backbone=dict(type='DynMMRGBDResNet', depth=34, gate=dict(type='DynMMGlobalGate')))
    path = tmp_path / 'r34.pth'
    torch.save(dict(state_dict=other.state_dict()), path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match='checkpoint does not fit this DynMMEncoderDecoder'):
        load_checkpoint(model, str(path), map_location='cpu')
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing half-loaded


def test_static_checkpoint_may_initialise_a_dynamic_model(model, tmp_path):
    static = build_tiny(loss_resource=None,
                        backbone=dict(type='DynMMRGBDResNet', depth=18, gate=None))
    path = tmp_path / 'static.pth'
    torch.save(dict(state_dict=static.state_dict()), path)
    load_checkpoint(model, str(path), map_location='cpu')  # only the gate stays as it was
    key = 'decode_head.conv_seg.weight'
    assert torch.equal(model.state_dict()[key], static.state_dict()[key])


def test_truncated_checkpoint_is_named(model, tmp_path):
    path = tmp_path / 'iter_8.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match=f'checkpoint {path} is truncated'):
        load_checkpoint(model, str(path), map_location='cpu')


def test_missing_checkpoint_is_named(model, tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_checkpoint(model, str(tmp_path / 'nothing.pth'))
