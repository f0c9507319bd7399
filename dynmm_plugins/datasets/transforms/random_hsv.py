"""ESANet's colour augmentation: hue and saturation scaled, value shifted."""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomHSV(BaseTransform):
    """Jitter the colour image in HSV space as ESANet does.

    Hue and saturation (both in [0, 1]) are multiplied by factors drawn uniformly
    from their ranges; value (on the 0-255 scale of the uint8 image) gets a shift
    drawn uniformly from ``value_shift_range``, ESANet's ``V + U(-25, 25)``. Each
    result is clipped to its scale. Only ``results['img']`` (the 3-channel BGR
    image of ``LoadImageFromFile``) is changed; depth and labels are left alone,
    so put it before :class:`ConcatRGBD`.

    Required Keys:

    - img (np.uint8, (H, W, 3), BGR)

    Modified Keys:

    - img

    Args:
        hue_range (Sequence[float]): Range of the hue factor. Defaults to
            (0.9, 1.1).
        saturation_range (Sequence[float]): Range of the saturation factor.
            Defaults to (0.9, 1.1).
        value_shift_range (Sequence[float]): Range of the value shift, in
            grey levels of the 0-255 scale. Defaults to (-25, 25).
    """

    def __init__(self,
                 hue_range: Sequence[float] = (0.9, 1.1),
                 saturation_range: Sequence[float] = (0.9, 1.1),
                 value_shift_range: Sequence[float] = (-25, 25)) -> None:
        for name, rng in (('hue_range', hue_range),
                          ('saturation_range', saturation_range)):
            if len(rng) != 2 or min(rng) < 0:
                raise ValueError(f'{name} must be two non-negative factors, got '
                                 f'{rng}')
        if len(value_shift_range) != 2 or max(abs(v) for v in value_shift_range) > 255:
            raise ValueError('value_shift_range must be two shifts in [-255, 255] '
                             f'(grey levels), got {value_shift_range}')
        self.hue_range = tuple(hue_range)
        self.saturation_range = tuple(saturation_range)
        self.value_shift_range = tuple(value_shift_range)

    @cache_randomness
    def _sample(self) -> Tuple[float, float, float]:
        return tuple(
            float(np.random.uniform(min(r), max(r)))
            for r in (self.hue_range, self.saturation_range, self.value_shift_range))

    def transform(self, results: dict) -> dict:
        """Jitter the colour image in HSV space."""
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f'RandomHSV needs a 3-channel colour image, got shape {img.shape} '
                f'for {results.get("img_path")!r} (put it before ConcatRGBD)')
        hue, saturation, shift = self._sample()
        hsv = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2HSV)
        # OpenCV's float HSV has H in degrees [0, 360], S and V in [0, 1].
        hsv[..., 0] = np.clip(hsv[..., 0] * hue, 0.0, 360.0)
        hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0.0, 1.0)
        hsv[..., 2] = np.clip(hsv[..., 2] + shift / 255.0, 0.0, 1.0)
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255.0
        if img.dtype == np.uint8:
            bgr = np.clip(np.rint(bgr), 0, 255).astype(np.uint8)
        results['img'] = bgr.astype(img.dtype, copy=False)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(hue_range={self.hue_range}, '
                f'saturation_range={self.saturation_range}, '
                f'value_shift_range={self.value_shift_range})')
