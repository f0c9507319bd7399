"""DynMMObjective: task loss plus reg * cost-weighted expected compute, fed by MultiBench's args dict."""
import pytest
import torch
from torch import nn

from multibench_ext import DynMMObjective


def args_with(weights):
    return {'fused': (torch.zeros(len(weights), 1), weights), 'reps': [], 'inputs': [], 'training': True}


def test_zero_reg_is_the_task_loss():
    pred, truth = torch.randn(4, 3), torch.randint(0, 2, (4, 3))
    weights = torch.softmax(torch.randn(4, 2), 1)
    loss = DynMMObjective(nn.BCEWithLogitsLoss(), [1.25, 10.87], reg=0.0)(pred, truth, args_with(weights))
    assert torch.allclose(loss, nn.BCEWithLogitsLoss()(pred, truth.float()))


def test_resource_term_weights_each_expert_by_its_cost():
    pred, truth = torch.zeros(2, 1), torch.zeros(2, 1)
    weights = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    costs = [1.0, 4.0]
    loss = DynMMObjective(nn.L1Loss(), costs, reg=0.5, cost_scale='none')(pred, truth, args_with(weights))
    expected_cost = ((1 * 1.0 + 0 * 4.0) + (0.25 * 1.0 + 0.75 * 4.0)) / 2
    assert loss.item() == pytest.approx(0.5 * expected_cost)
    normalised = DynMMObjective(nn.L1Loss(), costs, reg=0.5, cost_scale='max')(pred, truth, args_with(weights))
    assert normalised.item() == pytest.approx(0.5 * expected_cost / 4.0)


def test_gradient_on_gate_weights_is_proportional_to_expert_cost():
    weights = torch.full((3, 2), 0.5, requires_grad=True)
    objective = DynMMObjective(nn.L1Loss(), [2.0, 10.0], reg=1.0, cost_scale='none')
    objective(torch.zeros(3, 1), torch.zeros(3, 1), args_with(weights)).backward()
    assert torch.allclose(weights.grad, torch.tensor([[2.0, 10.0]] * 3) / 3)


def test_range_scaling_penalises_the_extra_cost_over_the_cheapest_expert():
    weights = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    objective = DynMMObjective(nn.L1Loss(), [135.0, 320.0], reg=1.0, cost_scale='range')
    loss = objective(torch.zeros(2, 1), torch.zeros(2, 1), args_with(weights))
    assert loss.item() == pytest.approx((0.75 + 0.0) / 2)  # the expensive expert's mean weight
    with pytest.raises(ValueError, match='cost_scale'):
        DynMMObjective(nn.L1Loss(), [1, 2], cost_scale='log')


def test_cheaper_routing_costs_less():
    objective = DynMMObjective(nn.L1Loss(), [135.1, 320.0], reg=0.1)
    cheap = objective(torch.zeros(2, 1), torch.zeros(2, 1), args_with(torch.tensor([[1.0, 0.0]] * 2)))
    costly = objective(torch.zeros(2, 1), torch.zeros(2, 1), args_with(torch.tensor([[0.0, 1.0]] * 2)))
    assert cheap < costly
    assert costly.item() == pytest.approx(0.1)
    assert objective.last_resource_loss == pytest.approx(1.0)


def test_default_resource_loss_is_the_references_expensive_expert_weight():
    # the reference: loss = task + reg * mean over the batch of the late-fusion expert's gate weight
    weights = torch.softmax(torch.randn(6, 2), 1)
    pred, truth = torch.randn(6, 1), torch.randn(6, 1)
    objective = DynMMObjective(nn.L1Loss(), [135.13, 320.03], reg=0.3)
    loss = objective(pred, truth, args_with(weights))
    expected = nn.L1Loss()(pred, truth) + 0.3 * weights[:, 1].mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert objective.cost_scale == 'range'


def test_max_scaling_pulls_less_than_the_reference_on_mosei_costs():
    weights = torch.tensor([[0.0, 1.0]])
    default = DynMMObjective(nn.L1Loss(), [135.13, 320.03], reg=1.0)
    by_max = DynMMObjective(nn.L1Loss(), [135.13, 320.03], reg=1.0, cost_scale='max')
    cheap, costly = torch.tensor([[1.0, 0.0]]), weights
    zero = torch.zeros(1, 1)
    gap = lambda o: (o(zero, zero, args_with(costly)) - o(zero, zero, args_with(cheap))).item()  # noqa: E731
    assert gap(default) == pytest.approx(1.0)
    assert gap(by_max) == pytest.approx((320.03 - 135.13) / 320.03)  # 0.58x as hard


def test_truth_is_cast_to_float_like_multibench():
    objective = DynMMObjective(nn.BCEWithLogitsLoss(), [1, 2])
    loss = objective(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.int32), args_with(torch.ones(2, 2) / 2))
    assert loss.dtype == torch.float32


def test_missing_gate_weights_say_how_to_call_train():
    objective = DynMMObjective(nn.L1Loss(), [1, 2])
    with pytest.raises(ValueError, match='objective_args_dict'):
        objective(torch.zeros(2, 1), torch.zeros(2, 1), None)
    with pytest.raises(ValueError, match='objective_args_dict'):
        objective(torch.zeros(2, 1), torch.zeros(2, 1), {'fused': torch.zeros(2, 1)})
    with pytest.raises(ValueError, match='do not match'):
        objective(torch.zeros(2, 1), torch.zeros(2, 1), args_with(torch.ones(2, 3) / 3))
    with pytest.raises(ValueError, match='reg'):
        DynMMObjective(nn.L1Loss(), [1, 2], reg=-1)
