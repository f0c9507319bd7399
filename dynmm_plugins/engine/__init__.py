"""mmengine integration: checkpoint loading under current torch, atomic checkpoint
writes, CPU multi-process training, and (with mmseg) hooks.

The hooks register into mmseg's registry, so ``dynmm_plugins/__init__`` imports
``engine.hooks`` only when mmseg is installed.
"""
from .atomic_local_backend import AtomicLocalBackend, use_atomic_local_backend
from .checkpoint_compat import allow_mmengine_checkpoint_globals
from .cpu_distributed import DynMMDistributedDataParallel, enable_cpu_distributed

allow_mmengine_checkpoint_globals()
use_atomic_local_backend()
enable_cpu_distributed()

__all__ = ['AtomicLocalBackend', 'DynMMDistributedDataParallel', 'allow_mmengine_checkpoint_globals',
           'enable_cpu_distributed', 'use_atomic_local_backend']
