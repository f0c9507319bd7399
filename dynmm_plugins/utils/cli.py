"""Small helpers shared by the command-line tools: the error convention, option parsing,
devices and output paths checked before the work starts."""
import argparse
import os
import os.path as osp
import tempfile
from typing import Callable, Optional, Sequence

from .errors import (USER_ERRORS, ArgumentParser, DynMMUserError,  # noqa: F401  (re-exported)
                     add_debug_flag, run_entry_point)


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options K=V ...`` as in MMSeg's own tools."""
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='K=V',
        help='override config settings, e.g. test_dataloader.dataset.data_root=DIR '
             'test_dataloader.num_workers=0')


def default_device() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def check_device(device: Optional[str], flag: str = '--device') -> str:
    """``device`` (default: :func:`default_device`) if torch can use it here, else one clear error."""
    import torch
    if device is None:
        return default_device()
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise DynMMUserError(f"{flag} {device!r} is not a device: use 'cpu', 'cuda' or 'cuda:N'") from None
    if parsed.type not in ('cpu', 'cuda'):
        raise DynMMUserError(f"{flag} {device!r}: only 'cpu' and 'cuda' are supported")
    if parsed.type == 'cuda':
        if not torch.cuda.is_available():
            raise DynMMUserError(f'{flag} {device}: this torch build sees no CUDA device '
                                 f'(torch {torch.__version__}); use {flag} cpu')
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise DynMMUserError(f'{flag} {device}: only {torch.cuda.device_count()} CUDA '
                                 'device(s) are visible')
    return device


def shape_error(shape: Optional[Sequence[int]], stride: int = 32) -> Optional[str]:
    """Why ``--shape H W`` cannot be an input size (None if it can): the encoder halves it 5 times."""
    if shape is None:
        return None
    h, w = shape
    if h < stride or w < stride or h % stride or w % stride:
        return (f'--shape must be two positive multiples of {stride} (the encoder stride), '
                f'got {h} {w}; e.g. {max(stride, round(h / stride) * stride)} '
                f'{max(stride, round(w / stride) * stride)}')
    return None


def argparse_type(check: Callable, what: str) -> Callable:
    """Wrap a validator that raises ValueError into an argparse ``type`` (naming ``what``)."""

    def convert(text):
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = what
    return convert


def _probe_folder(folder: str, what: str) -> None:
    """Raise unless a file can be created in ``folder`` (created if missing)."""
    existing = folder
    while existing and not osp.exists(existing):
        existing = osp.dirname(existing)
    existing = existing or '.'
    if not osp.isdir(existing):
        raise DynMMUserError(f'{what}: {existing} is a file, not a folder')
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix='.write-test-')
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise DynMMUserError(f'{what}: cannot write in {folder} ({exc.strerror or exc})') from None


def check_output_file(path: Optional[str], what: str = '--out') -> Optional[str]:
    """Fail now, not after the work, if ``path`` cannot be written (its folder is created)."""
    if not path:
        return path
    if osp.isdir(path):
        raise DynMMUserError(f'{what} {path} is a folder; give a file name')
    if osp.exists(path) and not os.access(path, os.W_OK):
        raise DynMMUserError(f'{what} {path} exists and is not writable')
    _probe_folder(osp.dirname(osp.abspath(path)), f'{what} {path}')
    return path


def check_output_dir(path: Optional[str], what: str = '--out-dir') -> Optional[str]:
    """Fail now, not after the work, if files cannot be written into folder ``path``."""
    if not path:
        return path
    if osp.exists(path) and not osp.isdir(path):
        raise DynMMUserError(f'{what} {path} is a file, not a folder')
    _probe_folder(osp.abspath(path), f'{what} {path}')
    return path


def run_tool(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None,
             prog: Optional[str] = None) -> int:
    """Run ``main(argv)`` by the project's error convention (:mod:`dynmm_plugins.utils.errors`):
    bad input is ``prog: error: message`` and exit code 2, no traceback unless ``--debug``."""
    return run_entry_point(main, argv, prog)
