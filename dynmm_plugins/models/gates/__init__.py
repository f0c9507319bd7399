"""Gate networks that choose a branch per input."""
from .global_gate import DynMMGlobalGate

__all__ = ["DynMMGlobalGate"]
