"""Multi-process training on CPUs (gloo) under mmengine 0.10.7's launchers.

mmengine's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` even on a
machine without CUDA, and its ``MMDistributedDataParallel`` is always given
``device_ids=[LOCAL_RANK]``, which torch refuses for CPU modules. Both stop
``torchrun ... train.py CONFIG --launcher pytorch`` (and ``mim train ...
--launcher pytorch``) on CPUs. We wrap the pytorch launcher so that without
CUDA it initialises the process group itself (gloo unless the config names
another CPU backend), and provide a DDP wrapper that drops ``device_ids`` for
CPU modules. With CUDA, mmengine's own code runs unchanged.
"""
import warnings

import torch
import torch.distributed as torch_dist
from mmengine.dist import utils as dist_utils
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

_CPU_BACKENDS = ('gloo', 'mpi')


def _init_dist_pytorch_cpu_aware(backend, init_backend='torch', **kwargs):
    if torch.cuda.is_available() or init_backend != 'torch':
        return _ORIGINAL_INIT_DIST_PYTORCH(backend, init_backend=init_backend, **kwargs)
    if backend not in _CPU_BACKENDS:
        warnings.warn(f"dist backend {backend!r} needs CUDA, which this machine lacks; using 'gloo' "
                      "(set env_cfg.dist_cfg.backend='gloo' to silence this)")
        backend = 'gloo'
    # RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT come from torchrun (env://).
    torch_dist.init_process_group(backend=backend, **kwargs)


_ORIGINAL_INIT_DIST_PYTORCH = dist_utils._init_dist_pytorch


def enable_cpu_distributed():
    """Route mmengine's pytorch launcher through the CPU-aware initialisation (idempotent)."""
    dist_utils._init_dist_pytorch = _init_dist_pytorch_cpu_aware


@MODEL_WRAPPERS.register_module()
class DynMMDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also wraps CPU modules.

    mmengine passes ``device_ids=[LOCAL_RANK]``; torch accepts device ids only
    for GPU modules, so they are dropped when the module lives on the CPU.
    Select it with ``model_wrapper_cfg = dict(type='DynMMDistributedDataParallel',
    find_unused_parameters=True)``.

    Args:
        module (nn.Module): The model to wrap.
        device_ids (list[int], optional): GPU ids, ignored for CPU modules.
        **kwargs: Passed to ``torch.nn.parallel.DistributedDataParallel``.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        if next(module.parameters()).device.type == 'cpu':
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)
