"""Train this project's synthetic-data configs in-process with mmengine's Runner.

Used by the demo (``tools/run_demo.py``) and by the tools' tests, which need a small
real checkpoint. :func:`synthetic_train_config` adapts a config to a data root, an
iteration budget and optionally another image size, keeping the schedule's shape:
the one-cycle LR spans the new budget and the gate schedule's epochs are rescaled
with it.
"""
import os.path as osp
from typing import Optional, Tuple

from mmengine.hooks import Hook


def _set_size(cfg, size: Tuple[int, int]) -> None:
    """Make a synthetic config train and test at ``size`` (H, W), multiples of 32."""
    h, w = size
    if h % 32 or w % 32:
        raise ValueError(f'size must be multiples of 32 (the encoder stride), got {h}x{w}')
    for pre in (cfg.get('data_preprocessor'), cfg.model.get('data_preprocessor')):
        if pre is not None:
            pre['size'] = (h, w)
            if pre.get('test_cfg'):
                pre['test_cfg']['size'] = (h, w)
    for step in cfg.train_dataloader.dataset.pipeline:
        if step['type'] == 'RandomResize':
            step['scale'] = (w, h)
        elif step['type'] == 'RandomCrop':
            step['crop_size'] = (h, w)
    cfg.model['cost_input_size'] = (h, w)


def synthetic_train_config(config: str, data_root: str, work_dir: str, iters: int,
                           batch_size: Optional[int] = None, size: Optional[Tuple[int, int]] = None,
                           load_from: Optional[str] = None, seed: int = 0, num_workers: int = 0,
                           log_level: str = 'WARNING', cfg_options: Optional[dict] = None):
    """A training config for ``iters`` iterations on ``data_root`` (no validation during training).

    Args:
        config (str): Config file (e.g. a ``*_synthetic-120x160.py`` one).
        data_root (str): Dataset root for train, val and test.
        work_dir (str): Where checkpoints and logs go.
        iters (int): Training iterations; the one-cycle LR and the gate schedule
            (``iters_per_epoch`` of the gate hook) are rescaled to it.
        batch_size (int, optional): Training batch size; None keeps the config's.
        size (tuple, optional): (H, W) to train and test at (multiples of 32,
            the images must have it); None keeps the config's.
        load_from (str, optional): Initial weights (e.g. the static model for
            finetuning DynMM).
        seed (int): Random seed. Default: 0.
        num_workers (int): Dataloader workers. Default: 0.
        log_level (str): mmengine log level. Default: 'WARNING'.
        cfg_options (dict, optional): Further overrides, merged last.
    """
    from mmengine.config import Config
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    if int(iters) < 1:
        raise ValueError(f'iters must be >= 1, got {iters!r}')
    import dynmm_plugins  # noqa: F401
    cfg = Config.fromfile(config)
    old_iters = cfg.train_cfg['max_iters']
    cfg.work_dir = work_dir
    cfg.log_level = log_level
    cfg.randomness = dict(seed=seed)
    cfg.load_from = load_from
    cfg.resume = False
    cfg.train_cfg['max_iters'] = iters
    cfg.train_cfg['val_interval'] = iters + 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    for scheduler in cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]:
        if 'total_steps' in scheduler:
            scheduler['total_steps'] = iters
        if 'end' in scheduler and not scheduler.get('by_epoch', True):
            scheduler['end'] = iters
    for hook in cfg.get('custom_hooks', None) or []:
        if hook['type'] == 'DynMMGateScheduleHook' and hook.get('iters_per_epoch'):
            hook['iters_per_epoch'] = max(1, int(round(hook['iters_per_epoch'] * iters / old_iters)))
            hook['planned_max_iters'] = None  # rescaled here (whole iterations), not again by the hook
    cfg.default_hooks.checkpoint.update(interval=iters, max_keep_ckpts=1)
    cfg.default_hooks.logger['interval'] = max(1, min(20, iters))
    for key in ('train_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.dataset['data_root'] = data_root
        loader['num_workers'] = num_workers
        loader['persistent_workers'] = num_workers > 0
    if batch_size is not None:
        cfg.train_dataloader['batch_size'] = batch_size
    if size is not None:
        _set_size(cfg, size)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


class TrainProgressHook(Hook):
    """A tqdm bar over the training iterations, showing the current loss.

    Args:
        desc (str): Label of the bar.
    """

    priority = 'LOW'

    def __init__(self, desc: str = 'train'):
        self.desc = desc
        self.bar = None

    def before_train(self, runner) -> None:
        from tqdm import tqdm
        self.bar = tqdm(total=runner.max_iters, initial=runner.iter, desc=self.desc, unit='it',
                        dynamic_ncols=True)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.bar.update(1)
        if outputs and 'loss' in outputs:
            loss = outputs['loss']
            loss = loss.detach() if hasattr(loss, 'detach') else loss
            self.bar.set_postfix(loss=f'{float(loss):.3f}')

    def after_train(self, runner) -> None:
        self.bar.close()


def train(cfg, progress: Optional[str] = None) -> str:
    """Train ``cfg`` with mmengine's Runner; returns the final checkpoint's path.

    Args:
        cfg: A config from :func:`synthetic_train_config` (or any iteration-based one).
        progress (str, optional): Label of a tqdm bar over iterations; None: no bar.
    """
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    if progress:
        runner.register_hook(TrainProgressHook(progress))
    runner.train()
    path = osp.join(cfg.work_dir, f'iter_{runner.iter}.pth')
    if not osp.isfile(path):
        raise FileNotFoundError(f'training finished but wrote no checkpoint {path}')
    return path

