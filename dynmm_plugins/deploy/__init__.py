"""Deployment of DynMM segmentors: BatchNorm folding, ONNX export, an onnxruntime runtime.

- :func:`fold_batchnorm` (:mod:`.folding`): fold inference BatchNorm into convolutions,
  for PyTorch inference and before export;
- :func:`keep_freed_memory` (:mod:`.cpu_allocator`): glibc's malloc keeps freed memory, so
  CPU inference does not page-fault its large tensors on every forward;
- :func:`export_model` (:mod:`.export`): a stems + gate graph and one graph per
  branch, plus ``manifest.json`` (:mod:`.manifest`);
- :class:`OnnxDynMM` (:mod:`.runtime`): routes each sample through its branch's
  graph on onnxruntime;
- :class:`OnnxSegmentor` (:mod:`.onnx_segmentor`): the runtime behind MMSeg's
  segmentor interface, for the project's evaluation loop.

``onnx`` and ``onnxruntime`` (the ``deploy`` extra) are imported only when a graph
is written or loaded, never by ``import dynmm_plugins`` or by this package.
"""
import importlib.util

from .cpu_allocator import keep_freed_memory
from .export import MatrixAdaptiveAvgPool2d, export_model
from .folding import fold_batchnorm
from .manifest import read_manifest
from .runtime import OnnxDynMM

__all__ = ['MatrixAdaptiveAvgPool2d', 'OnnxDynMM', 'export_model', 'fold_batchnorm', 'keep_freed_memory',
           'read_manifest']

if importlib.util.find_spec('mmseg') is not None:
    from .onnx_segmentor import OnnxSegmentor  # noqa: F401
    __all__.append('OnnxSegmentor')
