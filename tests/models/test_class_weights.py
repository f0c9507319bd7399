"""Class weights from label PNGs and ESANet's weighted loss, against a NumPy re-derivation."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import dynmm_plugins  # noqa: F401  (registers the modules)
from dynmm_plugins.models.decode_heads import ESANetHead
from dynmm_plugins.models.losses import ESANetCrossEntropyLoss
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData

from helpers import REPO  # noqa: E402

ROOT = Path(REPO)
NUM_CLASSES = 6


def tool(*args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / 'tools/compute_class_weights.py'), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def labels(tmp_path):
    """A train split of labels_6 PNGs (uint8, 0 = void): class 4 never appears, class 6 in one image."""
    rng = np.random.default_rng(0)
    root = tmp_path / 'nyu'
    (root / 'train' / 'labels_6').mkdir(parents=True)
    arrays = {}
    for i, (h, w) in enumerate([(12, 16), (20, 10), (8, 8), (16, 16)]):
        label = rng.choice([0, 1, 2, 3, 5], size=(h, w), p=[0.2, 0.4, 0.2, 0.1, 0.1]).astype(np.uint8)
        if i == 2:
            label[:2, :3] = 6
        name = f'{i:04d}'
        cv2.imwrite(str(root / 'train' / 'labels_6' / f'{name}.png'), label)
        arrays[name] = label
    (root / 'train.txt').write_text('\n'.join(arrays) + '\n')
    return root, arrays


def numpy_weights(arrays, mode, c=1.02):
    """ESANet's compute_class_weights, re-derived: counts over the classes 1..N."""
    n = np.zeros(NUM_CLASSES)
    image_pixels = np.zeros(NUM_CLASSES)
    for label in arrays.values():
        for cls in range(1, NUM_CLASSES + 1):
            count = np.sum(label == cls)
            n[cls - 1] += count
            image_pixels[cls - 1] += label.size if count else 0
    present = n > 0
    out = np.zeros(NUM_CLASSES)
    if mode == 'median_frequency':
        freq = n[present] / image_pixels[present]
        out[present] = np.median(freq) / freq
    elif mode == 'logarithmic':
        out[present] = 1 / np.log(c + n[present] / n.sum())
    else:
        out = n
    return out


@pytest.mark.parametrize('mode,extra', [('median_frequency', ()), ('linear', ()),
                                        ('logarithmic', ('--c', 1.02)), ('logarithmic', ('--c', 1.5))])
def test_tool_writes_esanets_weights(labels, tmp_path, mode, extra):
    root, arrays = labels
    out = tmp_path / 'weights.json'
    proc = tool('--data-root', root, '--split', 'train', '--label-dir', 'labels_6', '--mode', mode, *extra,
                '--out', out)
    assert proc.returncode == 0, proc.stderr
    content = json.loads(out.read_text())
    c = float(extra[1]) if extra else 1.02
    np.testing.assert_allclose(content['class_weight'], numpy_weights(arrays, mode, c), rtol=1e-12)
    assert content['class_weight'][3] == 0 and content['absent_classes'] == [3]


def test_absent_class_is_left_out_of_the_median(labels, tmp_path):
    root, arrays = labels
    out = tmp_path / 'w.json'
    assert tool('--data-root', root, '--label-dir', 'labels_6', '--out', out).returncode == 0
    weights = np.array(json.loads(out.read_text())['class_weight'])
    present = weights > 0
    assert present.sum() == 5
    # the class at the median frequency gets weight 1 (5 present classes: an odd count)
    assert np.isclose(np.sort(weights[present])[2], 1.0)


@pytest.mark.parametrize('problem,expected', [
    ('no_split_file', 'split file'),
    ('bad_class', 'holds class 9, above --num-classes 6'),
    ('rgb_label', 'single-channel uint8'),
])
def test_bad_input_is_one_line_and_exit_code_2(labels, tmp_path, problem, expected):
    root, _ = labels
    out = tmp_path / 'w.json'
    out.write_text('{"class_weight": [1]}')
    if problem == 'no_split_file':
        (root / 'train.txt').unlink()
    elif problem == 'bad_class':
        cv2.imwrite(str(root / 'train/labels_6/0001.png'), np.full((4, 4), 9, np.uint8))
    else:
        cv2.imwrite(str(root / 'train/labels_6/0001.png'), np.ones((4, 4, 3), np.uint8))
    proc = tool('--data-root', root, '--label-dir', 'labels_6', '--out', out)
    assert proc.returncode == 2 and expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and 'Traceback' not in proc.stderr
    assert out.read_text() == '{"class_weight": [1]}'  # nothing already written is touched


def numpy_weighted_ce(logits, label, weights, ignore=255):
    """sum_i w[y_i] * -log softmax(x_i)[y_i] / sum_i w[y_i] over valid pixels."""
    logits = logits.astype(np.float64)
    log_p = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - logits.max(1, keepdims=True)
    total, divisor = 0.0, 0.0
    for n, y, x in zip(*np.nonzero(label != ignore)):
        total += weights[label[n, y, x]] * -log_p[n, label[n, y, x], y, x]
        divisor += weights[label[n, y, x]]
    return total / divisor


def test_loss_is_the_weighted_sum_over_the_weighted_pixel_count(tmp_path):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, NUM_CLASSES, 5, 7)).astype(np.float32)
    label = rng.integers(0, NUM_CLASSES, (2, 5, 7))
    label[0, :2] = 255
    weights = rng.uniform(0.2, 3.0, NUM_CLASSES)
    path = tmp_path / 'w.json'
    path.write_text(json.dumps({'class_weight': weights.tolist()}))
    for class_weight in (weights.tolist(), str(path)):
        loss = ESANetCrossEntropyLoss(class_weight=class_weight)(torch.tensor(logits), torch.tensor(label))
        assert loss.item() == pytest.approx(numpy_weighted_ce(logits, label, weights), rel=1e-5)


def test_missing_weight_file_builds_then_says_how_to_make_it(tmp_path):
    loss = ESANetCrossEntropyLoss(class_weight=str(tmp_path / 'weights.json'))
    with pytest.raises(FileNotFoundError, match='compute_class_weights.py'):
        loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    wrong = tmp_path / 'three.json'
    wrong.write_text('{"class_weight": [1, 2, 3]}')
    with pytest.raises(ValueError, match='has 3 class weights, the model predicts 4'):
        ESANetCrossEntropyLoss(class_weight=str(wrong))(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2).long())


def test_head_losses_per_scale_against_nearest_downsampled_labels():
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')  # the head builds its loss from mmseg's registry, whatever ran before
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    weights = rng.uniform(0.2, 3.0, NUM_CLASSES)
    head = ESANetHead(in_channels=32, channels=8, decoder_channels=(16, 8, 8), num_decoder_blocks=(1, 1, 1),
                      num_classes=NUM_CLASSES,
                      loss_decode=dict(type='ESANetCrossEntropyLoss', class_weight=weights.tolist()))
    label = rng.integers(0, NUM_CLASSES, (2, 64, 96))
    label[:, :8] = 255
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.tensor(l[None]))) for l in label]
    main = torch.randn(2, NUM_CLASSES, 64, 96)
    sides = [torch.randn(2, NUM_CLASSES, 64 // s, 96 // s) for s in (32, 16, 8)]
    losses = head.loss_by_feat((main, *sides), samples)
    assert losses['loss_ce'].item() == pytest.approx(numpy_weighted_ce(main.numpy(), label, weights), rel=1e-5)
    for side, stride in zip(sides, (32, 16, 8)):
        small = label[:, ::stride, ::stride]  # nearest neighbour, as ESANet's cv2.INTER_NEAREST
        assert losses[f'loss_side_s{stride}'].item() == pytest.approx(
            numpy_weighted_ce(side.numpy(), small, weights), rel=1e-5)
