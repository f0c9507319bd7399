"""SUN RGB-D as an RGB-D segmentation dataset for MMSeg, in the NYUv2 layout."""
from typing import List

from mmseg.registry import DATASETS

from .nyuv2_rgbd import NYUv2RGBDDataset, bit_interleaved_palette

# The 37 SUN RGB-D classes in label order 1..37 (0 = void), spelled as ESANet lists
# them. They are the first 37 of the NYUv2 40 classes, in the same order.
SUNRGBD37_CLASSES = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
    'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain',
    'dresser', 'pillow', 'mirror', 'floor mat', 'clothes', 'ceiling', 'books',
    'fridge', 'tv', 'paper', 'towel', 'shower curtain', 'box', 'whiteboard', 'person',
    'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag')
# Same colours as the NYUv2 40 classes, so that shared classes look alike.
SUNRGBD37_PALETTE = bit_interleaved_palette(38)[1:]

# SUN RGB-D's depth PNGs hold millimetres rotated left by 3 bits (the toolbox's
# read3dPoints undoes it with bitshift(d, -3) | bitshift(d, 13)), i.e. 8x mm below
# 8.192 m. Unwrapping the 3 low bits and scaling by 1/8 gives the millimetres
# NYUv2 depth is in.
SUNRGBD_DEPTH_SCALE = 1 / 8
SUNRGBD_DEPTH_WRAP_BITS = 3
# ESANet's statistics of the refined (depth_bfx) training depth, 19025.15 and
# 9880.92 in stored units, here in millimetres (divided by 8).
SUNRGBD_DEPTH_MEAN = 2378.14
SUNRGBD_DEPTH_STD = 1235.11


@DATASETS.register_module()
class SUNRGBDRGBDDataset(NYUv2RGBDDataset):
    """SUN RGB-D (37 classes) in the NYUv2 layout that ``tools/prepare_sunrgbd.py`` writes.

    The layout is :class:`NYUv2RGBDDataset`'s, with ``labels_37`` (uint8, 0 =
    void, 1..37) as the label folder and depth PNGs in SUN RGB-D's own scale
    (as released and as ESANet reads them: 8x millimetres)::

        data_root/
            train.txt, test.txt              image names, one per line
            {train,test}/rgb/NAME.jpg        colour image (as released)
            {train,test}/depth/NAME.png      uint16, refined depth (depth_bfx)
            {train,test}/depth_raw/NAME.png  uint16, raw depth (0 = missing)
            {train,test}/labels_37/NAME.png  uint8, 0 = void, 1..37

    Every data info carries ``depth_scale`` (:data:`SUNRGBD_DEPTH_SCALE` unless
    given) and ``depth_wrap_bits`` (3), which :class:`LoadDepthFromFile`
    applies, so depth reaches the model in millimetres like NYUv2's, to be normalised with :attr:`DEPTH_MEAN` and
    :attr:`DEPTH_STD` (the values of ``_base_/datasets/sunrgbd_rgbd-480x640.py``).

    Args:
        data_root (str): Dataset root folder.
        label_dir (str): Label folder. Defaults to ``'labels_37'``.
        img_suffix (str): Colour image suffix. Defaults to ``'.jpg'``.
        depth_scale (float): Factor from stored depth values to millimetres.
            Defaults to 1/8.
        depth_wrap_bits (int): Bit rotation of the stored depth values (0 for
            files already in plain units). Defaults to 3.
        **kwargs: :class:`NYUv2RGBDDataset` arguments (``split``, ``depth_dir``,
            ``metainfo``, ``pipeline``, ``test_mode`` ...).
    """

    METAINFO = dict(classes=SUNRGBD37_CLASSES, palette=SUNRGBD37_PALETTE)
    LABEL_SETS = {'labels_37': METAINFO}
    DEPTH_SCALE = SUNRGBD_DEPTH_SCALE
    DEPTH_MEAN = SUNRGBD_DEPTH_MEAN
    DEPTH_STD = SUNRGBD_DEPTH_STD

    def __init__(self, data_root: str, label_dir: str = 'labels_37', img_suffix: str = '.jpg',
                 depth_scale: float = SUNRGBD_DEPTH_SCALE,
                 depth_wrap_bits: int = SUNRGBD_DEPTH_WRAP_BITS, **kwargs) -> None:
        if not depth_scale > 0:
            raise ValueError(f'depth_scale must be > 0, got {depth_scale!r}')
        if depth_wrap_bits not in range(16):
            raise ValueError(f'depth_wrap_bits must be in 0..15, got {depth_wrap_bits!r}')
        self.depth_scale = float(depth_scale)
        self.depth_wrap_bits = int(depth_wrap_bits)
        super().__init__(data_root, label_dir=label_dir, img_suffix=img_suffix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """The NYUv2-layout samples, each with the depth scale of this set."""
        data_list = super().load_data_list()
        for info in data_list:
            info['depth_scale'] = self.depth_scale
            info['depth_wrap_bits'] = self.depth_wrap_bits
        return data_list
