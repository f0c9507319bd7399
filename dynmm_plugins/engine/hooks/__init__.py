"""mmengine hooks of the DynMM plugin."""
from .atomic_checkpoint_hook import DynMMCheckpointHook
from .channels_last_hook import ChannelsLastHook
from .fold_batchnorm_hook import FoldBatchNormHook
from .gate_schedule_hook import DynMMGateScheduleHook
from .keep_freed_memory_hook import KeepFreedMemoryHook
from .run_length_hook import DynMMRunLengthHook

__all__ = ['ChannelsLastHook', 'DynMMCheckpointHook', 'DynMMGateScheduleHook', 'DynMMRunLengthHook',
           'FoldBatchNormHook', 'KeepFreedMemoryHook']
