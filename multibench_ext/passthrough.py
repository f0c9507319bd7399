"""Pass-through encoders and head that let a DynMM mixture sit inside MultiBench's MMDL as its fusion.

MultiBench's ``MMDL.forward`` runs ``encoders -> fusion -> head``. The mixture needs the raw
modality inputs, so the encoders and head must not change anything. Two quirks of
MMDL decide how: with packed inputs (``has_padding=True``) it calls each encoder with
``[sequence, lengths]``, hands the fusion only element 0 of each non-tensor encoder
output, and calls the head with ``[fusion_output, lengths]``.
"""
from typing import Any, List, Optional, Sequence, Tuple

from torch import Tensor, nn


class PackedPassThrough(nn.Module):
    """Encoder for packed inputs that delivers ``[sequence, lengths]`` unchanged to the fusion.

    MMDL passes element 0 of each encoder output to the fusion, so the pair is wrapped in a
    one-element list; the fusion then sees ``[sequence, lengths]`` per modality. (For unpacked
    inputs use ``nn.Identity``.)
    """

    def forward(self, x: Any) -> List[Any]:
        """``[x]`` for ``x = [sequence, lengths]``."""
        return [x]


class PassThroughHead(nn.Module):
    """Head that returns the fusion's prediction unchanged.

    With packed inputs MMDL calls the head with ``[prediction, lengths]``; the lengths are dropped.
    """

    def forward(self, x: Any) -> Tensor:
        """The prediction."""
        return x[0] if isinstance(x, (list, tuple)) else x


def split_packed(inputs: Sequence[Any]) -> Tuple[List[Tensor], Optional[List[Any]]]:
    """Split a mixture input list into the sequences and, if packed, their lengths.

    Each item is a tensor or a ``[sequence, lengths]`` pair; mixing the two is an error.
    """
    if not isinstance(inputs, (list, tuple)) or len(inputs) == 0:
        raise ValueError(f'expected a non-empty list of modality inputs, got {type(inputs).__name__}')
    pairs = [isinstance(item, (list, tuple)) for item in inputs]
    if not any(pairs):
        return list(inputs), None
    if not all(pairs) or any(len(item) != 2 for item in inputs):
        raise ValueError('packed modality inputs must all be [sequence, lengths] pairs')
    return [item[0] for item in inputs], [item[1] for item in inputs]
