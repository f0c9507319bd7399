import pytest
import torch

from dynmm_plugins.core import expected_cost_per_sample, resource_loss

COSTS = [0.25, 3.11, 6.95, 12.66, 15.54]


def test_expected_cost_is_weighted_sum_averaged_over_batch():
    weights = torch.tensor([[1.0, 0, 0, 0, 0], [0, 0, 0.5, 0, 0.5]])
    assert torch.allclose(expected_cost_per_sample(weights, COSTS), torch.tensor([0.25, 11.245]))
    assert resource_loss(weights, COSTS).item() == pytest.approx((0.25 + 11.245) / 2)


def test_resource_loss_rises_with_deeper_branches():
    losses = [resource_loss(torch.eye(5)[[k]], COSTS).item() for k in range(5)]
    assert losses == sorted(losses) and losses[0] < losses[-1]


def test_budget_and_normalisation_and_reference_reduction():
    weights = torch.eye(5)[[4]]
    assert resource_loss(weights, COSTS, budget=10.0).item() == pytest.approx(5.54)
    assert resource_loss(weights, COSTS, budget=20.0).item() == 0
    assert resource_loss(weights, COSTS, normalize=True).item() == pytest.approx(1.0)
    # the reference code averages over the 5 branches instead of summing
    assert resource_loss(weights, COSTS, reduction='mean').item() == pytest.approx(15.54 / 5)


def test_gradient_pushes_weight_to_cheaper_branches():
    logits = torch.zeros(3, 5, requires_grad=True)
    resource_loss(torch.softmax(logits, 1), COSTS).backward()
    assert logits.grad[0, 0] < 0 < logits.grad[0, 4]


@pytest.mark.parametrize('weights, costs, match', [
    (torch.ones(2, 4) / 4, COSTS, 'expected 4 branch costs'),
    (torch.ones(2, 5) / 5, [1, 2, -3, 4, 5], '>= 0'),
    (torch.ones(2, 5) / 5, [1, 2, float('nan'), 4, 5], 'finite'),
    (torch.full((2, 5), float('nan')), COSTS, 'NaN'),
    (torch.ones(5) / 5, COSTS, r'shape \(N, B\)'),
])
def test_invalid_input_raises_value_error(weights, costs, match):
    with pytest.raises(ValueError, match=match):
        resource_loss(weights, costs)


def test_unknown_reduction():
    with pytest.raises(ValueError, match='reduction'):
        resource_loss(torch.eye(5), COSTS, reduction='max')
