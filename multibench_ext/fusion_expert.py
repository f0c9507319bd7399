"""A whole multimodal network (e.g. MultiBench's late-fusion MMDL) used as one DynMM expert."""
from typing import Any, Optional, Sequence

from torch import Tensor, nn

from .passthrough import split_packed


class FusionExpert(nn.Module):
    """Runs a MultiBench ``MMDL``-like model on all modalities.

    The mixture passes its inputs as a list with one item per modality: a tensor, or
    ``[sequence, lengths]`` for packed sequences. MultiBench's ``MMDL`` wants packed
    inputs as ``[[sequences...], [lengths...]]`` instead; this wrapper converts.

    Args:
        model (nn.Module): Called as ``model(list_of_inputs)``.
        packed (bool, optional): Whether ``model`` expects MultiBench's packed layout.
            Default: None, i.e. the model's own ``has_padding`` (MMDL's flag), else False.
    """

    def __init__(self, model: nn.Module, packed: Optional[bool] = None):
        super().__init__()
        self.model = model
        self.packed = bool(getattr(model, 'has_padding', False)) if packed is None else bool(packed)

    def forward(self, inputs: Sequence[Any]) -> Tensor:
        """Prediction (N, ...) from the list of modality inputs."""
        sequences, lengths = split_packed(inputs)
        if self.packed:
            if lengths is None:
                raise ValueError('this FusionExpert was trained on packed sequences but got plain tensors '
                                 '(no lengths): feed it the packed layout')
            return self.model([sequences, lengths])
        return self.model(sequences)
