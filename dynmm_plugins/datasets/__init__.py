"""RGB-D datasets and transforms for MMSegmentation, and the synthetic RGB-D set.

The synthetic generator needs only numpy and OpenCV; the dataset class and the
transforms are imported (and registered in mmseg's registries) when mmseg is
installed. Import errors of an installed mmseg propagate on purpose.
"""
import importlib.util

from .synthetic_rgbd import make_synthetic_rgbd

__all__ = ['make_synthetic_rgbd']

if importlib.util.find_spec('mmseg') is not None:
    from .nyuv2_rgbd import NYUv2RGBDDataset
    from .sunrgbd_rgbd import SUNRGBDRGBDDataset
    from .transforms import (ConcatRGBD, LoadCheckedAnnotations,
                             LoadDepthFromFile, RandomHSV)
    __all__ += [
        'NYUv2RGBDDataset', 'SUNRGBDRGBDDataset', 'LoadDepthFromFile', 'LoadCheckedAnnotations',
        'RandomHSV', 'ConcatRGBD'
    ]
