"""The compute knob on DynMMMixture: gate bias at inference, calibration to an MFLOPs target, pickling."""
import io

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from multibench_ext import DynMMMixture
from multibench_ext.budget import calibrate_mixture, collect_logits, gated_mflops


@pytest.fixture
def mixture(experts, gate, batch):
    mix = DynMMMixture(experts, gate).eval()
    mix.measure_costs([x[:1] for x in batch])
    return mix


@pytest.fixture
def loader():
    g = torch.Generator().manual_seed(5)
    data = TensorDataset(torch.randn(200, 6, generator=g), torch.randn(200, 10, generator=g), torch.zeros(200))
    return DataLoader(data, batch_size=32)


def _routed(mixture, loader):
    mixture.reset_stats()
    with torch.no_grad():
        for x0, x1, _ in loader:
            mixture([x0, x1])
    return mixture.gate_summary()


def test_bias_moves_samples_monotonically_and_only_at_inference(mixture, batch, loader):
    ratios = []
    for b in (-6.0, -2.0, -0.5, 0.0, 0.5, 2.0, 6.0):  # bias on the late-fusion expert
        mixture.set_gate_bias([0.0, b])
        ratios.append(_routed(mixture, loader)['branch_ratio'])
    assert ratios == sorted(ratios) and ratios[0] == 0.0 and ratios[-1] == 1.0
    # in training the weights come from the gate alone
    mixture.train()
    mixture.set_gate_bias([0.0, 100.0])
    biased = mixture(batch)[1]
    mixture.set_gate_bias(None)
    plain = mixture(batch)[1]
    assert torch.allclose(biased, plain)
    assert 'gate_bias' not in mixture.state_dict()


def test_calibration_meets_an_mflops_target_on_held_out_samples(mixture, loader):
    costs = gated_mflops(mixture)
    logits = collect_logits(mixture, loader, packed=False, device=torch.device('cpu'))
    assert logits.shape == (200, 2)
    realised = []
    for fraction in (0.3, 0.5, 0.7, 0.9, 1.0):
        budget = calibrate_mixture(mixture, logits, target_fraction=fraction)
        assert budget['target_mflops'] == pytest.approx(fraction * costs[-1])
        assert budget['calib_realised_mflops'] <= budget['target_mflops'] * (1 + 1e-9)
        # the calibration data again, through the real forward: the same cost
        mixture.set_gate_bias(budget['gate_bias'])
        summary = _routed(mixture, loader)
        assert summary['mflops_per_sample'] == pytest.approx(budget['calib_realised_mflops'], rel=1e-9)
        realised.append(summary['mflops_per_sample'])
    assert realised == sorted(realised)
    # 200 samples and two experts: within one sample's switch of the target
    step = (costs[1] - costs[0]) / 200
    budget = calibrate_mixture(mixture, logits, target_mflops=0.5 * (costs[0] + costs[1]))
    assert budget['target_mflops'] - budget['calib_realised_mflops'] <= step + 1e-9
    with pytest.raises(ValueError, match='reachable range'):
        calibrate_mixture(mixture, logits, target_mflops=0.5 * costs[0])


def test_bias_survives_pickling_and_old_pickles_get_one(mixture, batch):
    mixture.set_gate_bias([0.25, -1.5])
    buffer = io.BytesIO()
    torch.save(mixture, buffer)  # MultiBench saves whole modules
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert loaded.gate_bias.tolist() == [0.25, -1.5]
    assert torch.equal(loaded(batch)[1], mixture(batch)[1])
    # a mixture pickled before the knob existed: no buffer; it routes as trained, then takes one
    del loaded._buffers['gate_bias']
    loaded.set_gate_bias(None)
    assert loaded.gate_bias.tolist() == [0.0, 0.0]


@pytest.mark.parametrize('bias, message', [([1.0], 'one value per branch'),
                                           ([0.0, float('nan')], r'gate_bias\[1\] must be finite'),
                                           ([0.0, float('-inf')], r'gate_bias\[1\] must be finite')])
def test_hostile_bias_is_a_clear_error(experts, gate, bias, message):
    with pytest.raises(ValueError, match=message):
        DynMMMixture(experts, gate, gate_bias=bias)
