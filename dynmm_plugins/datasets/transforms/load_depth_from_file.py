"""Load a depth image that is pixel-aligned with the colour image."""
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadDepthFromFile(BaseTransform):
    """Load a depth image (uint16 PNG, millimetres) into ``results['depth']``.

    The depth map joins ``seg_fields``, so MMSeg's geometric transforms (``Resize``
    and ``RandomResize``, ``RandomCrop``, ``RandomFlip``) move it together with the
    image and the labels, resizing it with nearest-neighbour interpolation as ESANet
    does. Use it after ``LoadImageFromFile``; :class:`ConcatRGBD` later appends it to
    the image as a fourth channel.

    Datasets whose files are not in millimetres put a ``depth_scale`` into each
    sample (SUN RGB-D: 1/8); it is applied on top of this transform's own
    ``depth_scale``, so depth of every dataset arrives in millimetres. A sample's
    ``depth_wrap_bits`` (SUN RGB-D: 3) says that the stored values are rotated
    left by that many bits, so that depths past the 16-bit range wrapped into the
    low bits; they are unwrapped before scaling.

    A depth of 0 means "no measurement" (raw Kinect depth) and is kept. Floating
    point depth files (e.g. 32-bit TIFF, taken as millimetres) are accepted; their
    NaN, infinite and negative values become 0.

    Required Keys:

    - depth_path
    - depth_scale (optional, the dataset's factor to millimetres)
    - depth_wrap_bits (optional, the dataset's bit rotation of stored depth)
    - img (optional, for the size check)
    - seg_fields

    Modified Keys:

    - seg_fields

    Added Keys:

    - depth (np.float32, (H, W), millimetres)

    Args:
        depth_scale (float): Factor from stored values to millimetres, applied
            on top of the sample's own ``depth_scale``. Defaults to 1.0.
        check_size (bool): Raise if the depth size differs from the image size.
            Defaults to True.
        backend_args (dict, optional): Arguments to instantiate a file backend.
            Defaults to None.
    """

    def __init__(self,
                 depth_scale: float = 1.0,
                 check_size: bool = True,
                 backend_args: Optional[dict] = None) -> None:
        self.depth_scale = depth_scale
        self.check_size = check_size
        self.backend_args = backend_args.copy() if backend_args else None

    def transform(self, results: dict) -> dict:
        """Load the depth image and register it as a segmentation field."""
        path = results['depth_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f'depth image {path!r} for {results.get("img_path")!r} does not '
                'exist') from err
        depth = mmcv.imfrombytes(data, flag='unchanged', backend='cv2')
        if depth is None:
            raise ValueError(f'depth image {path!r} could not be decoded')
        if depth.ndim != 2:
            raise ValueError(f'depth image {path!r} has shape {depth.shape}; '
                             'expected a single-channel 16-bit image')
        if np.issubdtype(depth.dtype, np.floating):
            depth = np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0,
                                  neginf=0.0)
            depth[depth < 0] = 0
        elif depth.dtype == np.uint16:
            wrap_bits = int(results.get('depth_wrap_bits', 0))
            low = depth & ((1 << wrap_bits) - 1)
            # the wrapped-around high bits are worth 2**16 of the stored unit
            depth = (depth - low).astype(np.float32) + low.astype(np.float32) * 65536
        else:
            raise ValueError(
                f'depth image {path!r} is {depth.dtype} '
                f'({8 * depth.dtype.itemsize}-bit); expected a 16-bit PNG (uint16 '
                'millimetres)')
        scale = self.depth_scale * results.get('depth_scale', 1.0)
        if scale != 1.0:
            depth *= scale
        if self.check_size and 'img' in results:
            img_hw = tuple(results['img'].shape[:2])
            if depth.shape != img_hw:
                raise ValueError(
                    f'depth image {path!r} is {depth.shape[0]}x{depth.shape[1]} '
                    f'(HxW) but colour image {results.get("img_path")!r} is '
                    f'{img_hw[0]}x{img_hw[1]}')
        results['depth'] = depth
        seg_fields = results.setdefault('seg_fields', [])
        if 'depth' not in seg_fields:
            seg_fields.append('depth')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(depth_scale={self.depth_scale}, '
                f'check_size={self.check_size}, '
                f'backend_args={self.backend_args})')
