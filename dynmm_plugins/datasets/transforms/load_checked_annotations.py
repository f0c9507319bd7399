"""Load a label image and check that its values fit the dataset's classes."""
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(LoadAnnotations):
    """``LoadAnnotations`` that rejects label values beyond the class count and
    labels of another size than their image.

    MMSeg's ``LoadAnnotations`` casts labels to uint8 and trusts them; a wrong label
    folder or a corrupt file then trains silently on garbage (or wraps 16-bit
    values). This loader reads the file once, checks it and then applies
    ``reduce_zero_label`` and ``label_map`` as ``LoadAnnotations`` does.

    Valid values in the file are ``0..num_classes`` with ``reduce_zero_label``
    (0 = void), ``0..num_classes - 1`` without, and 255 (ignore) in both cases.

    Required Keys:

    - seg_map_path
    - reduce_zero_label
    - seg_fields
    - ori_shape (optional: loaded image; the label must have its size)
    - num_classes (optional, used when ``num_classes`` is None; set by
      :class:`NYUv2RGBDDataset`)
    - label_map (optional)

    Added Keys:

    - gt_seg_map (np.uint8)

    Args:
        num_classes (int, optional): Number of classes in the label files (void
            not counted). None takes ``results['num_classes']``; without either
            the range is not checked. Defaults to None.
        reduce_zero_label (bool, optional): See ``LoadAnnotations``; None takes
            the dataset's setting. Defaults to None.
        backend_args (dict, optional): File backend arguments. Defaults to None.
        imdecode_backend (str): Image decoding backend. Defaults to 'pillow'.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 reduce_zero_label: Optional[bool] = None,
                 backend_args: Optional[dict] = None,
                 imdecode_backend: str = 'pillow') -> None:
        super().__init__(reduce_zero_label=reduce_zero_label,
                         backend_args=backend_args,
                         imdecode_backend=imdecode_backend)
        self.num_classes = num_classes

    def _load_seg_map(self, results: dict) -> None:
        """Load, check and convert the label image."""
        path = results['seg_map_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'label image {path!r} does not exist') from err
        try:
            label = mmcv.imfrombytes(data, flag='unchanged', backend=self.imdecode_backend)
        except (OSError, ValueError) as err:  # PIL: "image file is truncated", bad header
            raise ValueError(f'label image {path!r} is corrupt or truncated: {err}') from err
        if label is None:
            raise ValueError(f'label image {path!r} is corrupt or truncated')
        label = np.asarray(label)
        if label.ndim == 3 and label.shape[2] == 1:
            label = label[..., 0]
        if label.ndim != 2:
            raise ValueError(f'label image {path!r} has shape {label.shape}; '
                             'expected a single-channel label map')

        image_shape = results.get('ori_shape') or results.get('img_shape')
        if image_shape is not None and tuple(label.shape) != tuple(image_shape[:2]):
            image = results.get('img_path', 'its image')
            raise ValueError(f'label image {path!r} is {label.shape[0]}x{label.shape[1]} (HxW) but '
                             f'{image!r} is {image_shape[0]}x{image_shape[1]}: every label must have '
                             'the size of its image')

        reduce_zero_label = self.reduce_zero_label
        if reduce_zero_label is None:
            reduce_zero_label = results['reduce_zero_label']
        num_classes = self.num_classes
        if num_classes is None:
            num_classes = results.get('num_classes')
        values = np.unique(label)
        if num_classes is None:
            if values.max() > 255:
                raise ValueError(f'label image {path!r} contains value '
                                 f'{int(values.max())}, which does not fit uint8')
        else:
            highest = num_classes if reduce_zero_label else num_classes - 1
            bad = values[(values > highest) & (values != 255)]
            if bad.size:
                valid = ('0 (void), 1..' if reduce_zero_label else '0..')
                raise ValueError(
                    f'label image {path!r} contains value {int(bad.max())}, beyond '
                    f'the {num_classes} classes of the dataset (valid: '
                    f'{valid}{highest}, or 255 = ignore)')

        label = label.astype(np.uint8)
        if reduce_zero_label:
            # 0 (void) -> 255 (ignore), classes 1..n -> 0..n-1, 255 stays 255.
            label = np.where(label == 0, 255, label - 1).astype(np.uint8)
            label[label == 254] = 255
        label_map = results.get('label_map')
        if label_map is not None:
            mapped = label.copy()
            for old_id, new_id in label_map.items():
                mapped[label == old_id] = new_id
            label = mapped
        results['gt_seg_map'] = label
        results['seg_fields'].append('gt_seg_map')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'reduce_zero_label={self.reduce_zero_label}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')
