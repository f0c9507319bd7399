#!/usr/bin/env python
"""Convert the official NYU Depth v2 labelled set into the layout DynMM reads.

Inputs are files you downloaded yourself; this tool never downloads anything:

- ``nyu_depth_v2_labeled.mat``: the labelled set, a MATLAB v7.3 (HDF5) file. MATLAB
  stores arrays column-major, so h5py sees them transposed: ``images`` is
  (N, 3, W, H) uint8, ``depths``/``rawDepths`` are (N, W, H) float metres and
  ``labels`` is (N, W, H) with 894 classes (0 = void).
- ``splits.mat``: ``trainNdxs`` and ``testNdxs``, 1-based indices into the labelled set
  (795 train / 654 test in the standard split).
- ``classMapping40.mat``: ``mapClass``, a 1 x 894 table of 40-class ids for the 894
  classes (the file ESANet and the nyuv2-python-toolkit use).

Output (the layout ESANet prepares; names are the 1-based indices, ``%04d``)::

    <out>/train.txt, <out>/test.txt
    <out>/{train,test}/rgb/NNNN.png          8-bit colour
    <out>/{train,test}/depth/NNNN.png        uint16 mm, from ``depths`` (in-painted)
    <out>/{train,test}/depth_raw/NNNN.png    uint16 mm, from ``rawDepths`` (0 = missing)
    <out>/{train,test}/labels_894/NNNN.png   uint16, 0 = void
    <out>/{train,test}/labels_40/NNNN.png    uint8, 0 = void, 1..40
    <out>/{train,test}/labels_13/NNNN.png    uint8, 0 = void, 1..13

Depth is converted from metres to whole millimetres by truncation, as ESANet does;
NaN, infinite and negative values become 0 (missing) and values above 65.535 m are
clipped. Every file is written to a temporary name and renamed, and the split files
come last, so an interrupted run never leaves a split file that lists missing or
half-written images.

Example::

    python tools/prepare_nyuv2.py --labeled-mat nyu_depth_v2_labeled.mat \
        --splits splits.mat --class-mapping classMapping40.mat --out data/nyuv2
"""
import os
import os.path as osp
import sys
from typing import Dict, Sequence

import cv2
import numpy as np

from dynmm_plugins.utils.cli import ArgumentParser, run_tool
from dynmm_plugins.utils.errors import DynMMUserError as PrepareError  # bad input: one line, exit code 2
from dynmm_plugins.utils.io import write_file_atomic as _write_atomic
from dynmm_plugins.utils.progress import progress_bar

MAT_KEYS = ('images', 'depths', 'rawDepths', 'labels')
SPLITS = ('train', 'test')
SPLIT_KEYS = {'train': 'trainNdxs', 'test': 'testNdxs'}

# NYUv2 40-class id -> 13-class id, index 0 = void. This is the table
# ``classMapping13.labels13`` stored in ``class13Mapping.mat`` of the
# nyuv2-python-toolkit (github.com/VainF/nyuv2-python-toolkit), the file ESANet's
# src/datasets/nyuv2/prepare_dataset.py loads; it is 40 numbers, so it lives here as
# data instead of being another input file.
NYU40_TO_13 = np.array(
    [0, 12, 5, 6, 1, 4, 9, 10, 12, 13, 6, 8, 6, 13, 10, 6, 13, 6, 7, 7, 5, 7, 3, 2, 6,
     11, 7, 7, 7, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7, 6, 7],
    dtype=np.uint8)


def _load_small_mat(path: str, keys: Sequence[str]) -> Dict[str, np.ndarray]:
    """Read numeric variables from a MATLAB file (v5 via scipy, v7.3 via h5py)."""
    if not osp.isfile(path):
        raise PrepareError(f'{path}: file not found')
    try:
        from scipy.io import loadmat
    except ImportError:  # h5py can still read MATLAB v7.3 files
        loadmat = None
    content = None
    if loadmat is not None:
        try:
            content = loadmat(path, variable_names=list(keys))
        except NotImplementedError:  # MATLAB v7.3, an HDF5 file: h5py below
            content = None
        except Exception as err:  # scipy raises several types for bad files
            raise PrepareError(
                f'{path}: not a readable MATLAB file ({err})') from err
    if content is None:
        import h5py
        try:
            with h5py.File(path, 'r') as f:
                # h5py sees MATLAB arrays transposed.
                content = {k: np.asarray(f[k]).T for k in keys if k in f}
        except OSError as err:
            raise PrepareError(
                f'{path}: not a readable MATLAB file ({err})') from err
    missing = [k for k in keys if k not in content]
    if missing:
        raise PrepareError(f'{path}: variable(s) {missing} not found')
    return {k: np.asarray(content[k]) for k in keys}


def load_splits(path: str, num_images: int) -> Dict[str, np.ndarray]:
    """1-based image indices of the train and test split from ``splits.mat``."""
    content = _load_small_mat(path, list(SPLIT_KEYS.values()))
    splits = {}
    for split, key in SPLIT_KEYS.items():
        values = content[key].ravel()
        if values.size == 0:
            raise PrepareError(f'{path}: {key} is empty')
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise PrepareError(f'{path}: {key} holds non-integer indices')
        idx = values.astype(np.int64)
        bad = idx[(idx < 1) | (idx > num_images)]
        if bad.size:
            raise PrepareError(
                f'{path}: {key} holds index {int(bad[0])}, outside 1..{num_images} '
                '(the indices are 1-based into the labelled .mat file)')
        splits[split] = idx
    overlap = np.intersect1d(splits['train'], splits['test'])
    if overlap.size:
        raise PrepareError(f'{path}: image {int(overlap[0])} is in both trainNdxs '
                           'and testNdxs')
    return splits


def load_class_mapping(path: str) -> np.ndarray:
    """Lookup table 894-class id -> 40-class id (index 0 = void -> 0)."""
    map_class = _load_small_mat(path, ['mapClass'])['mapClass'].ravel()
    if map_class.size == 0:
        raise PrepareError(f'{path}: mapClass is empty')
    if (not np.all(np.isfinite(map_class)) or map_class.min() < 0
            or map_class.max() > 40 or np.any(map_class != np.round(map_class))):
        raise PrepareError(f'{path}: mapClass must hold class ids in 0..40')
    return np.concatenate([[0], map_class]).astype(np.uint8)


def depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """Metres (float) -> uint16 millimetres; NaN, inf and negatives become 0."""
    depth = np.nan_to_num(np.asarray(depth_m, dtype=np.float64) * 1000.0,
                          nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(depth, 0, np.iinfo(np.uint16).max).astype(np.uint16)


def _write_png(path: str, array: np.ndarray) -> None:
    """Encode ``array`` as PNG and move it into place atomically."""
    ok, buf = cv2.imencode('.png', array)
    if not ok:
        raise OSError(f'OpenCV could not encode {path!r} as PNG')
    _write_atomic(path, buf.tobytes())


def convert(labeled_mat: str, splits_mat: str, class_mapping_mat: str, out: str,
            progress: bool = True) -> Dict[str, Sequence[str]]:
    """Convert the labelled NYUv2 set (see the module docstring).

    Args:
        labeled_mat (str): Path of ``nyu_depth_v2_labeled.mat``.
        splits_mat (str): Path of ``splits.mat``.
        class_mapping_mat (str): Path of ``classMapping40.mat``.
        out (str): Output folder.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The image names written per split.
    """
    import h5py

    if not osp.isfile(labeled_mat):
        raise PrepareError(f'{labeled_mat}: file not found')
    try:
        mat = h5py.File(labeled_mat, 'r')
    except OSError as err:
        raise PrepareError(
            f'{labeled_mat}: not a MATLAB v7.3 (HDF5) file: {err}') from err
    with mat:
        missing = [k for k in MAT_KEYS if k not in mat]
        if missing:
            raise PrepareError(f'{labeled_mat}: dataset(s) {missing} not found '
                               f'(expected {list(MAT_KEYS)})')
        images, labels = mat['images'], mat['labels']
        depths, raw_depths = mat['depths'], mat['rawDepths']
        if images.ndim != 4 or images.shape[1] != 3:
            raise PrepareError(f'{labeled_mat}: images has shape {images.shape}, '
                               'expected (N, 3, W, H)')
        num, _, width, height = images.shape
        for name, ds in (('depths', depths), ('rawDepths', raw_depths),
                         ('labels', labels)):
            if ds.shape != (num, width, height):
                raise PrepareError(
                    f'{labeled_mat}: {name} has shape {ds.shape}, expected '
                    f'{(num, width, height)} to match images {images.shape}')
        splits = load_splits(splits_mat, num)
        map_40 = load_class_mapping(class_mapping_mat)

        subdirs = ('rgb', 'depth', 'depth_raw', 'labels_894', 'labels_40',
                   'labels_13')
        for split in SPLITS:
            for sub in subdirs:
                os.makedirs(osp.join(out, split, sub), exist_ok=True)

        written = {}
        for split in SPLITS:
            names = []
            for idx in progress_bar(splits[split], progress, total=len(splits[split]), desc=f'NYUv2 {split}',
                                    unit='img'):
                i = int(idx) - 1
                name = f'{int(idx):04d}'
                rgb = np.asarray(images[i]).transpose(2, 1, 0)  # (H, W, 3)
                label_894 = np.asarray(labels[i]).T
                if label_894.max() >= len(map_40):
                    raise PrepareError(
                        f'{labeled_mat}: labels of image {name} hold class '
                        f'{int(label_894.max())}, but {class_mapping_mat} maps '
                        f'only {len(map_40) - 1} classes')
                label_40 = map_40[label_894]
                folder = osp.join(out, split)
                _write_png(osp.join(folder, 'rgb', f'{name}.png'),
                           cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8),
                                        cv2.COLOR_RGB2BGR))
                _write_png(osp.join(folder, 'depth', f'{name}.png'),
                           depth_to_mm(np.asarray(depths[i]).T))
                _write_png(osp.join(folder, 'depth_raw', f'{name}.png'),
                           depth_to_mm(np.asarray(raw_depths[i]).T))
                _write_png(osp.join(folder, 'labels_894', f'{name}.png'),
                           label_894.astype(np.uint16))
                _write_png(osp.join(folder, 'labels_40', f'{name}.png'), label_40)
                _write_png(osp.join(folder, 'labels_13', f'{name}.png'),
                           NYU40_TO_13[label_40])
                names.append(name)
            written[split] = names

    for split in SPLITS:
        _write_atomic(osp.join(out, f'{split}.txt'),
                             ''.join(f'{n}\n' for n in written[split]))
    return written


def parse_args(argv=None):
    parser = ArgumentParser(
        prog='prepare_nyuv2.py', description='Convert NYU Depth v2 (labelled .mat) into the DynMM layout.',
        epilog='Never downloads: pass the files you have.')
    parser.add_argument('--labeled-mat', required=True,
                        help='nyu_depth_v2_labeled.mat (MATLAB v7.3)')
    parser.add_argument('--splits', required=True,
                        help='splits.mat with trainNdxs and testNdxs')
    parser.add_argument('--class-mapping', required=True,
                        help='classMapping40.mat with mapClass (894 -> 40)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show a progress bar')
    parser.add_argument('--force', action='store_true',
                        help='replace a data set that already exists in --out')
    return parser.parse_args(argv)


def check_out(out: str, force: bool) -> None:
    """Refuse an --out that is a file or already holds a data set (unless --force)."""
    if osp.exists(out) and not osp.isdir(out):
        raise PrepareError(f'--out {out} is a file, not a folder')
    existing = [f'{s}.txt' for s in SPLITS if osp.isfile(osp.join(out, f'{s}.txt'))]
    if existing and not force:
        raise PrepareError(f'--out {out} already holds a data set ({", ".join(existing)}); '
                           'pass --force to replace it')


def _main(argv=None) -> int:
    args = parse_args(argv)
    check_out(args.out, args.force)
    written = convert(args.labeled_mat, args.splits, args.class_mapping, args.out, progress=not args.no_progress)
    print(f'wrote {len(written["train"])} train and {len(written["test"])} test images to {args.out}')
    return 0


def main(argv=None) -> int:
    """Convert, by the project's error convention: bad input is one line and exit code 2."""
    return run_tool(_main, argv, prog='prepare_nyuv2.py')


if __name__ == '__main__':
    sys.exit(main())
