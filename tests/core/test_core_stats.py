import pytest
import torch

from dynmm_plugins.core import GateStatistics


def test_histogram_fractions_and_costs_over_batches():
    stats = GateStatistics(3, costs=[1.0, 2.0, 4.0])
    stats.update(torch.tensor([[0.6, 0.4, 0.0], [0.0, 0.0, 1.0]]))
    stats.update(torch.tensor([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]))
    summary = stats.summary()
    assert summary['num_samples'] == 4
    assert summary['branch_histogram'] == [1, 1, 2]
    assert summary['branch_fractions'] == pytest.approx([0.25, 0.25, 0.5])
    assert summary['mean_weights'] == pytest.approx([0.225, 0.35, 0.425])
    # realised: costs of the arg-max branches 1, 4, 2, 4
    assert summary['realised_cost'] == pytest.approx(11 / 4)
    assert summary['expected_cost'] == pytest.approx(0.225 * 1 + 0.35 * 2 + 0.425 * 4)


def test_reset_and_shape_check():
    stats = GateStatistics(2)
    stats.update(torch.tensor([[1.0, 0.0]]))
    stats.reset()
    assert stats.count == 0 and stats.branch_counts.sum() == 0
    with pytest.raises(ValueError, match=r'\(N, 2\)'):
        stats.update(torch.ones(3, 5))
    with pytest.raises(ValueError, match='without branch costs'):
        stats.realised_cost()
