"""The compute knob's pure-PyTorch core: bias validation and the bisection on tau (dynmm_plugins.core.budget)."""
import math

import pytest
import torch

from dynmm_plugins.core import (biased_branches, calibrate_tau, check_costs, check_gate_bias, cost_bias,
                                realised_cost, target_from_fraction)

COSTS = [1.0, 1.3, 1.6, 2.0, 2.5]


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(300, 5, generator=g) * 2


def _all_breakpoints(logits, costs):
    """Every tau at which some sample's arg-max may change: pairwise crossings of its lines."""
    costs = torch.tensor(costs, dtype=torch.float64)
    taus = []
    for j in range(len(costs)):
        for k in range(j + 1, len(costs)):
            taus.append((logits[:, k].double() - logits[:, j].double()) / (costs[k] - costs[j]))
    return torch.cat(taus)


def test_calibration_is_the_closest_point_below_the_target(logits):
    # brute force over every decision region: the best realised cost <= target
    points = _all_breakpoints(logits, COSTS)
    candidates = torch.cat([points - 1e-7, points + 1e-7, torch.tensor([-1e6, 1e6], dtype=torch.float64)])
    reachable = sorted({round(realised_cost(logits, COSTS, cost_bias(t, COSTS)), 12) for t in candidates.tolist()})
    for target in (1.1, 1.45, 1.8, 2.2, 2.49):
        result = calibrate_tau(logits, COSTS, target)
        best = max(v for v in reachable if v <= target + 1e-12)
        assert result.realised <= target + 1e-12
        assert result.realised == pytest.approx(best, abs=1e-9)
        assert result.gate_bias == pytest.approx(cost_bias(result.tau, COSTS).tolist())
        assert sum(result.branch_fractions) == pytest.approx(1.0)
        # the returned bias reproduces the decisions in float32, as a model applies it
        in_float = biased_branches(logits.float(), torch.tensor(result.gate_bias, dtype=torch.float32))
        assert torch.equal(in_float, biased_branches(logits, result.gate_bias))


def test_realised_cost_is_monotone_in_the_target_and_tau_may_be_negative(logits):
    at_zero = realised_cost(logits, COSTS, torch.zeros(5))
    targets = [1.05, 1.3, 1.6, 1.9, 2.2, 2.5]
    results = [calibrate_tau(logits, COSTS, t) for t in targets]
    realised = [r.realised for r in results]
    taus = [r.tau for r in results]
    assert realised == sorted(realised) and taus == sorted(taus, reverse=True)
    assert results[-1].branch_fractions == [0, 0, 0, 0, 1.0]  # 100 %: every sample on the last branch
    # spending more than the unbiased gate does needs tau < 0
    above = [r for r, t in zip(results, targets) if t > at_zero + 0.1]
    assert above and all(r.tau < 0 for r in above)
    assert target_from_fraction(0.8, COSTS) == pytest.approx(2.0)


def test_a_target_outside_the_reachable_range_names_the_range(logits):
    for target in (0.9, 2.6):
        with pytest.raises(ValueError, match=r'outside the reachable range \[1, 2\.5\]'):
            calibrate_tau(logits, COSTS, target)
    with pytest.raises(ValueError, match='finite'):
        calibrate_tau(logits, COSTS, float('nan'))
    with pytest.raises(ValueError, match='increase strictly'):
        calibrate_tau(logits, [1.0, 1.0, 2.0, 3.0, 4.0], 2.0)
    with pytest.raises(ValueError, match='non-finite logits'):
        calibrate_tau(torch.full((3, 5), math.inf), COSTS, 2.0)


def test_per_sample_costs_are_what_the_realised_cost_charges(logits):
    # half the samples at twice the size: the bias uses COSTS, the charge each sample's own costs
    sample_costs = torch.tensor(COSTS, dtype=torch.float64).repeat(300, 1)
    sample_costs[150:] *= 2
    result = calibrate_tau(logits, COSTS, 2.4, sample_costs=sample_costs)
    assert result.reachable == pytest.approx((1.5, 3.75))
    assert result.realised <= 2.4 + 1e-12 and result.realised == pytest.approx(
        realised_cost(logits, sample_costs, result.gate_bias))


@pytest.mark.parametrize('bias, message', [
    ([0.0, 1.0], r'one value per branch \(5\), got 2'),
    ([0.0, float('nan'), 0, 0, 0], r'gate_bias\[1\] must be finite'),
    ([0.0, 0, 0, float('inf'), 0], r'gate_bias\[3\] must be finite'),
    ([0.0, 'a', 0, 0, 0], r'gate_bias\[1\] must be a number'),
    ('0 0 0 0 0', 'list of 5 numbers'),
    (3.0, 'list of 5 numbers'),
])
def test_hostile_biases_are_clear_errors(bias, message):
    with pytest.raises(ValueError, match=message):
        check_gate_bias(bias, 5)


def test_valid_biases_and_costs():
    assert check_gate_bias(None, 3).tolist() == [0, 0, 0]
    assert check_gate_bias(torch.tensor([1, -2, 3]), 3).tolist() == [1, -2, 3]
    assert check_costs([1, 2]).dtype == torch.float64
