"""Load the whole-module checkpoints that MultiBench's trainers and our scripts write."""
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from .errors import DataFormatError, SetupError


def is_mmdl(module: nn.Module) -> bool:
    """Whether ``module`` is a whole MultiBench model (``MMDL``: encoders, fusion, head)."""
    return all(hasattr(module, name) for name in ('encoders', 'fuse', 'head'))


def load_module(path: Union[str, Path], what: str, how_to_make: str, map_location='cpu',
                whole_model: Optional[bool] = None) -> nn.Module:
    """Load a pickled ``nn.Module`` written by ``torch.save(module)``.

    MultiBench's ``train`` functions save whole modules, not state dicts, and torch >= 2.6
    loads those only with ``weights_only=False``, which runs the pickle's code: use this
    only for files our scripts (or your own MultiBench runs) wrote.

    Args:
        path (str | Path): The checkpoint.
        what (str): What it is, for messages ("text expert encoder").
        how_to_make (str): The command that writes it, for the missing-file message.
        map_location: Passed to ``torch.load``. Default: 'cpu'.
        whole_model (bool, optional): True: the file must hold a whole MultiBench
            ``MMDL`` (a multimodal expert); False: a part of one (an encoder or a
            head); None: either.

    Raises:
        SetupError: The file does not exist.
        DataFormatError: The file does not hold an ``nn.Module``.
    """
    path = Path(path)
    if not path.is_file():
        raise SetupError(f'{what} checkpoint {path} not found: run {how_to_make}')
    try:
        # Whole pickled modules (MultiBench's format) need weights_only=False; these are
        # files our own scripts wrote into the log dir, not downloads.
        obj = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # unpickling errors come in many types
        raise DataFormatError(f'{what} checkpoint {path} does not load ({type(exc).__name__}: {exc}); '
                              f'rewrite it with {how_to_make}') from exc
    if not isinstance(obj, nn.Module):
        raise DataFormatError(f'{what} checkpoint {path} holds a {type(obj).__name__}, not a torch.nn.Module '
                              f'(MultiBench saves whole modules); rewrite it with {how_to_make}')
    if whole_model is not None and is_mmdl(obj) != whole_model:
        held = 'a whole MultiBench model (MMDL)' if is_mmdl(obj) else f'a {type(obj).__name__}, not an MMDL'
        raise DataFormatError(f'{what} checkpoint {path} holds {held}: it is the wrong kind of '
                              f'checkpoint for the {what}; rewrite it with {how_to_make}')
    return obj
