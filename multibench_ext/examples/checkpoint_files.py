"""The checkpoint files MultiBench's trainers write: their names, removed before training, required after it."""
import argparse
from pathlib import Path

from ..errors import SetupError
from .tasks import Task


def fresh_checkpoint(path: Path) -> Path:
    """Remove an old checkpoint before training: MultiBench saves only on validation improvement."""
    if path.exists():
        path.unlink()
    return path


def require_saved(path: Path) -> None:
    """Fail clearly if MultiBench's train ended without saving (validation never improved)."""
    if not path.is_file():
        raise SetupError(f'training saved no checkpoint {path}: the validation metric never improved on its '
                         'starting value; train longer (--n-epochs) or change --lr')


def mm_checkpoint_name(task: Task, fuse: int, packed: bool = False) -> str:
    """File name of a network trained by ``<task>_mm --fuse fuse [--packed]``."""
    return f'best_{task.fusions[fuse].name}{"_packed" if packed else ""}.pt'


def dyn_checkpoint_name(args: argparse.Namespace, packed: bool = False) -> str:
    """File name of the trained mixture; it encodes the flags that change training."""
    scale = getattr(args, 'cost_scale', 'range')
    return (f'dynmm_freeze{int(args.freeze)}_hard{int(args.hard_gate)}_reg{args.reg:g}'
            f'{"" if scale == "range" else f"_scale{scale}"}{"_packed" if packed else ""}.pt')
