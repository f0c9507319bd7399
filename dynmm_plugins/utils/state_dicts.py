"""Compare a checkpoint's state dict with a model's: the one "does it fit" computation."""
from typing import Callable, List, Mapping, Optional, Tuple


def state_dict_mismatch(own: Mapping, other: Mapping, ignore: Optional[Callable[[str], bool]] = None
                        ) -> Tuple[List[str], List[str], List[str]]:
    """Keys of ``own`` missing from ``other``, keys of ``other`` not in ``own``, and shape mismatches.

    Args:
        own (Mapping): The model's state dict (name -> tensor).
        other (Mapping): The checkpoint's state dict.
        ignore (Callable, optional): Keys for which it returns True are left out of the
            missing and unexpected lists (e.g. the gate, absent from a static checkpoint).

    Returns:
        tuple: Sorted lists ``(missing, unexpected, mismatched)``; a mismatch reads
        ``'key (checkpoint shape) vs (model shape)'``.
    """
    skip = ignore or (lambda key: False)
    missing = sorted(k for k in own if k not in other and not skip(k))
    unexpected = sorted(k for k in other if k not in own and not skip(k))
    mismatched = sorted(f'{k} {tuple(other[k].shape)} vs {tuple(v.shape)}' for k, v in own.items()
                        if k in other and hasattr(other[k], 'shape') and tuple(other[k].shape) != tuple(v.shape))
    return missing, unexpected, mismatched
