"""ESANet's colour augmentation: random scaling of hue, saturation and value."""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomHSV(BaseTransform):
    """Multiply hue, saturation and value of the colour image by random factors.

    This is ESANet's photometric augmentation: each of H, S and V (all in [0, 1])
    is multiplied by a factor drawn uniformly from its range and clipped to [0, 1].
    Only ``results['img']`` (the 3-channel BGR image of ``LoadImageFromFile``) is
    changed; depth and labels are left alone, so put it before
    :class:`ConcatRGBD`.

    Required Keys:

    - img (np.uint8, (H, W, 3), BGR)

    Modified Keys:

    - img

    Args:
        hue_range (Sequence[float]): Range of the hue factor. Defaults to
            (0.9, 1.1).
        saturation_range (Sequence[float]): Range of the saturation factor.
            Defaults to (0.9, 1.1).
        value_range (Sequence[float]): Range of the value factor. Defaults to
            (0.9, 1.1).
    """

    def __init__(self,
                 hue_range: Sequence[float] = (0.9, 1.1),
                 saturation_range: Sequence[float] = (0.9, 1.1),
                 value_range: Sequence[float] = (0.9, 1.1)) -> None:
        for name, rng in (('hue_range', hue_range),
                          ('saturation_range', saturation_range),
                          ('value_range', value_range)):
            if len(rng) != 2 or min(rng) < 0:
                raise ValueError(f'{name} must be two non-negative factors, got '
                                 f'{rng}')
        self.hue_range = tuple(hue_range)
        self.saturation_range = tuple(saturation_range)
        self.value_range = tuple(value_range)

    @cache_randomness
    def _sample_factors(self) -> Tuple[float, float, float]:
        return tuple(
            float(np.random.uniform(min(r), max(r)))
            for r in (self.hue_range, self.saturation_range, self.value_range))

    def transform(self, results: dict) -> dict:
        """Jitter the colour image in HSV space."""
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f'RandomHSV needs a 3-channel colour image, got shape {img.shape} '
                f'for {results.get("img_path")!r} (put it before ConcatRGBD)')
        factors = self._sample_factors()
        hsv = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2HSV)
        # OpenCV's float HSV has H in degrees [0, 360], S and V in [0, 1].
        limits = (360.0, 1.0, 1.0)
        for channel, (factor, limit) in enumerate(zip(factors, limits)):
            hsv[..., channel] = np.clip(hsv[..., channel] * factor, 0.0, limit)
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255.0
        if img.dtype == np.uint8:
            bgr = np.clip(np.rint(bgr), 0, 255).astype(np.uint8)
        results['img'] = bgr.astype(img.dtype, copy=False)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(hue_range={self.hue_range}, '
                f'saturation_range={self.saturation_range}, '
                f'value_range={self.value_range})')
