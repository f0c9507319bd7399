"""mmengine hooks of the DynMM plugin."""
from .gate_schedule_hook import DynMMGateScheduleHook

__all__ = ['DynMMGateScheduleHook']
