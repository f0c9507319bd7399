"""``gate_override``: run a block under another gate, then restore the previous one.

Shared by the segmentor and the MultiBench mixture, whose gate state is the same four
things: ``gate_mode``, ``fixed_branch``, ``temperature`` and a flag that says whether
unused paths are skipped (``skip_unused_depth`` / ``skip_unused_experts``).
"""
import contextlib
from typing import Any, Iterator, Optional


@contextlib.contextmanager
def override_gate(model: Any, skip_flag: str, mode: str, branch: Any = None, temperature: Optional[float] = None,
                  skip: bool = True) -> Iterator[Any]:
    """Set ``model``'s gate with ``model.set_gate(mode, temperature, branch)`` and its attribute
    ``skip_flag`` to ``skip`` inside the block; restore all four afterwards, also on an error.
    A refused ``set_gate`` changes nothing."""
    saved = (model.gate_mode, model.fixed_branch, model.temperature, getattr(model, skip_flag))
    model.set_gate(mode, temperature, branch)
    setattr(model, skip_flag, bool(skip))
    try:
        yield model
    finally:
        model.gate_mode, model.fixed_branch, model.temperature = saved[:3]
        setattr(model, skip_flag, saved[3])
