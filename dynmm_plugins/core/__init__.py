"""DynMM's core gating library: pure PyTorch, shared by the MMSeg and MultiBench plugins."""
from .budget import (Calibration, biased_branches, calibrate_tau, check_costs, check_gate_bias,
                     check_target, cost_bias, realised_cost, target_from_fraction)
from .flops import count_macs
from .gate_override import override_gate
from .gates import (check_branch, check_temperature, fixed_one_hot, gate_activation,
                    random_one_hot, straight_through_one_hot)
from .resource import as_cost_tensor, expected_cost_per_sample, resource_loss
from .routing import run_grouped_by_branch
from .schedules import (GATE_PHASES, HARD, RANDOM, SOFT, GateSchedule, constant_temperature,
                        exponential_temperature, gate_phase)
from .stats import GateStatistics

__all__ = [
    'Calibration', 'biased_branches', 'calibrate_tau', 'check_costs', 'check_gate_bias', 'check_target',
    'cost_bias', 'realised_cost', 'target_from_fraction',
    'count_macs', 'override_gate', 'check_branch', 'check_temperature', 'fixed_one_hot', 'gate_activation',
    'random_one_hot', 'straight_through_one_hot', 'as_cost_tensor',
    'expected_cost_per_sample', 'resource_loss', 'run_grouped_by_branch', 'GATE_PHASES', 'HARD',
    'RANDOM', 'SOFT', 'GateSchedule', 'constant_temperature', 'exponential_temperature',
    'gate_phase', 'GateStatistics'
]
