"""DynMM plugins for MMSegmentation.

``import dynmm_plugins`` registers the RGB-D datasets, transforms, models and hooks
into mmseg's registries when mmsegmentation is installed (configs reach them with
``custom_imports = dict(imports=['dynmm_plugins'])``). Without mmseg only the pure
PyTorch core (:mod:`dynmm_plugins.core`) is usable, which is all the MultiBench
side needs.
"""
import importlib.util

__version__ = '0.1.0'

from .utils.errors import install_excepthook

# our bad-input errors reach `mim train/test` users as one line (DYNMM_DEBUG=1: traceback)
install_excepthook()

if importlib.util.find_spec('mmengine') is not None:
    from . import engine  # noqa: F401  (makes mmengine checkpoints loadable under torch>=2.6)

if importlib.util.find_spec('mmseg') is not None:
    # mmseg is installed: register everything. Import errors propagate on purpose,
    # a half-registered plugin would fail later with a far less clear message.
    from . import datasets, models  # noqa: F401
    from .engine import hooks  # noqa: F401
