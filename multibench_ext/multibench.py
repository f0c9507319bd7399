"""Locate a MultiBench clone and import the parts of it the example scripts use.

MultiBench is a repository, not a package: its scripts run from its root and import
``training_structures``, ``unimodals``, ``fusions`` and ``datasets`` as top-level
packages. We put the root first on ``sys.path`` and import from there, so a user's
clone is used exactly as it is (never copied or patched).
"""
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Union

from dynmm_plugins.utils.errors import error_message

from .errors import SetupError

ENV_VAR = 'MULTIBENCH_ROOT'
CLONE_URL = 'https://github.com/pliang279/MultiBench'
# Files whose presence marks a MultiBench root; all of them are imported below.
MARKERS = ('training_structures/Supervised_Learning.py', 'training_structures/unimodal.py',
           'unimodals/common_models.py', 'fusions/common_fusions.py')
# What MultiBench's training structures import at module level besides torch.
RUNTIME_REQUIREMENTS = 'torchvision, scikit-learn, memory_profiler, matplotlib, tqdm, h5py'
# Never a bare `pip install torchvision`: it would replace the project's torch (and break mmcv).
TORCHVISION_ADVICE = ('install the torchvision built for this torch without touching torch, e.g. '
                      '`pip install torchvision==0.29.1 --no-deps` for the project\'s torch 2.14.1 '
                      '(bash run.sh installs the pair)')


def is_multibench_root(path: Union[str, Path]) -> bool:
    """True if ``path`` looks like the root of a MultiBench clone."""
    root = Path(path)
    return all((root / marker).is_file() for marker in MARKERS)


def find_multibench_root(root: Optional[Union[str, Path]] = None) -> Path:
    """The MultiBench root: ``root`` if given, else ``$MULTIBENCH_ROOT``, else the working directory.

    Raises:
        SetupError: The chosen directory is not a MultiBench clone. The message names
            the flag and the variable to set.
    """
    if root:
        candidate, source = Path(root), '--multibench-root'
    elif os.environ.get(ENV_VAR):
        candidate, source = Path(os.environ[ENV_VAR]), f'${ENV_VAR}'
    else:
        candidate, source = Path.cwd(), 'the working directory'
    candidate = candidate.expanduser().resolve()
    if not is_multibench_root(candidate):
        raise SetupError(f'MultiBench not found at {candidate} ({source}): clone {CLONE_URL} and pass '
                         f'--multibench-root DIR or set {ENV_VAR}=DIR')
    return candidate


def _installed_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001  (not installed, or no metadata)
        return 'unknown'


def check_torchvision() -> None:
    """Import torchvision (MultiBench's ``unimodals`` needs it); one line if it does not match torch.

    A torchvision built for another torch fails at import deep in its C++ operators
    (``operator torchvision::nms does not exist``), a 35-line traceback.
    """
    try:
        import torchvision  # noqa: F401
    except ImportError as exc:
        raise SetupError(f'MultiBench needs torchvision, which does not import ({exc}): '
                         f'{TORCHVISION_ADVICE}') from exc
    except Exception as exc:  # noqa: BLE001  (RuntimeError from its compiled operators)
        import torch
        raise SetupError(f'torchvision {_installed_version("torchvision")} does not match torch '
                         f'{torch.__version__} ({type(exc).__name__}: {error_message(exc)[:120]}): '
                         f'{TORCHVISION_ADVICE}') from exc


def import_multibench(root: Union[str, Path]) -> SimpleNamespace:
    """Import MultiBench's training structures, encoders and fusions from the clone at ``root``.

    Returns:
        SimpleNamespace: ``root``, ``supervised`` (``training_structures.Supervised_Learning``),
        ``unimodal`` (``training_structures.unimodal``), ``common_models``
        (``unimodals.common_models``) and ``common_fusions`` (``fusions.common_fusions``).

    Raises:
        SetupError: A module does not import (typically a missing requirement).
    """
    root = Path(root).resolve()
    if str(root) not in sys.path:
        # First on the path: MultiBench's top-level ``datasets`` package must win over
        # an installed package of the same name.
        sys.path.insert(0, str(root))
    check_torchvision()
    try:
        import fusions.common_fusions as common_fusions
        import training_structures.Supervised_Learning as supervised
        import training_structures.unimodal as unimodal
        import unimodals.common_models as common_models
    except ImportError as exc:
        raise SetupError(f'MultiBench at {root} does not import ({exc}): install its requirements '
                         f'({RUNTIME_REQUIREMENTS})') from exc
    except Exception as exc:  # noqa: BLE001  (a broken requirement fails in many ways at import)
        raise SetupError(f'MultiBench at {root} does not import: {type(exc).__name__}: '
                         f'{error_message(exc)[:300]}') from exc
    return SimpleNamespace(root=root, supervised=supervised, unimodal=unimodal,
                           common_models=common_models, common_fusions=common_fusions)
