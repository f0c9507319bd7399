"""A synthetic RGB-D segmentation set that exercises the point of DynMM.

Every scene is a room corner seen by a Kinect-like camera: a wall above a random
horizon, a floor below it, and 2 to ``max_objects`` (default 5) flat objects (boards
facing the camera) in front of them. Geometry, in millimetres:

- wall: a plane 4000-8000 mm away, turned by up to +-15% across the image;
- floor: from the wall's depth at the horizon down to 3000-3400 mm at the bottom row;
- objects: each at one depth (+ sensor noise) drawn from its class's band, near
  800-1200, middle 1600-2000 or far 2400-2800 mm, so every object stands at least
  200 mm in front of whatever lies behind it. Two classes share each band and differ
  by their outline (rectangle or ellipse); band and outline together, i.e. depth
  alone, determine the class. Nearer objects occlude farther ones.
- object classes per scene: with ``scene_classes='all'`` (default) any of the six;
  with ``'by_kind'`` a ``'depth'`` scene holds only the three rectangle classes
  (table, television, bed: one per depth band, so that the band alone, a coarse
  cue, gives the class) and an ``'rgb'`` scene any of the six (one colour each)
  (what the demo uses).
- lighting: ``depth_scene_light`` below 1 renders ``'depth'`` scenes in a dimmer
  room (every colour scaled by it), as the scenes where a camera's RGB fails; their
  RGB still shows nothing of the objects, but it tells the kind of scene, also to
  a model without depth (the demo uses 0.5, with ``'by_kind'``).

Scenes come in two kinds, with the same geometry:

- ``'rgb'`` scenes: every object has its class's colour (plus texture), so the RGB
  channels alone determine the label map. Their depth depends on
  ``rgb_scene_depth``: ``'objects'`` (default) gives the objects their class's
  depth as in ``'depth'`` scenes (depth consistent with RGB, but not needed);
  ``'background'`` renders depth from the wall and floor alone, as if the objects
  were flat prints flush with the surface behind them: every object pixel gets
  exactly the depth the wall or floor has there, so depth carries no information
  about the objects and only RGB reveals them (what the demo uses: depth is then
  of no use at all on these scenes).
- ``'depth'`` scenes: the colour image is rendered from the background's label map
  (wall and floor only): every object pixel gets exactly the colour and texture the
  wall or floor would have there. The RGB image is therefore a function of the
  background alone and carries no information about the objects; only depth reveals
  them.

A dynamic multimodal network should therefore learn to route ``'depth'`` scenes
through its depth-using branches and may skip depth on ``'rgb'`` scenes. The kind of
each image is recorded in ``<out>/scene_kinds.json`` so that evaluation can check it.

The output has exactly the NYUv2 layout that ``tools/prepare_nyuv2.py`` writes (see
``NYUv2RGBDDataset``), plus an optional validation split::

    <out>/train.txt, <out>/test.txt          one image name per line (val.txt: see below)
    <out>/{train,test}/rgb/NNNN.png          8-bit colour
    <out>/{train,test}/depth/NNNN.png        uint16, millimetres
    <out>/{train,test}/labels_40/NNNN.png    uint8, 0 = void, NYUv2 40-class ids
    <out>/{train,test}/labels_13/NNNN.png    uint8, NYUv2 13-class ids
    <out>/scene_kinds.json                   {"train": {name: kind}, "test": {...}}

With ``num_val > 0`` a third split, ``val`` (val.txt, val/...), is written the same
way: images to tune on (a gate bias, a resource-loss weight) that the test numbers
never saw. Its images are numbered after the test ones, so adding it changes no
train or test image.
    <out>/synthetic_rgbd.json                generation parameters and class table

With ``layout='sunrgbd'`` the files are SUN RGB-D's instead, as
``tools/prepare_sunrgbd.py`` writes them (see ``SUNRGBDRGBDDataset``): colour as
JPEG, depth as SUN RGB-D stores it (millimetres rotated left by 3 bits) and labels
in ``labels_37`` (the scene classes are among the 37)::

    <out>/{train,test}/rgb/NNNN.jpg          8-bit colour (JPEG, quality 95)
    <out>/{train,test}/depth/NNNN.png        uint16, mm rotated left by 3 bits
    <out>/{train,test}/labels_37/NNNN.png    uint8, 0 = void, SUN RGB-D 37-class ids

This module needs only numpy and OpenCV; it does not import mmseg.
"""
import json
import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np

from dynmm_plugins.utils.io import atomic_write

# Background classes (NYUv2 40-class ids) and their base colours (RGB).
WALL, FLOOR = 1, 2
# Object classes. Each one is an (outline, depth band) pair, so that it can be
# recognised from depth alone; in 'rgb' scenes it also has its own colour. All ids are
# NYUv2 40-class ids that map to six different 13-class ids as well.
#   id: (name, outline, (min, max) depth in mm)
OBJECT_CLASSES = {
    7: ('table', 'rectangle', (800, 1200)),
    5: ('chair', 'ellipse', (800, 1200)),
    25: ('television', 'rectangle', (1600, 2000)),
    23: ('books', 'ellipse', (1600, 2000)),
    4: ('bed', 'rectangle', (2400, 2800)),
    6: ('sofa', 'ellipse', (2400, 2800)),
}
# scene_classes='by_kind': the classes each kind of scene draws its objects from.
CLASSES_BY_KIND = {
    'depth': (4, 7, 25),  # bed, table, television: rectangles, one per depth band
    'rgb': tuple(sorted(OBJECT_CLASSES)),  # all six, one colour each
}
SCENE_CLASSES = ('all', 'by_kind')
# Depth of the background: the wall plane and the floor's bottom row (mm). The floor
# is never nearer than FLOOR_BOTTOM_MM[0], 200 mm behind the farthest object band.
WALL_MM = (4000, 8000)
FLOOR_BOTTOM_MM = (3000, 3400)
# Base colours. Any two differ by at least 45 in some channel, more than twice the
# largest per-pixel deviation (MAX_COLOUR_DEVIATION), so in 'rgb' scenes no RGB value
# can belong to two classes.
CLASS_COLOURS = {
    WALL: (200, 190, 160),  # beige
    FLOOR: (120, 85, 60),  # brown
    7: (60, 160, 60),  # green
    25: (40, 40, 140),  # dark blue
    4: (200, 60, 60),  # red
    5: (230, 200, 40),  # yellow
    23: (150, 60, 180),  # purple
    6: (40, 170, 200),  # cyan
}
# Per-pixel colour = base + scene brightness (+-6) + vertical shading (+-6)
# + quantised texture (+-8).
MAX_COLOUR_DEVIATION = 20

# NYUv2 40-class id -> 13-class id (index 0 = void). The table is
# ``classMapping13.labels13`` of ``class13Mapping.mat`` from the nyuv2-python-toolkit,
# the file ESANet's prepare_dataset.py reads; tools/prepare_nyuv2.py holds the same
# table.
NYU40_TO_13 = np.array(
    [0, 12, 5, 6, 1, 4, 9, 10, 12, 13, 6, 8, 6, 13, 10, 6, 13, 6, 7, 7, 5, 7, 3, 2, 6,
     11, 7, 7, 7, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7, 6, 7],
    dtype=np.uint8)

SCENE_KINDS = ('rgb', 'depth')
RGB_SCENE_DEPTHS = ('objects', 'background')
LAYOUTS = ('nyuv2', 'sunrgbd')
MIN_DEPTH_MM, MAX_DEPTH_MM = 500, 10000


def _write_bytes_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_write(path, 'wb') as f:
        f.write(data)


def sunrgbd_depth(depth_mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres -> SUN RGB-D's stored depth: rotated left by 3 bits."""
    depth = depth_mm.astype(np.uint16)
    return (depth << 3) | (depth >> 13)


def _write_png(path: str, array: np.ndarray) -> None:
    _write_image(path, array, '.png')


def _write_image(path: str, array: np.ndarray, ext: str, params=()) -> None:
    ok, buf = cv2.imencode(ext, array, list(params))
    if not ok:
        raise OSError(f'OpenCV could not encode {path!r} as PNG')
    _write_bytes_atomic(path, buf.tobytes())


def _background(rng: np.random.Generator, height: int, width: int):
    """Wall above a random horizon, floor below it.

    Returns:
        tuple: label map (H, W) uint8 and depth (H, W) float64 in mm.
    """
    ys = np.arange(height, dtype=np.float64)[:, None]
    xs = np.arange(width, dtype=np.float64)[None, :]
    horizon = int(rng.uniform(0.45, 0.7) * height)
    # A wall plane, slightly turned about the vertical axis.
    wall_mm = rng.uniform(*WALL_MM)
    tilt = rng.uniform(-0.15, 0.15)
    wall = np.broadcast_to(wall_mm * (1 + tilt * (xs / width - 0.5)),
                           (height, width))
    # A floor plane: inverse depth is linear in the image row, from the wall depth at
    # the horizon to the depth seen at the bottom row.
    bottom_mm = rng.uniform(*FLOOR_BOTTOM_MM)
    t = np.clip((ys - horizon) / max(height - 1 - horizon, 1), 0, 1)
    floor = 1.0 / ((1 - t) / wall + t / bottom_mm)
    below = np.broadcast_to(ys >= horizon, (height, width))
    labels = np.where(below, FLOOR, WALL).astype(np.uint8)
    depth = np.where(below, floor, wall)
    return labels, depth


def _colourise(rng: np.random.Generator, labels: np.ndarray, light: float = 1.0) -> np.ndarray:
    """RGB image whose pixels are the base colour of ``labels`` plus texture, all
    scaled by ``light`` (1: the scene's normal lighting; below 1: a dimmer room)."""
    height, width = labels.shape
    lut = np.zeros((256, 3), dtype=np.int16)
    for cls, colour in CLASS_COLOURS.items():
        lut[cls] = colour
    brightness = rng.integers(-6, 7)
    shading = np.rint(np.linspace(-6, 6, height)).astype(np.int16)[:, None, None]
    # Texture: coarse blotches plus fine grain, both on a 4-level grid so that RGB
    # values repeat a lot (this is what makes 'depth' scenes ambiguous in RGB).
    coarse = rng.integers(-1, 2, size=((height + 7) // 8, (width + 7) // 8))
    coarse = np.kron(coarse, np.ones((8, 8), dtype=np.int64))[:height, :width]
    fine = rng.integers(-1, 2, size=(height, width))
    texture = (4 * (coarse + fine)).astype(np.int16)[..., None]
    rgb = lut[labels] + brightness + shading + texture
    if light != 1.0:
        rgb = np.rint(rgb * light).astype(np.int16)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def render_scene(rng: np.random.Generator, height: int, width: int,
                 kind: str, max_objects: int = 5,
                 rgb_scene_depth: str = 'objects',
                 scene_classes: str = 'all',
                 depth_scene_light: float = 1.0) -> Dict[str, np.ndarray]:
    """Render one scene.

    Args:
        rng (np.random.Generator): Source of randomness (the scene is a pure
            function of its state).
        height (int): Image height in pixels.
        width (int): Image width in pixels.
        kind (str): ``'rgb'`` (objects have class colours) or ``'depth'`` (objects
            are invisible in RGB and only depth reveals them).
        max_objects (int): Most objects in a scene; at least 2 are placed.
            Defaults to 5.
        rgb_scene_depth (str): Depth of the objects of an ``'rgb'`` scene:
            ``'objects'`` (their class's depth) or ``'background'`` (the wall's or
            floor's depth there: depth shows no object). Defaults to ``'objects'``.
        scene_classes (str): ``'all'`` (objects of any class) or ``'by_kind'``
            (``CLASSES_BY_KIND[kind]`` only). Defaults to ``'all'``.
        depth_scene_light (float): Lighting of ``'depth'`` scenes, a factor on
            every colour (1: as bright as ``'rgb'`` scenes; 0.5: a dim room whose
            RGB shows that it is dim, and still nothing of its objects).
            Defaults to 1.0.

    Returns:
        dict: ``rgb`` (H, W, 3) uint8 in RGB order, ``depth`` (H, W) uint16 in mm,
        ``labels_40`` (H, W) uint8 and ``labels_13`` (H, W) uint8.
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f'kind must be one of {SCENE_KINDS}, got {kind!r}')
    if rgb_scene_depth not in RGB_SCENE_DEPTHS:
        raise ValueError(f'rgb_scene_depth must be one of {RGB_SCENE_DEPTHS}, got {rgb_scene_depth!r}')
    if scene_classes not in SCENE_CLASSES:
        raise ValueError(f'scene_classes must be one of {SCENE_CLASSES}, got {scene_classes!r}')
    if not 0.0 < depth_scene_light <= 1.0:
        raise ValueError(f'depth_scene_light must be in (0, 1], got {depth_scene_light!r}')
    background, depth = _background(rng, height, width)
    # flat prints: the objects of an 'rgb' scene leave the background's depth as it is
    flat = kind == 'rgb' and rgb_scene_depth == 'background'
    labels = background.copy()
    ys = np.arange(height, dtype=np.float64)[:, None]
    xs = np.arange(width, dtype=np.float64)[None, :]

    class_ids = np.array(sorted(OBJECT_CLASSES if scene_classes == 'all' else CLASSES_BY_KIND[kind]))
    n_objects = int(rng.integers(2, max(max_objects, 2) + 1))
    objects = []
    for cls in rng.choice(class_ids, size=n_objects):
        _, outline, (lo, hi) = OBJECT_CLASSES[int(cls)]
        object_mm = rng.uniform(lo, hi)
        centre_x, centre_y = rng.uniform(0.1, 0.9) * width, rng.uniform(0.15, 0.9) * height
        half_w, half_h = rng.uniform(0.08, 0.2) * width, rng.uniform(0.1, 0.25) * height
        objects.append((-object_mm, int(cls), outline, centre_x, centre_y, half_w, half_h))
    # Farthest objects first, so that nearer ones occlude them.
    for neg_mm, cls, outline, cx, cy, half_w, half_h in sorted(objects):
        if outline == 'rectangle':
            mask = (np.abs(xs - cx) <= half_w) & (np.abs(ys - cy) <= half_h)
        else:
            mask = ((xs - cx) / half_w) ** 2 + ((ys - cy) / half_h) ** 2 <= 1
        labels[mask] = cls
        if not flat:
            depth[mask] = -neg_mm

    # In 'depth' scenes the objects take the background's colour and texture.
    rgb = (_colourise(rng, labels) if kind == 'rgb'
           else _colourise(rng, background, depth_scene_light))
    # Kinect-like noise: the standard deviation grows with the square of the distance.
    depth = depth + rng.normal(size=depth.shape) * 4e-7 * depth ** 2
    depth = np.clip(np.rint(depth), MIN_DEPTH_MM, MAX_DEPTH_MM).astype(np.uint16)
    return dict(rgb=rgb, depth=depth, labels_40=labels,
                labels_13=NYU40_TO_13[labels])


def check_synthetic_args(out, num_train, num_test, height, width, depth_only_ratio,
                         max_objects, overwrite=False) -> None:
    """Reject arguments that would fail midway or write an empty or clobbered set."""
    if num_train < 1 or num_test < 1:
        raise ValueError('num_train and num_test (--num-train, --num-test) must be >= 1: an '
                         f'empty split cannot be trained or tested on, got {num_train}, {num_test}')
    if height < 8 or width < 8:
        raise ValueError(f'height and width (--height, --width) must be >= 8, got {height}x{width}')
    if not 0.0 <= depth_only_ratio <= 1.0:
        raise ValueError(f'depth_only_ratio (--depth-only-ratio) must be in [0, 1], '
                         f'got {depth_only_ratio}')
    if max_objects < 1:
        raise ValueError(f'max_objects (--max-objects) must be >= 1, got {max_objects}')
    if osp.exists(out) and not osp.isdir(out):
        raise NotADirectoryError(f'output folder {out} is a file')
    existing = [name for name in ('train.txt', 'test.txt', 'val.txt', 'scene_kinds.json')
                if osp.isfile(osp.join(out, name))]
    if existing and not overwrite:
        raise FileExistsError(f'{out} already holds a data set ({", ".join(existing)}); '
                              'pass --force (overwrite=True) to replace it, or choose another --out')


def make_synthetic_rgbd(out: str,
                        num_train: int = 200,
                        num_test: int = 50,
                        num_val: int = 0,
                        height: int = 120,
                        width: int = 160,
                        depth_only_ratio: float = 0.5,
                        seed: int = 0,
                        max_objects: int = 5,
                        progress: bool = False,
                        overwrite: bool = False,
                        layout: str = 'nyuv2',
                        rgb_scene_depth: str = 'objects',
                        scene_classes: str = 'all',
                        depth_scene_light: float = 1.0) -> Dict[str, Dict[str, str]]:
    """Write a synthetic RGB-D dataset in the NYUv2 layout.

    The result is a pure function of the arguments: the same seed gives identical
    files. Image ``i`` (names count from ``0001`` over train, then test, like the
    NYUv2 indices, then val) is drawn from its own generator seeded with ``(seed, i)``.

    Args:
        out (str): Output directory (created). A folder that already holds a
            data set (split files or ``scene_kinds.json``) is refused unless
            ``overwrite``.
        num_train (int): Number of training images. Defaults to 200.
        num_test (int): Number of test images. Defaults to 50.
        num_val (int): Number of validation images (split ``val``). Defaults to 0:
            no val split, as before it existed.
        height (int): Image height. Defaults to 120.
        width (int): Image width. Defaults to 160.
        depth_only_ratio (float): Proportion of ``'depth'`` scenes in each split,
            rounded to whole images. Defaults to 0.5.
        seed (int): Random seed. Defaults to 0.
        max_objects (int): Most objects per scene. Defaults to 5.
        progress (bool): Show a tqdm progress bar if tqdm is installed.
            Defaults to False.
        overwrite (bool): Replace an existing data set in ``out`` (``--force``).
            Defaults to False.
        layout (str): ``'nyuv2'`` or ``'sunrgbd'`` (SUN RGB-D's file formats,
            see the module docstring). Defaults to ``'nyuv2'``.
        rgb_scene_depth (str): ``'objects'`` or ``'background'``: whether the
            objects of ``'rgb'`` scenes show in depth (see the module docstring).
            Defaults to ``'objects'``.
        scene_classes (str): ``'all'`` or ``'by_kind'``: the classes each
            kind of scene draws its objects from (see the module docstring).
            Defaults to ``'all'``.
        depth_scene_light (float): Lighting of ``'depth'`` scenes in (0, 1], a
            factor on their colours (see the module docstring). Defaults to 1.0.

    Returns:
        dict: ``{'train': {name: kind}, 'test': {name: kind}}`` (and ``'val'``), the
        content of ``scene_kinds.json``.
    """
    check_synthetic_args(out, num_train, num_test, height, width, depth_only_ratio,
                         max_objects, overwrite)
    if num_val < 0:
        raise ValueError(f'num_val (--num-val) must be >= 0, got {num_val}')
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if rgb_scene_depth not in RGB_SCENE_DEPTHS:
        raise ValueError(f'rgb_scene_depth (--rgb-scene-depth) must be one of {RGB_SCENE_DEPTHS}, '
                         f'got {rgb_scene_depth!r}')
    if scene_classes not in SCENE_CLASSES:
        raise ValueError(f'scene_classes (--scene-classes) must be one of {SCENE_CLASSES}, '
                         f'got {scene_classes!r}')
    if not 0.0 < depth_scene_light <= 1.0:
        raise ValueError(f'depth_scene_light (--depth-scene-light) must be in (0, 1], '
                         f'got {depth_scene_light!r}')

    jobs = []
    kinds: Dict[str, Dict[str, str]] = {}
    first = 1
    splits = (('train', num_train), ('test', num_test), ('val', num_val))
    for split_id, (split, count) in enumerate(splits):
        if split == 'val' and count == 0:
            continue
        n_depth = int(round(depth_only_ratio * count))
        kind_rng = np.random.default_rng([seed, 1_000_000 + split_id])
        is_depth = np.zeros(count, dtype=bool)
        is_depth[kind_rng.permutation(count)[:n_depth]] = True
        kinds[split] = {}
        for i in range(count):
            index = first + i
            name = f'{index:04d}'
            kinds[split][name] = 'depth' if is_depth[i] else 'rgb'
            jobs.append((split, name, index))
        first += count

    label_dirs = ('labels_40', 'labels_13') if layout == 'nyuv2' else ('labels_37',)
    for split in kinds:
        for sub in ('rgb', 'depth') + label_dirs:
            os.makedirs(osp.join(out, split, sub), exist_ok=True)

    iterator = jobs
    if progress:
        try:
            from tqdm import tqdm
            iterator = tqdm(jobs, desc='synthetic RGB-D', unit='img')
        except ImportError:
            pass
    for split, name, index in iterator:
        rng = np.random.default_rng([seed, index])
        scene = render_scene(rng, height, width, kinds[split][name], max_objects, rgb_scene_depth,
                             scene_classes, depth_scene_light)
        bgr = cv2.cvtColor(scene['rgb'], cv2.COLOR_RGB2BGR)
        if layout == 'sunrgbd':
            _write_image(osp.join(out, split, 'rgb', f'{name}.jpg'), bgr, '.jpg',
                         (cv2.IMWRITE_JPEG_QUALITY, 95))
            _write_png(osp.join(out, split, 'depth', f'{name}.png'),
                       sunrgbd_depth(scene['depth']))
            # the scene classes keep their ids: SUN RGB-D's 37 are NYUv2's first 37
            _write_png(osp.join(out, split, 'labels_37', f'{name}.png'), scene['labels_40'])
            continue
        _write_png(osp.join(out, split, 'rgb', f'{name}.png'), bgr)
        for key in ('depth', 'labels_40', 'labels_13'):
            _write_png(osp.join(out, split, key, f'{name}.png'), scene[key])

    meta = dict(
        generator='dynmm_plugins.datasets.synthetic_rgbd',
        layout=layout, seed=seed, num_train=num_train, num_test=num_test, num_val=num_val, height=height,
        width=width, depth_only_ratio=depth_only_ratio, max_objects=max_objects,
        rgb_scene_depth=rgb_scene_depth, scene_classes=scene_classes,
        depth_scene_light=depth_scene_light,
        classes_by_kind={k: [str(c) for c in v] for k, v in CLASSES_BY_KIND.items()}
        if scene_classes == 'by_kind' else None,
        background_classes={str(WALL): 'wall', str(FLOOR): 'floor'},
        wall_mm=list(WALL_MM), floor_bottom_mm=list(FLOOR_BOTTOM_MM),
        object_classes={
            str(k): dict(name=n, outline=o, depth_mm=list(b))
            for k, (n, o, b) in OBJECT_CLASSES.items()
        })
    _write_bytes_atomic(osp.join(out, 'synthetic_rgbd.json'),
                        json.dumps(meta, indent=2).encode())
    _write_bytes_atomic(osp.join(out, 'scene_kinds.json'),
                        json.dumps(kinds, indent=2).encode())
    # The split files last: a run that was interrupted leaves none behind.
    for split, names in kinds.items():
        _write_bytes_atomic(osp.join(out, f'{split}.txt'),
                            ''.join(f'{n}\n' for n in names).encode())
    return kinds

