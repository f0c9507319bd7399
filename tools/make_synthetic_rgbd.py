#!/usr/bin/env python
"""Write the synthetic RGB-D segmentation set (NYUv2 or SUN RGB-D files) to a folder.

Example::

    python tools/make_synthetic_rgbd.py --out data/synthetic_rgbd \
        --num-train 200 --num-test 50 --num-val 50 --seed 0

``--layout sunrgbd`` writes SUN RGB-D's formats (JPEG colour, depth rotated left by
3 bits, ``labels_37``), read by ``SUNRGBDRGBDDataset``.

Half of the scenes (``--depth-only-ratio``) hide their objects in RGB so that only
depth reveals them; ``<out>/scene_kinds.json`` records which. See
:mod:`dynmm_plugins.datasets.synthetic_rgbd` for the scene model.
"""
import importlib.util
import os.path as osp
import sys
import time

PACKAGE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'dynmm_plugins')
PROG = 'make_synthetic_rgbd.py'


def _load(relative: str, name: str):
    """A module of dynmm_plugins, loaded from this checkout's file if possible.

    Loading the file directly skips ``dynmm_plugins/__init__``, which imports
    mmseg and the models (seconds) although the generator needs only numpy and
    OpenCV (and the error convention only the standard library).
    """
    path = osp.join(PACKAGE, *relative.split('.')) + '.py'
    if osp.isfile(path):
        spec = importlib.util.spec_from_file_location(f'_{relative.replace(".", "_")}', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(f'dynmm_plugins.{relative}')


def _load_generator():
    return _load('datasets.synthetic_rgbd', 'synthetic_rgbd')


def parse_args(argv=None):
    parser = _load('utils.errors', 'errors').ArgumentParser(prog=PROG,
                                                            description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num-train', type=int, default=200,
                        help='training images (default: 200)')
    parser.add_argument('--num-test', type=int, default=50,
                        help='test images (default: 50)')
    parser.add_argument('--num-val', type=int, default=50,
                        help='validation images, split val: to calibrate or tune on '
                             'without seeing the test images (default: 50; 0: none)')
    parser.add_argument('--height', type=int, default=120,
                        help='image height (default: 120)')
    parser.add_argument('--width', type=int, default=160,
                        help='image width (default: 160)')
    parser.add_argument('--depth-only-ratio', type=float, default=0.5,
                        help="proportion of 'depth' scenes whose objects only "
                             'depth reveals (default: 0.5)')
    parser.add_argument('--max-objects', type=int, default=5,
                        help='most objects per scene (default: 5)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default: 0)')
    parser.add_argument('--layout', choices=('nyuv2', 'sunrgbd'), default='nyuv2',
                        help="file formats: NYUv2's or SUN RGB-D's (default: nyuv2)")
    parser.add_argument('--rgb-scene-depth', choices=('objects', 'background'), default='objects',
                        help="depth of the objects of 'rgb' scenes: their class's depth, or the "
                             "background's (depth shows no object; the demo's set) "
                             '(default: objects)')
    parser.add_argument('--scene-classes', choices=('all', 'by_kind'), default='all',
                        help="the classes of each scene's objects: any of the six, or in 'depth' "
                             "scenes only the three of distinct depth bands (the demo's set) "
                             '(default: all)')
    parser.add_argument('--depth-scene-light', type=float, default=1.0,
                        help="lighting of 'depth' scenes, a factor in (0, 1] on their colours: "
                             "below 1 a dimmer room (the demo's set: 0.5) (default: 1)")
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show a progress bar')
    parser.add_argument('--force', action='store_true',
                        help='replace a data set that already exists in --out')
    args = parser.parse_args(argv)
    try:  # flags checked before anything is written, with the flag's name
        _load_generator().check_synthetic_args(
            args.out, args.num_train, args.num_test, args.height, args.width,
            args.depth_only_ratio, args.max_objects, args.force)
    except FileExistsError:
        raise
    except (ValueError, NotADirectoryError) as exc:
        parser.error(str(exc))
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    kinds = _load_generator().make_synthetic_rgbd(
        args.out, num_train=args.num_train, num_test=args.num_test, num_val=args.num_val,
        height=args.height, width=args.width,
        depth_only_ratio=args.depth_only_ratio, seed=args.seed,
        max_objects=args.max_objects, progress=not args.no_progress, overwrite=args.force,
        layout=args.layout, rgb_scene_depth=args.rgb_scene_depth,
        scene_classes=args.scene_classes, depth_scene_light=args.depth_scene_light)
    for split, names in kinds.items():
        n_depth = sum(k == 'depth' for k in names.values())
        print(f'{split}: {len(names)} images, {n_depth} depth-needing')
    print(f'wrote {args.out} in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(_load('utils.errors', 'errors').run_entry_point(main, prog=PROG))
