"""Stack colour and depth into the one RGB-D input the models receive."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ConcatRGBD(BaseTransform):
    """Append the depth map to the colour image as a fourth channel.

    The last step before ``PackSegInputs``. It defines the data contract of the
    DynMM RGB-D models: ``inputs`` is float32 (4, H, W) with R, G, B (0..255) in
    channels 0-2 and depth in millimetres in channel 3. ``SegDataPreProcessor``
    normalises it with four means and stds, e.g.::

        SegDataPreProcessor(mean=[123.675, 116.28, 103.53, 2841.95],
                            std=[58.395, 57.12, 57.375, 1417.26],
                            bgr_to_rgb=False, pad_val=0, seg_pad_val=255)

    ``bgr_to_rgb`` must stay False: the preprocessor only swaps channels of
    3-channel inputs, so the BGR -> RGB conversion happens here.

    Missing depth (0) stays 0 mm by default, i.e. ``-mean / std`` after
    normalisation. ESANet's raw-depth mode instead sets missing pixels to 0 *after*
    normalisation; ``missing_depth_value`` set to the preprocessor's depth mean
    reproduces that.

    Required Keys:

    - img (np.uint8 or float, (H, W, 3), BGR as loaded by ``LoadImageFromFile``)
    - depth (np.float32, (H, W), millimetres; see :class:`LoadDepthFromFile`)

    Modified Keys:

    - img (np.float32, (H, W, 4), RGB + depth)
    - seg_fields (``'depth'`` removed)

    Removed Keys:

    - depth

    Args:
        to_rgb (bool): Convert the BGR image to RGB. Defaults to True.
        missing_depth_value (float, optional): Value (mm) that replaces depth 0.
            None keeps 0. Defaults to None.
    """

    def __init__(self,
                 to_rgb: bool = True,
                 missing_depth_value: Optional[float] = None) -> None:
        self.to_rgb = to_rgb
        self.missing_depth_value = missing_depth_value

    def transform(self, results: dict) -> dict:
        """Stack image and depth into one (H, W, 4) float32 array."""
        img, depth = results['img'], results['depth']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'ConcatRGBD needs a 3-channel colour image, got '
                             f'shape {img.shape} for {results.get("img_path")!r}')
        if depth.shape != img.shape[:2]:
            raise ValueError(
                f'depth {depth.shape} and image {img.shape[:2]} of '
                f'{results.get("img_path")!r} are no longer aligned; geometric '
                "transforms must see 'depth' in seg_fields (LoadDepthFromFile "
                'adds it)')
        if self.to_rgb:
            img = img[..., ::-1]
        depth = np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0,
                              neginf=0.0)
        if self.missing_depth_value is not None:
            depth = np.where(depth == 0, np.float32(self.missing_depth_value),
                             depth)
        rgbd = np.empty(img.shape[:2] + (4, ), dtype=np.float32)
        rgbd[..., :3] = img
        rgbd[..., 3] = depth
        results['img'] = rgbd
        results['seg_fields'] = [k for k in results.get('seg_fields', [])
                                 if k != 'depth']
        del results['depth']
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_rgb={self.to_rgb}, '
                f'missing_depth_value={self.missing_depth_value})')
