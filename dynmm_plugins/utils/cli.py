"""Small helpers shared by the command-line tools: the error convention, option parsing,
devices and output paths checked before the work starts."""
import argparse
import math
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


def add_model_args(parser: argparse.ArgumentParser, config_help: str = 'config file',
                   checkpoint_help: Optional[str] = None, checkpoint_required: bool = False) -> None:
    """``config`` and the checkpoint: a second positional when required, else ``--checkpoint``."""
    parser.add_argument('config', help=config_help)
    if checkpoint_required:
        parser.add_argument('checkpoint', help=checkpoint_help or 'checkpoint file')
    else:
        parser.add_argument('--checkpoint', help=checkpoint_help or 'checkpoint file')


def add_budget_arg(parser: argparse.ArgumentParser, effect: str) -> None:
    """``--budget FILE`` (a budget file of tools/calibrate_budget.py); ``effect`` says what it does here."""
    parser.add_argument('--budget', metavar='FILE',
                        help=f'budget file of tools/calibrate_budget.py for the checkpoint: {effect}')


def add_shape_arg(parser: argparse.ArgumentParser) -> None:
    """``--shape H W``, checked by :func:`check_common_args`."""
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                        help="input size (default: the model's cost_input_size)")


def add_inference_args(parser: argparse.ArgumentParser) -> None:
    """``--fuse-conv-bn``, ``--keep-freed-memory``, ``--channels-last``: PyTorch inference as deployed.

    A tool applies them with :func:`apply_inference_args` after loading its models.
    """
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='fold BatchNorm into the convolutions first (inference as deployed; '
                             'the same outputs up to float rounding)')
    parser.add_argument('--keep-freed-memory', action='store_true',
                        help="keep freed memory in the process (glibc's malloc: no mmap, no trim), so "
                             'large feature maps are not page-faulted in anew on every forward '
                             '(CPU inference)')
    parser.add_argument('--channels-last', action='store_true',
                        help='convolution weights, and so feature maps, in channels-last layout '
                             "(oneDNN's own on the CPU: the same outputs up to float rounding)")


#: Default of ``--pause``: long enough for idle worker threads to stop spin-waiting
#: (libgomp's default spin and onnxruntime's last about a millisecond or a few).
DEFAULT_PAUSE_S = 0.05


def add_pause_arg(parser: argparse.ArgumentParser) -> None:
    """``--pause S``: untimed sleep before each timed call of a latency benchmark."""
    parser.add_argument('--pause', type=float, default=DEFAULT_PAUSE_S, metavar='S',
                        help='seconds of untimed sleep before each timed call, so that the '
                             "previous call's worker threads (PyTorch's OpenMP, onnxruntime's) "
                             f'stop spin-waiting on the cores first; 0: none (default: {DEFAULT_PAUSE_S})')


def apply_inference_args(args: argparse.Namespace, models: Sequence) -> None:
    """Apply :func:`add_inference_args`'s flags to ``models`` (None entries are skipped)."""
    if args.keep_freed_memory:
        from dynmm_plugins.deploy.cpu_allocator import keep_freed_memory
        keep_freed_memory()
    import torch

    from dynmm_plugins.deploy.folding import fold_batchnorm
    for model in models:
        if model is None:
            continue
        if args.fuse_conv_bn:
            fold_batchnorm(model)
        if args.channels_last:  # after folding, which writes new weights; convolutions then
            model.to(memory_format=torch.channels_last)  # return channels-last maps


def add_run_args(parser: argparse.ArgumentParser, progress: str = 'no progress bar') -> None:
    """``--device``, ``--no-progress`` and ``--cfg-options``: how and where the model runs."""
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--no-progress', action='store_true', help=progress)
    add_cfg_options(parser)


def check_common_args(parser: argparse.ArgumentParser, args: argparse.Namespace, at_least: Optional[dict] = None,
                      finite_positive: Sequence[str] = ()) -> argparse.Namespace:
    """Reject, as ``parser.error``, the values the shared flags cannot take.

    ``--shape`` (when the tool has it) must fit the encoder stride; ``--budget`` needs a
    checkpoint; each ``at_least`` flag name (``dest``) must be >= its minimum when given;
    each value of the ``finite_positive`` flags (a number or a list) must be finite and > 0.
    """
    if getattr(args, 'budget', None) and not getattr(args, 'checkpoint', None):
        parser.error('--budget needs --checkpoint (the checkpoint it was calibrated for)')
    if shape_error(getattr(args, 'shape', None)):
        parser.error(shape_error(args.shape))
    for name, minimum in (at_least or {}).items():
        value = getattr(args, name)
        if value is not None and not value >= minimum:  # NaN too
            parser.error(f'--{name.replace("_", "-")} must be >= {minimum}, got {value}')
    for name in finite_positive:
        value = getattr(args, name)
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v is not None and not (math.isfinite(v) and v > 0)]
        if bad:
            got = bad if isinstance(value, list) else bad[0]
            plural = 's' if isinstance(value, list) else ''
            parser.error(f'--{name.replace("_", "-")} must be {"" if plural else "a "}finite number{plural} > 0, '
                         f'got {got}')
    return args


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
