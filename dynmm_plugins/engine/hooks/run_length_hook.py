"""Keeps one-cycle learning-rate schedules as long as the run they belong to."""
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import HOOKS


def _schedulers(param_schedulers):
    if param_schedulers is None:
        return []
    if isinstance(param_schedulers, dict):  # one list per optimizer
        return [s for group in param_schedulers.values() for s in group]
    return list(param_schedulers)


def stretch_one_cycle(scheduler: OneCycleParamScheduler, total_steps: int) -> None:
    """Give ``scheduler`` a cycle of ``total_steps`` (same shape, same position in steps).

    The phases keep their share of the cycle (``pct_start``); the learning rate of the
    current step is set at once, so the next iteration already follows the new cycle.
    """
    old = scheduler.total_steps
    pct_start = (scheduler._schedule_phases[0]['end_step'] + 1) / old
    ends = [pct_start * total_steps - 1, total_steps - 1]
    if len(scheduler._schedule_phases) == 3:  # three_phase=True
        ends = [pct_start * total_steps - 1, 2 * pct_start * total_steps - 2, total_steps - 1]
    for phase, end in zip(scheduler._schedule_phases, ends):
        phase['end_step'] = float(end)
    scheduler.total_steps = total_steps
    scheduler.end = scheduler.begin + total_steps
    if 0 <= scheduler.last_step <= total_steps:
        for group, value in zip(scheduler.optimizer.param_groups, scheduler._get_value()):
            group[scheduler.param_name] = value


@HOOKS.register_module()
class DynMMRunLengthHook(Hook):
    """Makes iteration-based one-cycle schedules span ``train_cfg.max_iters``, and says so.

    A config writes ``OneCycleLR(total_steps=max_iters)`` with the ``max_iters`` it was
    written for; shortening the run with ``--cfg-options train_cfg.max_iters=N`` does not
    change it (the run would end mid-warm-up), and ``--resume`` with a larger
    ``max_iters`` restores the old cycle, whose end then freezes the learning rate.
    Before training (after a resume has restored the schedulers) every iteration-based
    ``OneCycleLR`` whose cycle does not end at ``max_iters`` is stretched or shrunk to
    it, with a warning that gives both lengths. Epoch-based runs are left alone.

    Args:
        follow_max_iters (bool): Adapt the cycle (True) or only warn (False).
            Default: True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, follow_max_iters: bool = True):
        self.follow_max_iters = follow_max_iters

    def before_train(self, runner) -> None:
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        max_iters = runner.max_iters
        for scheduler in _schedulers(runner.param_schedulers):
            if not isinstance(scheduler, OneCycleParamScheduler) or scheduler.by_epoch:
                continue
            wanted = max_iters - scheduler.begin
            if scheduler.total_steps == wanted or wanted < 1:
                continue
            old = scheduler.total_steps
            if not self.follow_max_iters:
                print_log(f'OneCycleLR spans {old} iterations but train_cfg.max_iters is '
                          f'{max_iters}: the learning rate does not follow this run\'s length',
                          logger='current', level=logging.WARNING)
                continue
            stretch_one_cycle(scheduler, wanted)
            print_log(f'OneCycleLR spanned {old} iterations (total_steps from the config or the '
                      f'resumed checkpoint) but train_cfg.max_iters is {max_iters}: the cycle now '
                      f'spans iterations {scheduler.begin}-{max_iters} (at iteration '
                      f'{runner.iter}: lr {scheduler.optimizer.param_groups[0]["lr"]:.4g})',
                      logger='current', level=logging.WARNING)
