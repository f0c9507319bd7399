#!/usr/bin/env python
"""Convert the official SUN RGB-D release into the NYUv2 layout DynMM reads.

Inputs are folders you downloaded and unpacked yourself; this tool never downloads:

- ``--sunrgbd-dir``: ``SUNRGBD.zip`` unpacked, the folder holding ``kv1/``, ``kv2/``,
  ``realsense/`` and ``xtion/``. Every scene folder has ``image/<rgbname>`` (JPEG),
  ``depth_bfx/<depthname>`` (refined depth) and ``depth/<depthname>`` (raw depth),
  16-bit PNGs of millimetres rotated left by 3 bits (8x mm below 8.192 m).
- ``--toolbox-dir``: ``SUNRGBDtoolbox.zip`` unpacked, with
  ``Metadata/SUNRGBDMeta.mat`` (``SUNRGBDMeta``: one struct per image with
  ``rgbpath``, ``rgbname``, ``depthname``), ``Metadata/SUNRGBD2Dseg.mat`` (MATLAB
  v7.3: ``SUNRGBD2Dseg.seglabel``, one label map per image, 0 = void, 1..37) and
  ``traintestSUNRGBD/allsplit.mat`` (``alltrain``: the training scene folders).

As ESANet prepares it: the 37-class labels, the official split (a scene listed in
``alltrain`` is training data, every other one test data: 5285 / 5050 images), the
refined depth as ``depth`` and the raw one as ``depth_raw``, both copied unchanged,
i.e. in SUN RGB-D's own scale (``SUNRGBDRGBDDataset`` scales it to millimetres when
loading). Output (names are the 1-based positions in ``SUNRGBDMeta``, ``%05d``)::

    <out>/train.txt, <out>/test.txt
    <out>/{train,test}/rgb/NNNNN.jpg          colour image, copied
    <out>/{train,test}/depth/NNNNN.png        uint16, depth_bfx, copied
    <out>/{train,test}/depth_raw/NNNNN.png    uint16, depth, copied (0 = missing)
    <out>/{train,test}/labels_37/NNNNN.png    uint8, 0 = void, 1..37
    <out>/image_sources.json                  {name: scene folder, e.g. 'kv2/kinect2data/...'}

Every file is written to a temporary name and renamed, and the split files come
last, so an interrupted run never leaves a split file that lists missing images.
Bad input is reported as one line naming the file at fault (exit code 2).

Example::

    python tools/prepare_sunrgbd.py --sunrgbd-dir SUNRGBD --toolbox-dir SUNRGBDtoolbox \\
        --out data/sunrgbd
"""
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, List

import cv2
import numpy as np

from dynmm_plugins.utils.cli import ArgumentParser, run_tool
from dynmm_plugins.utils.errors import DynMMUserError as PrepareError  # bad input: one line, exit code 2
from dynmm_plugins.utils.io import write_file_atomic as _write_atomic
from dynmm_plugins.utils.progress import progress_bar

NUM_CLASSES = 37
META_FILE = osp.join('Metadata', 'SUNRGBDMeta.mat')
SEG_FILE = osp.join('Metadata', 'SUNRGBD2Dseg.mat')
SPLIT_FILE = osp.join('traintestSUNRGBD', 'allsplit.mat')


def scene_dir(path: str) -> str:
    """Scene folder relative to the release root, from a path as the metadata spells it.

    ``/n/fs/sun3d/data/SUNRGBD/kv2/kinect2data/000002_.../image/0000103.jpg`` and
    the split's ``/n/fs/sun3d/data/SUNRGBD/kv2/kinect2data/000002_.../`` both give
    ``kv2/kinect2data/000002_...``.
    """
    path = str(path).replace('\\', '/').rstrip('/')
    match = re.search(r'(?:^|/)SUNRGBD/(.*)$', path)
    return match.group(1) if match else path


def _loadmat(path: str, key: str):
    """Variable ``key`` of a MATLAB (v5-v7.2) file, structs as objects."""
    if not osp.isfile(path):
        raise PrepareError(f'{path}: file not found')
    from scipy.io import loadmat
    try:
        content = loadmat(path, squeeze_me=True, struct_as_record=False, variable_names=[key])
    except Exception as err:  # scipy raises several types for bad files
        raise PrepareError(f'{path}: not a readable MATLAB file ({err})') from err
    if key not in content:
        raise PrepareError(f'{path}: variable {key!r} not found')
    return content[key]


def load_meta(toolbox_dir: str) -> List[dict]:
    """Per image (in metadata order): scene folder, colour and depth file names."""
    path = osp.join(toolbox_dir, META_FILE)
    entries = []
    for i, meta in enumerate(np.atleast_1d(_loadmat(path, 'SUNRGBDMeta'))):
        try:
            rgbpath, rgbname, depthname = meta.rgbpath, meta.rgbname, meta.depthname
        except AttributeError as err:
            raise PrepareError(f'{path}: entry {i + 1} of SUNRGBDMeta has no {err.name!r} '
                               'field (expected rgbpath, rgbname, depthname)') from err
        # rgbpath is <scene>/image/<rgbname>
        entries.append(dict(scene=scene_dir(osp.dirname(osp.dirname(str(rgbpath)))),
                            rgbname=str(rgbname), depthname=str(depthname)))
    if not entries:
        raise PrepareError(f'{path}: SUNRGBDMeta is empty')
    return entries


def load_train_scenes(toolbox_dir: str) -> set:
    """Scene folders of the official training split."""
    path = osp.join(toolbox_dir, SPLIT_FILE)
    scenes = {scene_dir(p) for p in np.atleast_1d(_loadmat(path, 'alltrain'))}
    if not scenes:
        raise PrepareError(f'{path}: alltrain is empty')
    return scenes


def _read_file(path: str, what: str) -> bytes:
    if not osp.isfile(path):
        raise PrepareError(f'{path}: {what} not found')
    with open(path, 'rb') as f:
        return f.read()


def _decode(data: bytes, path: str, flag: int) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise PrepareError(f'{path}: not a readable image')
    return image


def _encode_png(array: np.ndarray, path: str) -> bytes:
    ok, buf = cv2.imencode('.png', array)
    if not ok:
        raise PrepareError(f'OpenCV could not encode {path!r} as PNG')
    return buf.tobytes()


def _labels(seg, refs, index: int, seg_path: str) -> np.ndarray:
    """Label map of image ``index`` (0-based) from the HDF5 references of seglabel."""
    label = np.asarray(seg[refs[index]]).T  # MATLAB arrays are transposed in HDF5
    if label.ndim != 2:
        raise PrepareError(f'{seg_path}: seglabel {index + 1} has shape {label.shape}, '
                           'expected a 2-D label map')
    if label.size and (label.min() < 0 or label.max() > NUM_CLASSES):
        raise PrepareError(f'{seg_path}: seglabel {index + 1} holds class {int(label.max())}, '
                           f'outside 0..{NUM_CLASSES}')
    return label.astype(np.uint8)


def convert(sunrgbd_dir: str, toolbox_dir: str, out: str, progress: bool = True) -> Dict[str, list]:
    """Convert SUN RGB-D (see the module docstring); returns the names written per split."""
    import h5py

    if not osp.isdir(sunrgbd_dir):
        raise PrepareError(f'{sunrgbd_dir}: SUN RGB-D folder not found')
    entries = load_meta(toolbox_dir)
    train_scenes = load_train_scenes(toolbox_dir)
    seg_path = osp.join(toolbox_dir, SEG_FILE)
    if not osp.isfile(seg_path):
        raise PrepareError(f'{seg_path}: file not found')
    try:
        seg_file = h5py.File(seg_path, 'r')
    except OSError as err:
        raise PrepareError(f'{seg_path}: not a MATLAB v7.3 (HDF5) file: {err}') from err
    with seg_file:
        if 'SUNRGBD2Dseg' not in seg_file or 'seglabel' not in seg_file['SUNRGBD2Dseg']:
            raise PrepareError(f'{seg_path}: SUNRGBD2Dseg/seglabel not found')
        refs = np.asarray(seg_file['SUNRGBD2Dseg']['seglabel']).ravel()
        if len(refs) != len(entries):
            raise PrepareError(f'{seg_path}: {len(refs)} label maps but {META_FILE} lists '
                               f'{len(entries)} images')
        for split in ('train', 'test'):
            for sub in ('rgb', 'depth', 'depth_raw', 'labels_37'):
                os.makedirs(osp.join(out, split, sub), exist_ok=True)
        written, sources = {'train': [], 'test': []}, {}
        for i, entry in progress_bar(enumerate(entries), progress, total=len(entries), desc='SUN RGB-D', unit='img'):
            name = f'{i + 1:05d}'
            scene = osp.join(sunrgbd_dir, entry['scene'])
            rgb_path = osp.join(scene, 'image', entry['rgbname'])
            rgb = _read_file(rgb_path, 'colour image')
            size = _decode(rgb, rgb_path, cv2.IMREAD_COLOR).shape[:2]
            depths = {}
            for sub, folder in (('depth', 'depth_bfx'), ('depth_raw', 'depth')):
                path = osp.join(scene, folder, entry['depthname'])
                depths[sub] = _read_file(path, 'depth image')
                depth = _decode(depths[sub], path, cv2.IMREAD_UNCHANGED)
                if depth.dtype != np.uint16 or depth.ndim != 2 or depth.shape != size:
                    raise PrepareError(f'{path}: {depth.dtype} {depth.shape}, expected a uint16 '
                                       f'single-channel PNG of the colour image size {size}')
            label = _labels(seg_file, refs, i, seg_path)
            if label.shape != size:
                raise PrepareError(f'{seg_path}: seglabel {i + 1} is {label.shape}, but its '
                                   f'colour image {rgb_path} is {size}')
            split = 'train' if entry['scene'] in train_scenes else 'test'
            folder = osp.join(out, split)
            suffix = osp.splitext(entry['rgbname'])[1].lower() or '.jpg'
            _write_atomic(osp.join(folder, 'rgb', name + suffix), rgb)
            for sub, data in depths.items():
                _write_atomic(osp.join(folder, sub, f'{name}.png'), data)
            label_path = osp.join(folder, 'labels_37', f'{name}.png')
            _write_atomic(label_path, _encode_png(label, label_path))
            written[split].append(name)
            sources[name] = entry['scene']
    _write_atomic(osp.join(out, 'image_sources.json'), json.dumps(sources, indent=1).encode())
    for split, names in written.items():
        _write_atomic(osp.join(out, f'{split}.txt'), ''.join(f'{n}\n' for n in names).encode())
    return written


def parse_args(argv=None):
    parser = ArgumentParser(
        prog='prepare_sunrgbd.py',
        description='Convert SUN RGB-D (official release) into the DynMM RGB-D layout.',
        epilog='Never downloads: pass the folders you have.')
    parser.add_argument('--sunrgbd-dir', required=True,
                        help='SUNRGBD.zip unpacked (holds kv1/, kv2/, realsense/, xtion/)')
    parser.add_argument('--toolbox-dir', required=True,
                        help='SUNRGBDtoolbox.zip unpacked (holds Metadata/, traintestSUNRGBD/)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--no-progress', action='store_true', help='do not show a progress bar')
    return parser.parse_args(argv)


def _main(argv=None) -> int:
    args = parse_args(argv)
    written = convert(args.sunrgbd_dir, args.toolbox_dir, args.out, progress=not args.no_progress)
    print(f'wrote {len(written["train"])} train and {len(written["test"])} test images to {args.out}')
    return 0


def main(argv=None) -> int:
    """Convert, by the project's error convention: bad input is one line and exit code 2."""
    return run_tool(_main, argv, prog='prepare_sunrgbd.py')


if __name__ == '__main__':
    sys.exit(main())
