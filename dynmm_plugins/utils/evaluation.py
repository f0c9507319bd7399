"""Evaluate MMSeg RGB-D models: loading checked checkpoints, mIoU runs, routing statistics.

The shared engine of ``tools/robustness_eval.py``, ``tools/get_flops.py`` and the
demo. The loop is MMSeg's own test loop in miniature (data preprocessor ->
``model.predict`` -> mmengine ``Evaluator`` with the config's ``test_evaluator``,
i.e. mmseg's ``IoUMetric``), with two additions: the robustness protocol's noise
(:class:`~dynmm_plugins.utils.noise.ModalityNoise`) on the normalised inputs, and
a :class:`RoutingRecorder` that reads the gate decisions of every batch.
"""
import contextlib
import logging
import os.path as osp
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from dynmm_plugins.core import GateStatistics

from .errors import DynMMUserError, error_message
from .noise import NOISE_MODES, ModalityNoise, check_noise_level, check_noise_mode, valid_pixel_mask

#: Gate modes in which every sample runs only its own branch at inference.
GROUPED_MODES = ('hard', 'fixed', 'baseline')


class CheckpointMismatchError(DynMMUserError):
    """A checkpoint's weights do not fit the model its config builds."""


# ---------------------------------------------------------------------------- loading
def load_config(config: str, cfg_options: Optional[dict] = None):
    """Read an mmengine config, apply ``--cfg-options`` and set mmseg's default scope."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    import dynmm_plugins  # noqa: F401  (registers the modules, safe checkpoint globals)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def read_state_dict(checkpoint: str) -> Dict[str, Tensor]:
    """The model weights of an mmengine (or plain torch) checkpoint file."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
    from mmengine.runner.checkpoint import CheckpointLoader

    from dynmm_plugins.engine.checkpoint_compat import UnreadableCheckpointError
    try:
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu', logger='silent')
    except UnreadableCheckpointError:
        raise  # already says which file and what is wrong with it
    except Exception as exc:  # noqa: BLE001  (torch raises many kinds for a bad file)
        raise DynMMUserError(f'could not read checkpoint {checkpoint}: {error_message(exc)}') from exc
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or \
            not all(isinstance(v, Tensor) for v in state.values()):
        what = f'keys {sorted(map(str, ckpt))[:8]}' if isinstance(ckpt, dict) else type(ckpt).__name__
        raise DynMMUserError(f'checkpoint {checkpoint} holds no state_dict of tensors ({what})')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def _listing(names: Sequence[str], limit: int = 4) -> str:
    shown = ', '.join(names[:limit])
    return shown + (f', ... ({len(names) - limit} more)' if len(names) > limit else '')


def check_state_dict_fits(model: torch.nn.Module, state_dict: Dict[str, Tensor],
                          source: str = 'checkpoint', target: str = 'the model') -> None:
    """Raise :class:`CheckpointMismatchError` (one line) unless keys and shapes match exactly."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f'{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}'
                    for k in set(own) & set(state_dict) if state_dict[k].shape != own[k].shape)
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing keys ({_listing(missing)})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected keys ({_listing(unexpected)})')
    if shapes:
        parts.append(f'{len(shapes)} shape mismatches, checkpoint vs model ({_listing(shapes, 2)})')
    hint = ''
    if missing and all(k.startswith('backbone.gate.') for k in missing) and not unexpected:
        hint = '; it looks like a static ESANet checkpoint: use a static config'
    elif unexpected and all(k.startswith('backbone.gate.') for k in unexpected) and not missing:
        hint = '; it looks like a DynMM checkpoint: use a dynamic config'
    raise CheckpointMismatchError(f'{source} does not fit {target}: ' + '; '.join(parts) + hint)


def build_model(cfg, checkpoint: Optional[str] = None, device: str = 'cpu',
                config_name: str = 'the config'):
    """Build ``cfg.model`` in eval mode, loading ``checkpoint`` after checking that it fits.

    Without a checkpoint the weights are the modules' own initialisation (fine for
    FLOP counts and latency, meaningless for accuracy).
    """
    import dynmm_plugins  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        state = read_state_dict(checkpoint)
        check_state_dict_fits(model, state, f'checkpoint {checkpoint}', config_name)
        model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def load_model(config: str, checkpoint: Optional[str] = None, cfg_options: Optional[dict] = None,
               device: str = 'cpu'):
    """(model, cfg) from a config file and an optional checkpoint."""
    cfg = load_config(config, cfg_options)
    return build_model(cfg, checkpoint, device, f'config {config}'), cfg


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


# ---------------------------------------------------------------------------- routing
class RoutingRecorder:
    """Where the gate sent each image, by scene kind, and the compute that was spent.

    Args:
        num_branches (int): Number of branches B.
    """

    def __init__(self, num_branches: int):
        self.num_branches = num_branches
        self.overall = GateStatistics(num_branches)
        self.by_kind: Dict[str, GateStatistics] = {}
        self.gflops_sum = 0.0
        self.depth_gflops_sum = 0.0
        self.costs_by_size: Dict[Tuple[int, int], dict] = {}

    def update(self, weights: Tensor, costs: dict, scene_kinds: Sequence[Optional[str]] = (),
               grouped: bool = True, input_size: Optional[Tuple[int, int]] = None) -> None:
        """Record one batch.

        Args:
            weights (Tensor): Gate weights (N, B) of the batch (one-hot when hard).
            costs (dict): ``model.branch_costs(input_size)`` at the batch's size.
            scene_kinds (Sequence[str]): Kind of each image (None: unknown).
            grouped (bool): Whether each sample ran only its own branch (hard,
                fixed, baseline). Otherwise the batch computed every depth stage
                that any of its samples weights (all of them for soft gates), and
                each image is charged the cost of that deepest branch.
            input_size (tuple, optional): (H, W) the costs were measured at.
        """
        if input_size is not None:
            self.costs_by_size[tuple(int(v) for v in input_size)] = costs
        weights = weights.detach().float().cpu()
        self.overall.update(weights)
        branches = weights.argmax(dim=1)
        if not grouped:
            used = torch.nonzero(weights.amax(dim=0) > 0).flatten()
            deepest = int(used.max()) if used.numel() else self.num_branches - 1
            branches = torch.full_like(branches, deepest)
        total = torch.tensor(costs['total'], dtype=torch.float64)
        depth = torch.tensor(costs['depth_encoder'], dtype=torch.float64)
        self.gflops_sum += float(total[branches].sum())
        self.depth_gflops_sum += float(depth[branches].sum())
        for i, kind in enumerate(scene_kinds):
            if kind is None:
                continue
            if kind not in self.by_kind:
                self.by_kind[kind] = GateStatistics(self.num_branches)
            self.by_kind[kind].update(weights[i:i + 1])

    @staticmethod
    def _describe(stats: GateStatistics) -> dict:
        fractions = stats.branch_fractions
        return dict(
            num_images=stats.count,
            branch_histogram=[int(c) for c in stats.branch_counts.tolist()],
            branch_fractions=[round(f, 6) for f in fractions.tolist()],
            mean_branch=round(float(fractions @ torch.arange(stats.num_branches).double()), 6),
            # branch >= 1: depth is fused in at least one encoder stage
            depth_branch_fraction=round(float(fractions[1:].sum()), 6))

    def summary(self) -> dict:
        """Histogram, mean branch, depth-branch fraction and GFLOPs per image, overall and by kind."""
        out = self._describe(self.overall)
        count = max(self.overall.count, 1)
        out['gflops_per_image'] = round(self.gflops_sum / count, 6)
        out['depth_gflops_per_image'] = round(self.depth_gflops_sum / count, 6)
        out['by_scene_kind'] = {k: self._describe(v) for k, v in sorted(self.by_kind.items())}
        out['input_sizes'] = [list(size) for size in self.costs_by_size]
        if len(self.costs_by_size) == 1:
            out['branch_costs'] = next(iter(self.costs_by_size.values()))
        return out


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


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, dynamic_ncols=True, **kwargs)


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
        for data in _progress(dataloader, progress, desc=desc, leave=False, unit='batch'):
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
    for seed in _progress(range(runs), progress and runs > 1, desc=name, unit='run'):
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
