"""RGB-D data transforms, registered in mmseg's ``TRANSFORMS``."""
from .concat_rgbd import ConcatRGBD
from .load_checked_annotations import LoadCheckedAnnotations
from .load_depth_from_file import LoadDepthFromFile
from .random_hsv import RandomHSV

__all__ = [
    'LoadDepthFromFile', 'LoadCheckedAnnotations', 'RandomHSV', 'ConcatRGBD'
]
