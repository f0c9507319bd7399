"""DynMM at the modality level for MultiBench (MM-IMDB, CMU-MOSEI).

Everything here needs only torch (and h5py to read MM-IMDB); MultiBench itself is
imported at run time by the example scripts (``python -m multibench_ext.examples.<name>``)
from a clone the user points to.
"""
from .errors import DataFormatError, MultiBenchExtError, SetupError
from .fusion_expert import FusionExpert
from .mixture import DynMMMixture
from .mlp_gate import MLPGate
from .modality_expert import ModalityExpert
from .objective import DynMMObjective
from .passthrough import PackedPassThrough, PassThroughHead
from .sequence_gate import SequenceGate

__all__ = [
    'DataFormatError', 'DynMMMixture', 'DynMMObjective', 'FusionExpert', 'MLPGate', 'ModalityExpert',
    'MultiBenchExtError', 'PackedPassThrough', 'PassThroughHead', 'SequenceGate', 'SetupError'
]
