"""Where a run happens: the device MultiBench will pick, the seeds; notes printed once."""
import os
import random
import sys

import numpy as np
import torch

from ..errors import SetupError

_notes = set()


def note_once(message: str) -> None:
    """Print ``message`` on stderr once per process."""
    if message not in _notes:
        _notes.add(message)
        print(f'multibench_ext: {message}', file=sys.stderr, flush=True)


def apply_device(device: str) -> torch.device:
    """Make MultiBench's device choice (cuda:0 if available) land on ``device``; return it.

    MultiBench's train and test pick ``cuda:0`` whenever CUDA is available, so the only way to
    steer them is to hide devices before CUDA starts.
    """
    if device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    elif device.startswith('cuda:') and device[5:].isdigit():
        os.environ['CUDA_VISIBLE_DEVICES'] = device[5:]
    elif device not in ('auto', 'cuda'):
        raise SetupError(f"--device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    available = torch.cuda.is_available()
    if device.startswith('cuda') and not available:
        raise SetupError(f'--device {device}: no CUDA device is available here; use --device cpu')
    return torch.device('cuda:0' if available else 'cpu')


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
