"""mmengine hooks of the DynMM plugin."""
from .atomic_checkpoint_hook import DynMMCheckpointHook
from .fold_batchnorm_hook import FoldBatchNormHook
from .gate_schedule_hook import DynMMGateScheduleHook
from .keep_freed_memory_hook import KeepFreedMemoryHook
from .run_length_hook import DynMMRunLengthHook

__all__ = ['DynMMCheckpointHook', 'DynMMGateScheduleHook', 'DynMMRunLengthHook', 'FoldBatchNormHook',
           'KeepFreedMemoryHook']
