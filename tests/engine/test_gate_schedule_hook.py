"""The gate schedule hook: random phase, exponential decay, hard gates; iteration and epoch loops."""
import math
from types import SimpleNamespace

import pytest

pytest.importorskip('mmseg')
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop  # noqa: E402

from dynmm_plugins.engine.hooks import DynMMGateScheduleHook  # noqa: E402
from helpers.tiny_dynmm import build_tiny  # noqa: E402


@pytest.fixture
def model():
    """A fresh tiny model per test: the hook and the tests change its gate."""
    return build_tiny()


def _runner(model, loop_cls, iteration=0, epoch=0, dataloader_len=10):
    loop = loop_cls.__new__(loop_cls)  # only its type matters to the hook
    return SimpleNamespace(model=model, train_loop=loop, iter=iteration, epoch=epoch,
                           train_dataloader=[None] * dataloader_len,
                           message_hub=MessageHub.get_instance('gate_hook_test'))


@pytest.mark.parametrize('iteration, mode, temperature', [
    (0, 'random', 1.0),                               # epoch 0 < epoch_ini
    (19, 'random', 0.01 ** (1 / 10)),                # epoch 1: decays during the random phase too
    (20, 'soft', 1.0 * (0.01 / 1.0) ** (2 / 10)),     # epoch 2: decay from epoch 0
    (60, 'soft', math.sqrt(1.0 * 0.01) * 10 ** -0.2),  # epoch 6 = 0.6 of the way
    (100, 'hard', 0.01),                              # epoch 10 = epoch_hard
    (250, 'hard', 0.01),                              # held at end_temp
])
def test_iteration_loop_converts_epochs_with_dataloader_length(model, iteration, mode, temperature):
    hook = DynMMGateScheduleHook(temp=1.0, end_temp=0.01, epoch_ini=2, epoch_hard=10)
    runner = _runner(model, IterBasedTrainLoop, iteration=iteration)
    hook.before_train_iter(runner, batch_idx=0)
    assert model.gate_mode == mode
    assert model.temperature == pytest.approx(temperature)
    assert runner.message_hub.get_scalar('train/gate_temperature').current() == pytest.approx(temperature)


def test_iters_per_epoch_overrides_the_dataloader_length(model):
    hook = DynMMGateScheduleHook(temp=1.0, end_temp=0.01, epoch_ini=0, epoch_hard=4, iters_per_epoch=99)
    hook.before_train_iter(_runner(model, IterBasedTrainLoop, iteration=198), 0)  # epoch 2
    assert model.temperature == pytest.approx(0.1)


def test_epoch_loop_uses_the_runner_epoch(model):
    hook = DynMMGateScheduleHook(temp=2.0, end_temp=0.02, epoch_ini=0, epoch_hard=2)
    hook.before_train_iter(_runner(model, EpochBasedTrainLoop, iteration=12345, epoch=1), 0)
    assert model.gate_mode == 'soft' and model.temperature == pytest.approx(0.2)
    hook.before_train_iter(_runner(model, EpochBasedTrainLoop, epoch=2), 0)
    assert model.gate_mode == 'hard'


def test_forced_baseline_is_left_alone(model):
    model.set_gate('baseline')
    DynMMGateScheduleHook(epoch_ini=5).before_train_iter(_runner(model, IterBasedTrainLoop), 0)
    assert model.gate_mode == 'baseline'
    model.set_gate('soft', 1.0)


def test_bad_hook_values():
    with pytest.raises(ValueError, match='temperature'):
        DynMMGateScheduleHook(temp=0)
    with pytest.raises(ValueError, match='iters_per_epoch'):
        DynMMGateScheduleHook(iters_per_epoch=0)
