import math

import pytest

from dynmm_plugins.core import GateSchedule, exponential_temperature, gate_phase


def test_exponential_decay_pins_ends_and_midpoint():
    assert exponential_temperature(0, 1.0, 0.001, 500) == pytest.approx(1.0)
    assert exponential_temperature(250, 1.0, 0.001, 500) == pytest.approx(math.sqrt(0.001))
    assert exponential_temperature(500, 1.0, 0.001, 500) == pytest.approx(0.001)
    # held at end_temp afterwards
    assert exponential_temperature(800, 1.0, 0.001, 500) == pytest.approx(0.001)


def test_decay_matches_reference_closed_form_at_fractional_epochs():
    # reference: t(e) = temp * b ** e with b = exp(log(end/temp) / epoch_hard)
    b = math.exp(math.log(0.01 / 2.0) / 40)
    for epoch in (0.5, 7.25, 39.9):
        assert exponential_temperature(epoch, 2.0, 0.01, 40) == pytest.approx(2.0 * b ** epoch)


def test_zero_epoch_hard_keeps_start_temperature():
    assert exponential_temperature(10, 0.5, 0.001, 0) == 0.5


def test_phases():
    assert gate_phase(0, epoch_ini=2, epoch_hard=10) == 'random'
    assert gate_phase(1.99, epoch_ini=2, epoch_hard=10) == 'random'
    assert gate_phase(2, epoch_ini=2, epoch_hard=10) == 'soft'
    assert gate_phase(9.99, epoch_ini=2, epoch_hard=10) == 'soft'
    assert gate_phase(10, epoch_ini=2, epoch_hard=10) == 'hard'


def test_gate_schedule_object():
    sched = GateSchedule(temp=1.0, end_temp=0.001, epoch_ini=0, epoch_hard=500)
    assert sched.temperature(250) == pytest.approx(0.0316227766)
    assert sched.phase(0) == 'soft' and sched.phase(500) == 'hard'
    constant = GateSchedule(temp=0.3, decay='constant')
    assert constant.temperature(0) == constant.temperature(400) == 0.3


@pytest.mark.parametrize('kwargs, match', [
    (dict(temp=0), 'temperature'),
    (dict(end_temp=-1), 'temperature'),
    (dict(decay='linear'), 'decay'),
    (dict(epoch_hard=-1), 'epoch_hard'),
])
def test_gate_schedule_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GateSchedule(**kwargs)
