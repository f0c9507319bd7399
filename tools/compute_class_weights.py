#!/usr/bin/env python
"""Class weights of an RGB-D segmentation split, computed from its label PNGs as ESANet does.

Reads ``<data-root>/<split>.txt`` and ``<data-root>/<split>/<label-dir>/<name>.png``
(uint8, 0 = void, 1..N = classes; the layout of ``tools/prepare_nyuv2.py``) and
writes ``{"class_weight": [w_1, ..., w_N]}`` (one weight per class, void excluded)
for ``ESANetCrossEntropyLoss``. Modes, with n_c the pixels of class c:

- ``median_frequency`` (ESANet's default): freq_c = n_c / (pixels of the images
  that contain c, all their pixels as ESANet counts them), w_c = median(freq) / freq_c;
- ``linear``: w_c = n_c (ESANet's 'linear' option, as it defines it);
- ``logarithmic``: p_c = n_c / sum(n), w_c = 1 / ln(c + p_c) with ``--c`` (1.02).

Classes absent from the split get weight 0 and are left out of the median (ESANet
stops with an error there, which makes it useless on a subset).

Example::

    python tools/compute_class_weights.py --data-root data/nyuv2 --split train \\
        --mode median_frequency --out data/nyuv2/class_weights_median_frequency.json
"""
import json
import os
import os.path as osp
import re
import sys
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np

from dynmm_plugins.utils.cli import ArgumentParser

PROG = 'compute_class_weights.py'
MODES = ('median_frequency', 'linear', 'logarithmic')


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', required=True, help='prepared data set (e.g. data/nyuv2)')
    parser.add_argument('--split', default='train', help='split file <split>.txt and folder (default: train)')
    parser.add_argument('--label-dir', default='labels_40', help='label folder in the split (default: labels_40)')
    parser.add_argument('--num-classes', type=int,
                        help='classes without void (default: N of --label-dir labels_N)')
    parser.add_argument('--mode', default='median_frequency', choices=MODES)
    parser.add_argument('--c', type=float, default=1.02, help='constant of the logarithmic mode (default: 1.02)')
    parser.add_argument('--out', required=True, help='JSON file to write')
    args = parser.parse_args(argv)
    if args.num_classes is None:
        match = re.fullmatch(r'labels_(\d+)', osp.basename(osp.normpath(args.label_dir)))
        if not match:
            parser.error(f'--num-classes is needed: it cannot be read from --label-dir {args.label_dir}')
        args.num_classes = int(match.group(1))
    if args.num_classes < 1 or args.num_classes > 254:
        parser.error(f'--num-classes must be in 1..254 (uint8 labels with void 0), got {args.num_classes}')
    if args.mode == 'logarithmic' and not args.c > 1:
        parser.error(f'--c must be > 1 (ln(c + p) must be positive), got {args.c}')
    return args


def read_label(path: str) -> np.ndarray:
    """A label PNG as a 2-D uint8 array; one clear error for anything else."""
    import cv2
    if not osp.isfile(path):
        raise FileNotFoundError(f'label file {path} does not exist')
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise ValueError(f'label file {path} is not a readable image')
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f'label file {path} must be a single-channel uint8 PNG (0 = void), '
                         f'got {label.dtype} with shape {label.shape}')
    return label


def count_pixels(data_root: str, split: str, label_dir: str, num_classes: int) -> Dict[str, np.ndarray]:
    """Per class (void first): its pixels, and the pixels of the images that contain it."""
    split_file = osp.join(data_root, f'{split}.txt')
    if not osp.isfile(split_file):
        raise FileNotFoundError(f'split file {split_file} does not exist')
    with open(split_file) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f'split file {split_file} lists no images')
    pixels = np.zeros(num_classes + 1, np.int64)
    image_pixels = np.zeros(num_classes + 1, np.int64)
    for name in names:
        path = osp.join(data_root, split, label_dir, f'{name}.png')
        label = read_label(path)
        counts = np.bincount(label.ravel(), minlength=num_classes + 1)
        if counts.size > num_classes + 1:
            raise ValueError(f'label file {path} holds class {counts.size - 1}, above --num-classes '
                             f'{num_classes}')
        pixels += counts
        image_pixels += (counts > 0) * label.size
    return dict(pixels=pixels[1:], image_pixels=image_pixels[1:], num_images=len(names))


def class_weights(pixels: np.ndarray, image_pixels: np.ndarray, mode: str, c: float = 1.02) -> np.ndarray:
    """ESANet's class weights from the counts (void excluded); absent classes get 0."""
    pixels, image_pixels = np.asarray(pixels, np.float64), np.asarray(image_pixels, np.float64)
    present = pixels > 0
    if not present.any():
        raise ValueError('no labelled pixel in the split: every label is void')
    weights = np.zeros_like(pixels)
    if mode == 'linear':
        weights = pixels.copy()
    elif mode == 'median_frequency':
        frequency = pixels[present] / image_pixels[present]
        weights[present] = np.median(frequency) / frequency
    elif mode == 'logarithmic':
        probability = pixels[present] / pixels.sum()
        weights[present] = 1.0 / np.log(c + probability)
    else:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    return weights


def write_json_atomic(path: str, content: dict) -> None:
    """Write ``content`` to ``path`` via a temporary file: an old file is never left half-written."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.class_weights.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(content, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    counts = count_pixels(args.data_root, args.split, args.label_dir, args.num_classes)
    weights = class_weights(counts['pixels'], counts['image_pixels'], args.mode, args.c)
    absent = [int(i) for i in np.flatnonzero(counts['pixels'] == 0)]
    write_json_atomic(args.out, dict(
        class_weight=[float(w) for w in weights],
        mode=args.mode, c=args.c if args.mode == 'logarithmic' else None,
        data_root=args.data_root, split=args.split, label_dir=args.label_dir, num_images=counts['num_images'],
        absent_classes=absent,  # indices into class_weight (label value - 1)
        pixels_per_class=[int(n) for n in counts['pixels']]))
    print(f'{args.mode} weights of {args.num_classes} classes from {counts["num_images"]} {args.split} '
          f'labels written to {args.out}' + (f'; absent classes (weight 0): {absent}' if absent else ''))
    return 0


def run(argv: Optional[Sequence[str]] = None) -> int:
    """``main`` with the tools' error convention: one line on stderr, exit code 2."""
    try:
        return main(argv)
    except (FileNotFoundError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f'{PROG}: error: {first}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(run())
