"""Gate schedules: temperature decay and the training phase of the gate per epoch."""
from dataclasses import dataclass

from .gates import check_temperature

RANDOM, SOFT, HARD = 'random', 'soft', 'hard'
GATE_PHASES = (RANDOM, SOFT, HARD)


def exponential_temperature(epoch: float, temp: float, end_temp: float, epoch_hard: float) -> float:
    """``temp * (end_temp / temp) ** (epoch / epoch_hard)``, held at ``end_temp`` afterwards.

    This is DynMM's decay: ``temp`` at epoch 0, ``end_temp`` at ``epoch_hard``,
    geometric in between (the midpoint is ``sqrt(temp * end_temp)``). As in the
    reference, ``epoch_hard == 0`` means no decay (the gate is hard from the start).
    """
    temp, end_temp = check_temperature(temp), check_temperature(end_temp)
    if epoch_hard <= 0:
        return temp
    progress = min(max(float(epoch), 0.0) / epoch_hard, 1.0)
    return temp * (end_temp / temp) ** progress


def constant_temperature(epoch: float, temp: float) -> float:
    """The same temperature at every epoch."""
    return check_temperature(temp)


def gate_phase(epoch: float, epoch_ini: float, epoch_hard: float) -> str:
    """Phase of the gate at ``epoch``: 'random' before ``epoch_ini``, 'hard' from ``epoch_hard``, else 'soft'."""
    if epoch < epoch_ini:
        return RANDOM
    if epoch >= epoch_hard:
        return HARD
    return SOFT


@dataclass(frozen=True)
class GateSchedule:
    """DynMM's gate schedule, as in the reference training script.

    Args:
        temp (float): Temperature at epoch 0. Default: 1.0.
        end_temp (float): Temperature reached at ``epoch_hard``. Default: 0.001.
        epoch_ini (float): Epochs of the random-branch initial phase. Default: 0.
        epoch_hard (float): Epoch from which the gate is hard. Default: 500.
        decay (str): 'exp' (exponential decay) or 'constant'. Default: 'exp'.
    """
    temp: float = 1.0
    end_temp: float = 0.001
    epoch_ini: float = 0
    epoch_hard: float = 500
    decay: str = 'exp'

    def __post_init__(self):
        check_temperature(self.temp)
        check_temperature(self.end_temp)
        if self.decay not in ('exp', 'constant'):
            raise ValueError(f"decay must be 'exp' or 'constant', got {self.decay!r}")
        if self.epoch_ini < 0 or self.epoch_hard < 0:
            raise ValueError(f'epoch_ini and epoch_hard must be >= 0, got '
                             f'{self.epoch_ini!r} and {self.epoch_hard!r}')

    def temperature(self, epoch: float) -> float:
        """Temperature at ``epoch`` (fractional epochs allowed)."""
        if self.decay == 'constant':
            return constant_temperature(epoch, self.temp)
        return exponential_temperature(epoch, self.temp, self.end_temp, self.epoch_hard)

    def phase(self, epoch: float) -> str:
        """Gate phase at ``epoch``: one of :data:`GATE_PHASES`."""
        return gate_phase(epoch, self.epoch_ini, self.epoch_hard)
