"""The compute knob on DynMMMixture: gate bias at inference, calibration to an MFLOPs target, pickling."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from multibench_ext import DynMMMixture
from multibench_ext.budget import calibrate_mixture, collect_logits, gated_mflops
from multibench_ext.multibench import ENV_VAR, is_multibench_root
from multibench_ext.synthetic import write_mosei

REPO = Path(__file__).resolve().parents[2]
MULTIBENCH = os.environ.get(ENV_VAR, '')


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


# ----------------------------------------------------------------------------- the dyn scripts' flags
def _parse(*argv):
    from multibench_ext.examples.flags import build_parser
    return build_parser('imdb_dyn', 'test', 'imdb', epochs=1, lr=1e-4, wd=0.0, dyn=True).parse_args(list(argv))


@pytest.mark.parametrize('argv, message', [
    (('--target-fraction', '0.5'), 'add --eval-only'),
    (('--eval-only', '--target-mflops', 'nan'), 'finite number > 0'),
    (('--eval-only', '--target-fraction', '-1'), 'finite number > 0'),
    (('--eval-only', '--target-fraction', '0.5', '--infer-mode', 'text'), 'does not use it'),
    (('--eval-only', '--pareto', '0.5', '1'), '--pareto and --pareto-out go together'),
    (('--eval-only', '--pareto', '0.5', '--pareto-out', 'd', '--target-mflops', '3'), 'calibrates its own'),
])
def test_knob_flags_are_checked_before_anything_runs(argv, message):
    from multibench_ext.errors import SetupError
    from multibench_ext.examples.flags import check_budget_args
    with pytest.raises(SetupError, match=message):
        check_budget_args(_parse(*argv))
    check_budget_args(_parse('--eval-only', '--target-fraction', '0.5'))  # fine


def test_targets_exclude_each_other():
    with pytest.raises(SystemExit):
        _parse('--eval-only', '--target-fraction', '0.5', '--target-mflops', '3')


# ----------------------------------------------------------------------------- end to end (MultiBench clone)
def _script(name, *args, cwd):
    path = os.pathsep.join([str(REPO)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-m', f'multibench_ext.examples.{name}', '--device', 'cpu',
                           *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.skipif(not MULTIBENCH or not is_multibench_root(MULTIBENCH), reason=f'no MultiBench clone in ${ENV_VAR}')
def test_affect_dyn_meets_a_target_and_draws_the_curve(tmp_path):
    write_mosei(tmp_path / 'mosei_senti_data.pkl', sizes=(24, 12, 12), seed=0)
    quick = ('--data', 'mosei_senti_data.pkl', '--limit', 12, '--batch-size', 6, '--n-epochs', 1)
    dyn = ('--freeze', '--hard-gate', '--reg', 0.1)
    _ok(_script('affect_uni', *quick, cwd=tmp_path))
    _ok(_script('affect_mm', '--fuse', 3, *quick, cwd=tmp_path))
    _ok(_script('affect_dyn', *dyn, '--lr', 1e-3, *quick, cwd=tmp_path))

    _ok(_script('affect_dyn', *dyn, *quick, '--eval-only', '--target-fraction', 0.7, '--json-out', 'knob.json',
                cwd=tmp_path))
    result = json.loads((tmp_path / 'knob.json').read_text())
    gated = [result['text_mflops'] + result['gate_mflops'], result['late_fusion_mflops'] + result['gate_mflops']]
    assert result['target_mflops'] == pytest.approx(0.7 * gated[1])
    assert result['calib_realised_mflops'] <= result['target_mflops'] * (1 + 1e-9)
    assert gated[0] - 1e-6 <= result['mflops_per_sample'] <= gated[1] + 1e-6
    assert len(result['gate_bias']) == 2 and result['tau'] == pytest.approx(-result['gate_bias'][0] / gated[0])

    _ok(_script('affect_dyn', *dyn, *quick, '--eval-only', '--pareto', 0.6, 1.0, '--pareto-out', 'pareto',
                cwd=tmp_path))
    pareto = json.loads((tmp_path / 'pareto' / 'pareto.json').read_text())
    points = {p['name']: p for p in pareto['points']}
    assert [p['kind'] for p in pareto['points']] == ['trained', 'calibrated', 'calibrated', 'fixed', 'fixed']
    assert points['text expert']['mflops_per_sample'] == pytest.approx(result['text_mflops'])
    assert points['late-fusion expert']['mflops_per_sample'] == pytest.approx(result['late_fusion_mflops'])
    assert (tmp_path / 'pareto' / 'pareto.png').stat().st_size > 1000

    proc = _script('affect_dyn', *dyn, *quick, '--eval-only', '--target-fraction', 0.01, cwd=tmp_path)
    assert proc.returncode == 2 and 'reachable range' in proc.stderr
