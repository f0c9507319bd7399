import pytest
import torch

from dynmm_plugins.core import (check_branch, fixed_one_hot, gate_activation, random_one_hot,
                                straight_through_one_hot)


def test_soft_gate_is_tempered_softmax():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    for tau in (1.0, 0.1, 5.0):
        expected = torch.softmax(logits / tau, dim=-1)
        assert torch.allclose(gate_activation(logits, tau), expected)


def test_low_temperature_sharpens_towards_argmax():
    logits = torch.tensor([[1.0, 1.5, 0.0]])
    assert gate_activation(logits, 0.01)[0, 1] > 0.99
    assert gate_activation(logits, 100.0).max() < 0.4


def test_hard_gate_forward_is_one_hot_of_argmax():
    logits = torch.tensor([[0.1, 3.0, -1.0], [2.0, 0.0, 1.0]])
    weights = gate_activation(logits, 1.0, hard=True)
    assert torch.equal(weights, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))


def test_hard_gate_backward_is_softmax_gradient():
    logits = torch.randn(4, 5, requires_grad=True)
    target = torch.randn(4, 5)
    (gate_activation(logits, 0.7, hard=True) * target).sum().backward()
    hard_grad = logits.grad.clone()
    logits.grad = None
    (gate_activation(logits, 0.7, hard=False) * target).sum().backward()
    assert hard_grad.abs().sum() > 0
    assert torch.allclose(hard_grad, logits.grad)


def test_soft_gate_gradient_flows():
    logits = torch.zeros(2, 3, requires_grad=True)
    (gate_activation(logits, 1.0) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    # pushing weight to the costliest branch raises the sum: its logit gets a positive gradient
    assert logits.grad[0, 2] > 0 > logits.grad[0, 0]


@pytest.mark.parametrize('bad', [0, -1.0, float('nan'), float('inf')])
def test_bad_temperature_is_rejected(bad):
    with pytest.raises(ValueError, match='temperature'):
        gate_activation(torch.zeros(1, 2), bad)


def test_straight_through_one_hot_sums_to_one():
    soft = torch.softmax(torch.randn(7, 5), dim=1)
    hard = straight_through_one_hot(soft)
    assert torch.equal(hard.sum(1), torch.ones(7))


def test_random_and_fixed_one_hot():
    gen = torch.Generator().manual_seed(3)
    weights = random_one_hot(500, 5, generator=gen)
    assert torch.equal(weights.sum(1), torch.ones(500))
    counts = weights.sum(0)
    assert (counts > 60).all()  # every branch is drawn (uniform: ~100 each)
    fixed = fixed_one_hot(3, 5, 2)
    assert torch.equal(fixed.argmax(1), torch.tensor([2, 2, 2]))
    with pytest.raises(ValueError, match=r'branch must be an int in \[0, 4\], got 5'):
        check_branch(5, 5)
