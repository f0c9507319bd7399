"""Count the multiply-accumulates (MACs) a module spends on given inputs."""
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_macs(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """MACs of one call ``fn(*args, **kwargs)``, counted by torch's own FLOP counter.

    torch counts 2 FLOPs per multiply-accumulate of every matmul, convolution and
    attention product actually executed; we return half of it, i.e. MACs, the
    unit of thop tables (DynMM's cost tables). Element-wise work (BN, ReLU, adds)
    is not counted, so totals sit a few percent below thop, which adds BN.
    The call runs under ``torch.no_grad``.
    """
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn(*args, **kwargs)
    return counter.get_total_flops() // 2
