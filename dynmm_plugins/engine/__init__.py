"""mmengine integration: checkpoint loading under current torch, and (with mmseg) hooks.

The hooks register into mmseg's registry, so ``dynmm_plugins/__init__`` imports
``engine.hooks`` only when mmseg is installed.
"""
from .checkpoint_compat import allow_mmengine_checkpoint_globals

allow_mmengine_checkpoint_globals()
