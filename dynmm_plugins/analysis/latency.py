"""Latency measurement of DynMM branches: skipping for real versus computing everything.

Three ways to run a batch whose branch assignment is given:

- :func:`forced_branches` + ``model._forward``: the segmentor's inference path in
  hard/fixed mode, i.e. samples grouped by branch and depth stages after each
  sample's branch never computed (what this project does);
- :func:`compute_all_and_select`: every stage of both encoders and every fusion
  computed for every sample, the branch then selected by mixing with the one-hot
  weights (what the reference DynMM code does at inference);
- a fixed branch for the whole batch (``model.set_gate('fixed', branch=k)``).
"""
import os
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from dynmm_plugins.utils.progress import progress_bar


def synchronize(device) -> None:
    """Wait for queued GPU work (no-op on the CPU)."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def time_interleaved(fns: Dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
                     device='cpu', progress: bool = False,
                     pause_s: float = 0.0) -> Dict[str, Dict[str, object]]:
    """Time several functions, interleaved round by round.

    Every round calls each function once, so a change in machine load over the
    measurement affects all of them alike (fairer ratios on a shared machine).
    ``pause_s`` seconds of sleep (untimed) before each call let the worker threads
    of the previous call stop spin-waiting first: PyTorch's OpenMP workers and
    onnxruntime's spin for a while after their work, and would otherwise take
    cores from whichever function comes next, another framework's included.
    Returns per name ``median_s``, ``min_s``, ``mean_s`` and the raw ``times_s``.
    """
    if repeats < 1 or warmup < 0 or not pause_s >= 0:  # NaN too
        raise ValueError(f'need repeats >= 1, warmup >= 0 and pause_s >= 0, got {repeats}, '
                         f'{warmup}, {pause_s}')
    times: Dict[str, List[float]] = {name: [] for name in fns}
    rounds = progress_bar(range(warmup + repeats), progress, desc='timing rounds', unit='round')
    with torch.inference_mode():
        for r in rounds:
            for name, fn in fns.items():
                synchronize(device)
                if pause_s:
                    time.sleep(pause_s)
                start = time.perf_counter()
                fn()
                synchronize(device)
                if r >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: dict(median_s=statistics.median(t), min_s=min(t), mean_s=statistics.fmean(t),
                       times_s=t) for name, t in times.items()}


def mixed_assignment(batch_size: int, num_branches: int) -> List[int]:
    """Round-robin branches 0, 1, ..., B-1, 0, ... for a batch."""
    return [i % num_branches for i in range(batch_size)]


def forced_branches(model, branches: Sequence[int]):
    """Context: ``model`` runs each sample on its given branch, through its hard-gate path.

    The model groups the batch by branch and skips the depth stages after each
    sample's branch, exactly as with a hard gate; only the decision is replaced
    by ``branches``. The batch size of every forward inside the block must equal
    ``len(branches)``.
    """
    return model.gate_override('fixed', branch=list(branches))


def compute_all_and_select(model, inputs: Tensor, branches: Sequence[int]) -> Tensor:
    """Logits of the reference's inference: compute every path, then select by mixing.

    Both encoders run all their stages and every stage's fusion is computed for
    every sample; the one-hot weights of ``branches`` then pick, per sample,
    the fused or the RGB-only features. The result equals the branch-skipping
    path up to float rounding.
    """
    with model.gate_override('fixed', branch=list(branches), skip_unused_depth=False):
        return model._forward(inputs)


def load_average() -> Optional[List[float]]:
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def latency_per_image(models: Dict[str, object], inputs: Sequence[Tensor], warmup: int = 2,
                      device='cpu') -> Dict[str, Dict[str, float]]:
    """Batch-1 latency of each model on real inputs, models interleaved image by image.

    Each model runs ``model._forward(x)`` in its current (inference) gate mode on
    every input (N=1 tensors, already normalised), after ``warmup`` untimed calls
    on the first one. Returns per model the median and mean in milliseconds.
    """
    if not inputs:
        raise ValueError('latency_per_image needs at least one input')
    times: Dict[str, List[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():
            model.eval()
            for _ in range(warmup):
                model._forward(inputs[0])
        for x in inputs:
            for name, model in models.items():
                synchronize(device)
                start = time.perf_counter()
                model._forward(x)
                synchronize(device)
                times[name].append(time.perf_counter() - start)
    return {name: dict(median_ms=1e3 * statistics.median(t), mean_ms=1e3 * statistics.fmean(t),
                       num_images=len(t)) for name, t in times.items()}
