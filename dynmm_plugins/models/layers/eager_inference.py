"""When an inference-only fast path may replace a layer's plain PyTorch computation."""
import torch
from torch import Tensor


def is_eager_inference(x: Tensor) -> bool:
    """True when ``x`` is computed without recording gradients and outside an ONNX export.

    The inference fast paths of :class:`SeparableMaxPool2d` (two-pass maximum) and
    ``ESANetHead`` (channels-last upsampling) give the plain layers' values; they apply only
    here: the two passes would split a tie's gradient, and an export keeps the plain nodes
    and layout that onnxruntime runs best.
    """
    return not (torch.is_grad_enabled() and x.requires_grad) and not torch.onnx.is_in_onnx_export()
