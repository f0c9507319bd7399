"""Let mmengine 0.10.7 load and resume its own checkpoints under torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine's
checkpoints hold a few non-tensor objects (the message hub's ``HistoryBuffer``
with numpy arrays and scalars, the one-cycle scheduler's annealing function).
Instead of switching safe loading off, we allowlist exactly those types.
Functions stored as class attributes are pickled as ``getattr(cls, name)``; a
plain ``getattr`` would let a crafted file reach any attribute of any allowed
object, so we register a getattr that only returns the attributes listed in
:func:`_allowed_attributes`. Likewise an empty numpy array (a scalar registered
in the message hub but not yet logged) pickles its empty data as ``bytes()``
(torch saves with pickle protocol 2); ``builtins.bytes`` itself would accept any
argument (``bytes(10**12)`` allocates a terabyte), so only the call without
arguments is allowed.
"""
import os.path as osp
import pickle
import zipfile

import numpy as np
import torch

from dynmm_plugins.utils.errors import DynMMUserError, error_message

_INSTALLED = False
_LAST_LOADED = None  # the checkpoint file mmengine loaded last, for messages of the model


def describe_last_checkpoint() -> str:
    """'checkpoint <file>' of the file mmengine loaded last ('the checkpoint' if none)."""
    return f'checkpoint {_LAST_LOADED}' if _LAST_LOADED else 'the checkpoint'


def _numpy_globals() -> list:
    # numpy >= 2 moved the pickling helpers to numpy._core; checkpoints name them there.
    multiarray = getattr(np, '_core', np.core).multiarray
    return [
        (multiarray._reconstruct, f'{multiarray.__name__}._reconstruct'),
        (multiarray.scalar, f'{multiarray.__name__}.scalar'),
        np.ndarray,
        np.dtype,
    ] + [type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDG']


def _allowed_attributes() -> dict:
    """Class -> attribute names that mmengine checkpoints reach through ``getattr``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
    return {
        HistoryBuffer: {'min', 'max', 'mean', 'current'} | set(HistoryBuffer._statistics_methods),
        OneCycleParamScheduler: {'_annealing_cos', '_annealing_linear'},
    }


def _restricted_getattr(obj, name):
    """``getattr`` limited to :func:`_allowed_attributes`."""
    allowed = _allowed_attributes().get(obj, ()) if isinstance(obj, type) else ()
    if isinstance(name, str) and name in allowed:
        return getattr(obj, name)
    raise RuntimeError(f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only '
                       'HistoryBuffer statistics and scheduler annealing functions are allowed')


def _empty_bytes(*args):
    """``bytes()`` and nothing else: what protocol-2 pickles of empty arrays call."""
    if args:
        raise RuntimeError(f'refusing bytes{args!r} while loading a checkpoint: only bytes() '
                           '(the data of an empty numpy array) is allowed')
    return b''


class UnreadableCheckpointError(DynMMUserError, RuntimeError):
    """A checkpoint file that torch cannot load; the message names the file and says why.

    Also a ``RuntimeError``, which is what torch raises for such files.
    """


def _first_bytes(filename, count=8) -> bytes:
    with open(filename, 'rb') as f:
        return f.read(count)


def diagnose_unreadable(filename, err: BaseException) -> str:
    """Why torch could not load ``filename``: empty, not a checkpoint, truncated or refused."""
    size = osp.getsize(filename)
    if size == 0:
        return f'checkpoint {filename} is an empty file (0 bytes): the save that wrote it did not finish'
    head = _first_bytes(filename)
    # torch >= 1.6 writes zip archives; older torch a pickle (0x80, then protocol 2..5)
    is_pickle = head[:1] == b'\x80' and head[1:2] in (b'\x02', b'\x03', b'\x04', b'\x05')
    if not (head.startswith(b'PK') or is_pickle):
        return (f'checkpoint {filename} is not a torch checkpoint at all ({size} bytes, neither a '
                f'zip archive nor a pickle; it starts with {head.hex(" ")})')
    if head.startswith(b'PK') and not zipfile.is_zipfile(filename):
        return f'checkpoint {filename} is truncated ({size} bytes): the zip archive has no end record'
    if isinstance(err, pickle.UnpicklingError) and 'weights_only' in str(err):
        last = [ln for ln in str(err).splitlines() if ln.strip()][-1][:300]
        return (f'checkpoint {filename} holds objects that safe loading refuses (only tensors and '
                f"mmengine's own state are allowed): {last}")
    detail = error_message(err)
    return f'checkpoint {filename} is truncated or not a torch checkpoint ({size} bytes): {detail}'


def load_local_checkpoint(filename, map_location=None):
    """mmengine's local checkpoint loader, with errors that name the file and say what is wrong.

    A truncated, empty or foreign file otherwise surfaces as torch's ``PytorchStreamReader
    failed reading zip archive`` or a bare ``EOFError`` without a file name.
    """
    filename = osp.expanduser(filename)
    if osp.isdir(filename):
        raise IsADirectoryError(f'checkpoint {filename} is a folder, not a file')
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    global _LAST_LOADED
    _LAST_LOADED = filename
    try:
        return torch.load(filename, map_location=map_location)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError,
            UnicodeDecodeError, AttributeError, ImportError, IndexError, KeyError) as err:
        raise UnreadableCheckpointError(diagnose_unreadable(filename, err)) from err


def allow_mmengine_checkpoint_globals() -> None:
    """Allowlist the types mmengine writes into checkpoints for ``torch.load(weights_only=True)``.

    Also installs :func:`load_local_checkpoint` as mmengine's loader for local
    paths. Idempotent; called on ``import dynmm_plugins``.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    torch.serialization.add_safe_globals(
        list(_allowed_attributes()) + [(_restricted_getattr, 'builtins.getattr'),
                                       (_empty_bytes, 'builtins.bytes')] + _numpy_globals())
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
    _INSTALLED = True
