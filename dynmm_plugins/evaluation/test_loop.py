"""The test loop: dataloader, evaluator, gate set-up, mIoU with routing statistics."""
import contextlib
import logging
from typing import Callable, Optional

import numpy as np
import torch

from dynmm_plugins.evaluation.noise import ModalityNoise, valid_pixel_mask
from dynmm_plugins.evaluation.routing_recorder import RoutingRecorder
from dynmm_plugins.utils.progress import progress_bar

#: Gate modes in which every sample runs only its own branch at inference.
GROUPED_MODES = ('hard', 'fixed', 'baseline')


def build_test_dataloader(cfg, num_workers: Optional[int] = None):
    """The config's ``test_dataloader`` (``num_workers=0`` also switches persistent workers off)."""
    from mmengine.runner import Runner
    loader_cfg = cfg.test_dataloader.copy()
    if num_workers is not None:
        loader_cfg['num_workers'] = num_workers
    if loader_cfg.get('num_workers', 0) == 0:
        loader_cfg['persistent_workers'] = False
    return Runner.build_dataloader(loader_cfg)


def build_evaluator(cfg, dataloader):
    """An mmengine ``Evaluator`` of the config's ``test_evaluator`` (mmseg ``IoUMetric``)."""
    from mmengine.evaluator import Evaluator
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = dataloader.dataset.metainfo
    return evaluator


def configure_gate(model, hard: bool = False, baseline: bool = False) -> str:
    """Apply ``--hard`` / ``--baseline`` and return the gate mode used at inference.

    ``--baseline`` forces the full branch (static ESANet) on a dynamic model and is
    a no-op on a static one (which always runs it). ``--hard`` needs a gate: on a
    static model it has no meaning and raises ValueError.
    """
    if hard and baseline:
        raise ValueError('--hard and --baseline exclude each other')
    if hard:
        if not model.has_gate:
            raise ValueError('--hard needs a dynamic model (a config with backbone.gate); '
                             'this one is static ESANet, which has no gate')
        model.set_gate('hard')
    elif baseline:
        model.set_gate('baseline')
    return inference_gate_mode(model)


def inference_gate_mode(model) -> str:
    """The gate mode the model applies in eval mode ('soft'/'random' may become 'hard')."""
    if model.gate_mode in ('soft', 'random') and getattr(model, 'inference_gate', None):
        return model.inference_gate
    return model.gate_mode


# ---------------------------------------------------------------------------- evaluation
@contextlib.contextmanager
def quiet_mmengine_logger(level: int = logging.WARNING):
    """Hide INFO messages of the current MMLogger (IoUMetric prints a per-class table)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


def unrounded_miou(evaluator) -> Optional[float]:
    """mIoU in % of the results an mmseg ``IoUMetric`` of ``evaluator`` holds, before its rounding.

    None when the evaluator has no IoUMetric with results (then its own value is used).
    """
    for metric in getattr(evaluator, 'metrics', []):
        results = getattr(metric, 'results', None)
        if type(metric).__name__ != 'IoUMetric' or not results:
            continue
        intersect = sum(r[0] for r in results)
        union = sum(r[1] for r in results)
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = np.asarray(intersect, dtype=np.float64) / np.asarray(union, dtype=np.float64)
        return float(np.nanmean(iou) * 100)
    return None


def evaluate(model, dataloader, evaluator, noise: Optional[ModalityNoise] = None,
             recorder: Optional[RoutingRecorder] = None, progress: bool = False,
             desc: str = 'eval', kind_evaluator: Optional[Callable[[], object]] = None) -> dict:
    """One pass over ``dataloader``: metrics of the evaluator and the routing of this pass.

    Args:
        model: An MMSeg segmentor (:class:`DynMMEncoderDecoder`), in eval mode.
        dataloader: The test dataloader.
        evaluator: mmengine ``Evaluator`` (e.g. :func:`build_evaluator`).
        noise (ModalityNoise, optional): Noise applied to the normalised inputs.
        recorder (RoutingRecorder, optional): Accumulates the routing; a new one
            is made if None.
        progress (bool): Show a tqdm bar over the batches.
        desc (str): Label of the bar.
        kind_evaluator (Callable, optional): Makes a fresh evaluator; given, the
            metrics are also computed separately for each scene kind.

    Returns:
        dict: ``metrics`` (the evaluator's, e.g. mIoU in %), ``mIoU``, ``routing``
        (:meth:`RoutingRecorder.summary` of the recorder, so far) and, with
        ``kind_evaluator``, ``mIoU_by_scene_kind``.
    """
    model.eval()
    recorder = recorder or RoutingRecorder(model.num_branches)
    grouped = inference_gate_mode(model) in GROUPED_MODES
    by_kind = {}
    with torch.no_grad():
        for data in progress_bar(dataloader, progress, desc=desc, leave=False, unit='batch'):
            data = model.data_preprocessor(data, False)
            inputs, samples = data['inputs'], data['data_samples']
            if noise is not None:
                valid = valid_pixel_mask([s.metainfo.get('img_shape', inputs.shape[-2:])
                                          for s in samples], *inputs.shape[-2:], inputs.device)
                inputs, _ = noise(inputs, valid)
            results = model.predict(inputs, samples)
            weights = model.last_gate_weights
            if weights is None or weights.shape[0] != inputs.shape[0]:
                raise RuntimeError('the model did not record one gate decision per image '
                                   "(test_cfg.mode must be 'whole')")
            # read the weights first: measuring costs runs the model again
            costs = model.branch_costs(tuple(inputs.shape[-2:]))
            recorder.update(weights, costs, [s.metainfo.get('scene_kind') for s in samples], grouped,
                            tuple(inputs.shape[-2:]))
            evaluator.process(data_samples=results, data_batch=data)
            if kind_evaluator is not None:
                for sample in results:
                    kind = sample.metainfo.get('scene_kind')
                    if kind is not None:
                        if kind not in by_kind:
                            by_kind[kind] = [kind_evaluator(), 0]
                        by_kind[kind][0].process(data_samples=[sample])
                        by_kind[kind][1] += 1
        # IoUMetric rounds mIoU to 2 decimals; means and stds over runs need the exact value
        precise = unrounded_miou(evaluator)
        kind_precise = {k: unrounded_miou(ev) for k, (ev, _) in by_kind.items()}
        with quiet_mmengine_logger():
            metrics = evaluator.evaluate(len(dataloader.dataset))
            kind_mious = {k: float(ev.evaluate(n)['mIoU']) for k, (ev, n) in sorted(by_kind.items())}
        kind_mious = {k: v if kind_precise[k] is None else kind_precise[k] for k, v in kind_mious.items()}
    if 'mIoU' not in metrics:
        raise ValueError(f'the test_evaluator reports no mIoU (got {sorted(metrics)}); '
                         "use dict(type='IoUMetric', iou_metrics=['mIoU'])")
    miou = float(metrics['mIoU']) if precise is None else precise
    out = dict(metrics={k: float(v) for k, v in metrics.items()}, mIoU=miou,
               routing=recorder.summary())
    if kind_evaluator is not None:
        out['mIoU_by_scene_kind'] = kind_mious
    return out
