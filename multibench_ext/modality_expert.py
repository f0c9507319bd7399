"""A unimodal network (encoder + head) used as one DynMM expert."""
from typing import Any, Sequence

from torch import Tensor, nn


class ModalityExpert(nn.Module):
    """Runs ``head(encoder(inputs[modality]))``: an expert that reads one modality only.

    This is the shape of the networks MultiBench's ``training_structures.unimodal.train``
    trains and saves (encoder and head as two files).

    Args:
        encoder (nn.Module): Encoder of the modality. For packed inputs it receives
            ``[sequence, lengths]``, as in MultiBench's ``MMDL``.
        head (nn.Module): Maps the encoding to the prediction.
        modality (int): Index of the modality in the input list (MM-IMDB text: 0,
            MOSEI text: 2).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, modality: int):
        super().__init__()
        if isinstance(modality, bool) or not isinstance(modality, int) or modality < 0:
            raise ValueError(f'modality must be an int >= 0, got {modality!r}')
        self.encoder = encoder
        self.head = head
        self.modality = modality

    def forward(self, inputs: Sequence[Any]) -> Tensor:
        """Prediction (N, ...) from the list of modality inputs."""
        if self.modality >= len(inputs):
            raise IndexError(f'ModalityExpert reads modality {self.modality}, but only {len(inputs)} '
                             'modalities came in')
        return self.head(self.encoder(inputs[self.modality]))
