"""mmengine hooks of the DynMM plugin."""
from .fold_batchnorm_hook import FoldBatchNormHook
from .gate_schedule_hook import DynMMGateScheduleHook

__all__ = ['DynMMGateScheduleHook', 'FoldBatchNormHook']
