"""NYU Depth v2 (and the synthetic set) as an RGB-D segmentation dataset for MMSeg."""
import json
import os.path as osp
from typing import List, Optional

import mmengine
import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

# The 40 NYUv2 classes in label order 1..40 (0 = void), spelled as ESANet lists them.
NYU40_CLASSES = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
    'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain',
    'dresser', 'pillow', 'mirror', 'floor mat', 'clothes', 'ceiling', 'books',
    'refridgerator', 'television', 'paper', 'towel', 'shower curtain', 'box',
    'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag',
    'otherstructure', 'otherfurniture', 'otherprop')
# The 13 NYUv2 classes in label order 1..13 (0 = void).
NYU13_CLASSES = ('bed', 'books', 'ceiling', 'chair', 'floor', 'furniture', 'objects',
                 'picture', 'sofa', 'table', 'tv', 'wall', 'window')
# Colours of the 13 classes as ESANet draws them.
NYU13_PALETTE = [[0, 0, 255], [232, 88, 47], [0, 217, 0], [148, 0, 240],
                 [222, 241, 23], [255, 205, 205], [0, 223, 228], [106, 135, 204],
                 [116, 28, 41], [240, 35, 235], [0, 166, 156], [249, 139, 0],
                 [225, 228, 194]]


def bit_interleaved_palette(num: int) -> List[List[int]]:
    """The PASCAL VOC colour map: bits of the class id spread over R, G and B.

    ESANet colours the 40 (and 894) NYUv2 classes this way; entry 0 is void.
    """
    ids = np.arange(num)
    cmap = np.zeros((num, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            cmap[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return cmap.tolist()


NYU40_PALETTE = bit_interleaved_palette(41)[1:]

LABEL_SETS = {
    'labels_40': dict(classes=NYU40_CLASSES, palette=NYU40_PALETTE),
    'labels_13': dict(classes=NYU13_CLASSES, palette=NYU13_PALETTE),
}


@DATASETS.register_module()
class NYUv2RGBDDataset(BaseSegDataset):
    """NYU Depth v2 RGB-D semantic segmentation in the layout ESANet prepares.

    The layout, written by ``tools/prepare_nyuv2.py`` (and, for the synthetic set,
    ``tools/make_synthetic_rgbd.py``)::

        data_root/
            train.txt, test.txt            image names, one per line
            {train,test}/rgb/NAME.png      colour image
            {train,test}/depth/NAME.png    uint16 depth in mm (depth_raw/: raw)
            {train,test}/labels_40/NAME.png  uint8, 0 = void, 1..40
            {train,test}/labels_13/NAME.png  uint8, 0 = void, 1..13
            scene_kinds.json               optional: {split: {NAME: kind}}

    Each data info holds ``img_path``, ``depth_path``, ``seg_map_path``,
    ``num_classes`` (the classes of the label files, for
    :class:`LoadCheckedAnnotations`) and, when ``scene_kinds.json`` exists,
    ``scene_kind`` (``'rgb'`` or ``'depth'`` for the synthetic set). Void (0) becomes
    the ignore index 255 and the classes shift by -1 (``reduce_zero_label=True``).
    Missing files are reported when the dataset is built, naming the file.

    Args:
        data_root (str): Dataset root folder.
        split (str): ``'train'`` or ``'test'``: the sub-folder and, unless
            ``ann_file`` is given, the split file ``<split>.txt``. Defaults to
            ``'train'``.
        label_dir (str): Label folder, ``'labels_40'`` or ``'labels_13'``; it also
            selects the class names and palette unless ``metainfo`` is given.
            Defaults to ``'labels_40'``.
        depth_dir (str): Depth folder, ``'depth'`` (in-painted) or ``'depth_raw'``
            (0 where the sensor saw nothing). Defaults to ``'depth'``.
        rgb_dir (str): Colour image folder. Defaults to ``'rgb'``.
        ann_file (str): Split file, relative to ``data_root``. Defaults to ``''``,
            meaning ``<split>.txt``.
        img_suffix (str): Colour image suffix. Defaults to ``'.png'``.
        depth_suffix (str): Depth image suffix. Defaults to ``'.png'``.
        seg_map_suffix (str): Label image suffix. Defaults to ``'.png'``.
        scene_kinds_file (str, optional): Side file with the kind of each scene,
            relative to ``data_root``; read only if it exists. None disables it.
            Defaults to ``'scene_kinds.json'``.
        reduce_zero_label (bool): Map void (0) to 255 and shift classes by -1.
            Defaults to True.
        check_files (bool): Check at construction that every listed image has its
            colour, depth and label file (local files only). Defaults to True.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset` (``pipeline``,
            ``metainfo``, ``test_mode``, ``backend_args``, ...).
    """

    METAINFO = LABEL_SETS['labels_40']
    # Label folders with built-in class names and palettes (subclasses replace it).
    LABEL_SETS = LABEL_SETS

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 label_dir: str = 'labels_40',
                 depth_dir: str = 'depth',
                 rgb_dir: str = 'rgb',
                 ann_file: str = '',
                 img_suffix: str = '.png',
                 depth_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 scene_kinds_file: Optional[str] = 'scene_kinds.json',
                 reduce_zero_label: bool = True,
                 check_files: bool = True,
                 **kwargs) -> None:
        backend_args = kwargs.get('backend_args')
        if backend_args is None and not osp.isdir(data_root):
            raise FileNotFoundError(
                f'RGB-D dataset root {data_root!r} does not exist; write it with '
                'tools/prepare_nyuv2.py (NYUv2) or tools/make_synthetic_rgbd.py')
        metainfo = kwargs.get('metainfo') or {}
        if label_dir in self.LABEL_SETS:
            # The label set's names and palette, unless metainfo overrides them
            # (e.g. a subset of the classes, which becomes a label_map).
            metainfo = {**self.LABEL_SETS[label_dir], **metainfo}
        elif 'classes' not in metainfo:
            raise ValueError(
                f'label_dir {label_dir!r} has no built-in class names (known: '
                f'{sorted(self.LABEL_SETS)}); pass metainfo=dict(classes=...)')
        kwargs['metainfo'] = metainfo
        self.split = split
        self.depth_suffix = depth_suffix
        self.scene_kinds_file = scene_kinds_file
        self.check_files = check_files and backend_args is None
        # Classes of the label files, before metainfo may narrow them to a subset.
        self.label_classes = tuple(
            self.LABEL_SETS[label_dir]['classes'] if label_dir in self.LABEL_SETS else
            kwargs['metainfo']['classes'])
        data_prefix = dict(
            img_path=osp.join(split, rgb_dir),
            depth_path=osp.join(split, depth_dir),
            seg_map_path=osp.join(split, label_dir))
        data_prefix.update(kwargs.pop('data_prefix', None) or {})
        kwargs['data_prefix'] = data_prefix
        super().__init__(
            ann_file=ann_file or f'{split}.txt',
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_root=data_root,
            reduce_zero_label=reduce_zero_label,
            **kwargs)

    def get_label_map(self, new_classes=None):
        """Map label-file classes to ``new_classes`` (None if they are the same).

        Unlike the base class (a classmethod comparing with ``METAINFO``) this
        compares with the classes of the selected ``label_dir``.
        """
        old_classes = self.label_classes
        if new_classes is None or tuple(new_classes) == old_classes:
            return None
        unknown = [c for c in new_classes if c not in old_classes]
        if unknown:
            raise ValueError(f'classes {unknown} are not in the label set '
                             f'{old_classes}')
        return {i: (list(new_classes).index(c) if c in new_classes else 255)
                for i, c in enumerate(old_classes)}

    def _load_scene_kinds(self) -> Optional[dict]:
        """``{name: kind}`` of this split from the side file, None without one."""
        if not self.scene_kinds_file or self.data_root is None:
            return None
        path = osp.join(self.data_root, self.scene_kinds_file)
        if not fileio.exists(path, backend_args=self.backend_args):
            return None
        try:
            kinds = json.loads(fileio.get_text(path, backend_args=self.backend_args))
        except ValueError as err:
            raise ValueError(f'scene kinds file {path!r} is not valid JSON: '
                             f'{err}') from err
        if not isinstance(kinds, dict) or not isinstance(kinds.get(self.split), dict):
            raise ValueError(f'scene kinds file {path!r} has no {self.split!r} '
                             'mapping of image names to kinds')
        return kinds[self.split]

    def load_data_list(self) -> List[dict]:
        """Read the split file and pair every name with its three files."""
        ann_file = self.ann_file
        if not fileio.exists(ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(f'split file {ann_file!r} does not exist')
        names = [line.strip() for line in mmengine.list_from_file(
            ann_file, backend_args=self.backend_args) if line.strip()]
        if not names:
            raise ValueError(f'split file {ann_file!r} is empty: it must list one '
                             'image name per line')
        kinds = self._load_scene_kinds()
        prefix = self.data_prefix
        data_list = []
        for name in names:
            info = dict(
                img_path=osp.join(prefix['img_path'], name + self.img_suffix),
                depth_path=osp.join(prefix['depth_path'],
                                    name + self.depth_suffix),
                seg_map_path=osp.join(prefix['seg_map_path'],
                                      name + self.seg_map_suffix),
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                num_classes=len(self.label_classes),
                seg_fields=[])
            if self.check_files:
                for key, what in (('img_path', 'colour image'),
                                  ('depth_path', 'depth image'),
                                  ('seg_map_path', 'label image')):
                    if not osp.isfile(info[key]):
                        raise FileNotFoundError(
                            f'{what} {info[key]!r} of {name!r} (listed in '
                            f'{ann_file!r}) does not exist')
            if kinds is not None:
                if name not in kinds:
                    raise ValueError(f'{name!r} of {ann_file!r} has no entry in '
                                     f'{self.scene_kinds_file!r}')
                info['scene_kind'] = kinds[name]
            data_list.append(info)
        return data_list
