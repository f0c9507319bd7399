"""Test-only hook: pause after a given iteration so a test can kill the run there."""
import time

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class PauseAfterIterHook(Hook):
    """Sleep ``seconds`` after training iteration ``iteration`` (1-based), after the checkpoint."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW)

    def __init__(self, iteration, seconds=30.0):
        self.iteration = iteration
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iteration:
            time.sleep(self.seconds)
