"""DynMM's robustness protocol: noise on one modality, repeated over seeds."""
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from dynmm_plugins.evaluation.noise import NOISE_MODES, ModalityNoise, check_noise_level, check_noise_mode
from dynmm_plugins.evaluation.routing_recorder import RoutingRecorder
from dynmm_plugins.evaluation.test_loop import evaluate, inference_gate_mode
from dynmm_plugins.utils.progress import progress_bar


def robustness_eval(model, dataloader, evaluator, mode: int = -1, level: float = 0.0,
                    num_runs: int = 1, progress: bool = False, label: str = '',
                    kind_evaluator: Optional[Callable[[], object]] = None) -> dict:
    """DynMM's robustness protocol: ``num_runs`` passes with seeds 0..num_runs-1.

    Returns a plain-python record: mIoU of every run, its mean and (population,
    as the reference's ``np.std``) standard deviation, and the routing summed over
    the runs (histogram, per scene kind, realised GFLOPs per image). Clean inputs
    (mode -1 or level 0) with a deterministic gate give the same numbers in every
    run, so they are evaluated once (``runs_evaluated``). With ``kind_evaluator``
    (see :func:`evaluate`) the record also holds the mean mIoU of each scene kind.
    """
    mode = check_noise_mode(mode)
    level = check_noise_level(level)
    if int(num_runs) < 1:
        raise ValueError(f'num_runs must be >= 1, got {num_runs!r}')
    gate = inference_gate_mode(model)
    clean = mode == -1 or level == 0
    runs = 1 if clean and gate != 'random' else int(num_runs)
    recorder = RoutingRecorder(model.num_branches)
    mious, kind_mious, noised = [], {}, dict(rgb=0, depth=0, none=0)
    name = f'{label} mode {mode} noise {level:g}'.strip()
    for seed in progress_bar(range(runs), progress and runs > 1, desc=name, unit='run'):
        torch.manual_seed(seed)  # for a 'random' gate; noise has its own generator
        noise = None if clean else ModalityNoise(mode, level, seed)
        result = evaluate(model, dataloader, evaluator, noise, recorder, progress,
                          desc=f'{name} seed {seed}', kind_evaluator=kind_evaluator)
        mious.append(result['mIoU'])
        for kind, value in result.get('mIoU_by_scene_kind', {}).items():
            kind_mious.setdefault(kind, []).append(value)
        if noise is not None:
            for k, v in noise.counts.items():
                noised[k] += v
    record = dict(model=label, gate=gate, mode=mode, mode_name=NOISE_MODES[mode], noise=level,
                  num_runs=int(num_runs), runs_evaluated=runs, seeds=list(range(runs)),
                  miou_runs=mious, miou_mean=float(np.mean(mious)), miou_std=float(np.std(mious)),
                  noised_batches=noised, routing=recorder.summary())
    if kind_evaluator is not None:
        record['miou_by_scene_kind'] = {k: float(np.mean(v)) for k, v in kind_mious.items()}
    return record


def robustness_sweep(models: Sequence[Tuple[str, object]], dataloader, evaluator,
                     modes: Iterable[int], levels: Iterable[float], num_runs: int = 1,
                     progress: bool = False,
                     kind_evaluator: Optional[Callable[[], object]] = None) -> List[dict]:
    """:func:`robustness_eval` for every (model, mode, level).

    Mode -1 is evaluated once per model (its level is reported as 0), and a level
    of 0 in any mode reuses that clean result: no noise is added, so the numbers
    are the same bit for bit.
    """
    modes = sorted({check_noise_mode(m) for m in modes})
    levels = sorted({check_noise_level(v) for v in levels})
    rows = []
    for label, model in models:
        clean = None
        for mode in modes:
            for level in ([0.0] if mode == -1 else levels):
                if mode == -1 or level == 0:
                    if clean is None:
                        clean = robustness_eval(model, dataloader, evaluator, -1, 0.0, num_runs,
                                                progress, label, kind_evaluator)
                    row = dict(clean, mode=mode, mode_name=NOISE_MODES[mode], noise=0.0)
                else:
                    row = robustness_eval(model, dataloader, evaluator, mode, level, num_runs,
                                          progress, label, kind_evaluator)
                rows.append(row)
    return rows
