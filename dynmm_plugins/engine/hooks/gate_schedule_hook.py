"""Drives DynMM's gate through its training schedule: random -> soft (decaying) -> hard."""
import logging
import math

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import HOOKS

from dynmm_plugins.core import GateSchedule


@HOOKS.register_module()
class DynMMGateScheduleHook(Hook):
    """Sets the gate mode and temperature before every training iteration.

    DynMM's knobs are in epochs: the first ``epoch_ini`` epochs assign uniformly
    random branches, the temperature decays exponentially from ``temp`` to
    ``end_temp`` over ``epoch_hard`` epochs, and from ``epoch_hard`` on the gate
    is hard (straight-through). With an iteration-based loop the epoch is
    ``iter // iters_per_epoch`` (the temperature steps once per epoch, as in the
    reference). The mode and temperature are functions of the runner's
    iteration/epoch, so ``--resume`` restores them; the hook also stores the
    torch RNG state in each checkpoint (the random phase draws branches from
    it), so a resumed run continues exactly like an uninterrupted one. A model
    put in 'baseline' or 'fixed' gate mode by its config is left alone.

    Args:
        temp (float): Start temperature. Default: 1.0.
        end_temp (float): Temperature at ``epoch_hard``. Default: 0.001.
        epoch_ini (float): Epochs of random branches. Default: 0.
        epoch_hard (float): Epoch from which gates are hard. Default: 500.
        iters_per_epoch (int, optional): Iterations per epoch for iteration-based
            loops; None uses the length of the training dataloader.
        decay (str): 'exp' or 'constant'. Default: 'exp'.
        planned_max_iters (int, optional): The ``train_cfg.max_iters`` the epoch
            knobs were written for (configs pass ``{{_base_.max_iters}}``). When the
            run's ``max_iters`` differs (``--cfg-options train_cfg.max_iters=N``, or a
            resume to a longer run), an epoch of the schedule becomes
            ``iters_per_epoch * max_iters / planned_max_iters`` iterations, so the
            random, soft and hard phases keep their share of the run. None keeps
            epochs of ``iters_per_epoch`` iterations whatever the run's length.
            Either way the hook logs at the start of training at which iterations
            the phases change, with a warning when the run's length is not the
            planned one or a phase does not fit in it.
    """

    priority = 'NORMAL'

    def __init__(self, temp=1.0, end_temp=0.001, epoch_ini=0, epoch_hard=500,
                 iters_per_epoch=None, decay='exp', planned_max_iters=None):
        self.schedule = GateSchedule(temp, end_temp, epoch_ini, epoch_hard, decay)
        if iters_per_epoch is not None and int(iters_per_epoch) < 1:
            raise ValueError(f'iters_per_epoch must be >= 1, got {iters_per_epoch!r}')
        if planned_max_iters is not None and int(planned_max_iters) < 1:
            raise ValueError(f'planned_max_iters must be >= 1, got {planned_max_iters!r}')
        self.iters_per_epoch = iters_per_epoch
        self.planned_max_iters = planned_max_iters

    def iters_per_schedule_epoch(self, runner) -> float:
        """Iterations of one schedule epoch in this run (scaled to its length if planned)."""
        per_epoch = self.iters_per_epoch or len(runner.train_dataloader)
        max_iters = getattr(runner, 'max_iters', None)
        if self.planned_max_iters and max_iters:
            return per_epoch * max_iters / self.planned_max_iters
        return per_epoch

    def epoch_of(self, runner) -> int:
        """The schedule's epoch for the runner's current position."""
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            return runner.epoch
        return int(runner.iter // self.iters_per_schedule_epoch(runner))

    def before_train(self, runner):
        """Say at which iterations the gate changes phase; warn when the run's length is off."""
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        per_epoch = self.iters_per_schedule_epoch(runner)
        max_iters = runner.max_iters
        random_end = math.ceil(self.schedule.epoch_ini * per_epoch)
        hard_from = math.ceil(self.schedule.epoch_hard * per_epoch)
        plan = (f'gate schedule: random branches until iteration {min(random_end, max_iters)}, '
                f'hard gates from iteration {hard_from} (an epoch of the schedule = '
                f'{per_epoch:g} iterations, train_cfg.max_iters = {max_iters})')
        problems = []
        if self.planned_max_iters and max_iters != self.planned_max_iters:
            problems.append(f'the schedule was written for max_iters={self.planned_max_iters}; its '
                            f'epochs are scaled by {max_iters}/{self.planned_max_iters} to keep its '
                            'proportions')
        if random_end >= max_iters and self.schedule.epoch_ini > 0:
            problems.append('the gate stays in its random phase for the whole run')
        elif hard_from >= max_iters:
            problems.append('the gate never becomes hard in this run')
        level = logging.WARNING if problems else logging.INFO
        print_log('; '.join([plan] + problems), logger='current', level=level)

    def state_at(self, epoch):
        """(gate mode, temperature) for ``epoch``."""
        return self.schedule.phase(epoch), self.schedule.temperature(epoch)

    def before_save_checkpoint(self, runner, checkpoint):
        """Store the gate state and the torch RNG state in the checkpoint."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        checkpoint['dynmm_gate'] = dict(mode=model.gate_mode, temperature=model.temperature,
                                        torch_rng_state=torch.get_rng_state())

    def after_load_checkpoint(self, runner, checkpoint):
        """On ``--resume``, restore the state saved by :meth:`before_save_checkpoint`."""
        state = checkpoint.get('dynmm_gate')
        if state is None or not getattr(runner, '_resume', False):
            return  # finetuning from ``load_from`` starts its own schedule and randomness
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if model.gate_mode not in ('baseline', 'fixed') and state['mode'] not in ('baseline', 'fixed'):
            model.set_gate(state['mode'], state['temperature'])
        torch.set_rng_state(state['torch_rng_state'])

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        """Apply the schedule for the current epoch."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if model.gate_mode in ('baseline', 'fixed'):
            return
        mode, temperature = self.state_at(self.epoch_of(runner))
        model.set_gate(mode, temperature)
        runner.message_hub.update_scalar('train/gate_temperature', temperature)
