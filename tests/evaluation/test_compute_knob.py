"""The compute knob of the RGB-D segmentor: gate_bias, budget files, tools/calibrate_budget.py, tools/pareto.py.

One module fixture writes tiny synthetic RGB-D data (64x96: train, val and test
splits) and two freshly initialised DynMM checkpoints (different seeds); the gate's
decisions on real images already differ, which is all the knob needs.
"""
import copy
import json
import os.path as osp

import pytest
import torch

pytest.importorskip('mmseg')

from helpers.tool_scripts import error_line, load_tool  # noqa: E402

from dynmm_plugins.core import cost_bias  # noqa: E402
from dynmm_plugins.utils.cli import run_tool  # noqa: E402

from helpers import REPO  # noqa: E402
STATIC = osp.join(REPO, 'mmseg_configs/esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
DYNAMIC = osp.join(REPO, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
SIZE = (64, 96)
NUM_VAL, NUM_TEST = 8, 6

CALIBRATE = load_tool('calibrate_budget')
PARETO = load_tool('pareto')
GET_FLOPS = load_tool('get_flops')
ROBUSTNESS = load_tool('robustness_eval')
LATENCY = load_tool('benchmark_latency')


def _run(tool, argv):
    return run_tool(tool.main, argv, prog=tool.PROG)


@pytest.fixture(scope='module')
def tiny(module_mktemp):
    from dynmm_plugins.apis.model_loading import build_model
    from dynmm_plugins.apis.training import synthetic_train_config
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = module_mktemp('knob')
    data = str(root / 'data')
    make_synthetic_rgbd(data, num_train=2, num_test=NUM_TEST, num_val=NUM_VAL, height=SIZE[0], width=SIZE[1])
    out = dict(root=root, data=data)
    for name, config in (('static', STATIC), ('dynamic', DYNAMIC)):
        cfg = synthetic_train_config(config, data, str(root / name), iters=1, size=SIZE)
        cfg.val_dataloader = copy.deepcopy(cfg.test_dataloader)
        cfg.val_dataloader.dataset['split'] = 'val'
        cfg.val_evaluator = cfg.test_evaluator
        out[name + '_config'] = str(root / f'{name}.py')
        cfg.dump(out[name + '_config'])
        for seed in (0, 1):
            torch.manual_seed(seed)
            model = build_model(cfg)
            path = str(root / f'{name}_seed{seed}.pth')
            torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
            out[f'{name}_seed{seed}'] = path
    out['dynamic'] = out['dynamic_seed0']
    yield out
    torch.set_num_threads(threads)


@pytest.fixture
def model(tiny):
    """The tiny dynamic model, loaded per test: the tests change its gate bias."""
    from dynmm_plugins.apis.model_loading import load_model
    return load_model(tiny['dynamic_config'], tiny['dynamic'])[0]


def _calibrate(tiny, out, *extra, split='test', checkpoint=None):
    return _run(CALIBRATE, [tiny['dynamic_config'], checkpoint or tiny['dynamic'], '--split', split,
                            '--out', str(out), '--no-progress', *extra])


# ---------------------------------------------------------------------------- the knob in the model
def test_bias_moves_the_branch_histogram_monotonically(model):
    torch.manual_seed(3)
    x = torch.randn(24, 4, *SIZE)
    costs = model.branch_costs()['total']
    mean_branch, hist = [], []
    try:
        for tau in (-1e4, -30, -10, -3, -1, 0, 1, 3, 10, 30, 1e4):
            model.set_gate_bias(cost_bias(tau, costs))
            with torch.inference_mode():
                model._forward(x)
            branches = model.last_gate_weights.argmax(1)
            hist.append(torch.bincount(branches, minlength=5).tolist())
            mean_branch.append(branches.float().mean().item())
    finally:
        model.set_gate_bias(None)
    assert mean_branch == sorted(mean_branch, reverse=True)
    assert hist[0] == [0, 0, 0, 0, 24] and hist[-1] == [24, 0, 0, 0, 0]
    assert len(set(map(tuple, hist))) >= 4  # intermediate operating points exist


def test_bias_acts_at_inference_only(model):
    logits = torch.randn(6, 5)
    model.set_gate_bias([5.0, 0, 0, 0, -5.0])
    try:
        model.train()
        with model.gate_override('soft'):
            trained = model.gate_weights(logits, 6, 'cpu')
        model.eval()
        with model.gate_override('hard'):
            biased = model.gate_weights(logits, 6, 'cpu')
    finally:
        model.set_gate_bias(None)
        model.eval()
    assert torch.allclose(trained, torch.softmax(logits, 1))
    assert torch.equal(biased.argmax(1), (logits + torch.tensor([5.0, 0, 0, 0, -5.0])).argmax(1))


def test_bias_comes_from_the_config_and_survives_save_and_load(tiny, tmp_path):
    from mmengine.config import Config

    from dynmm_plugins.apis.model_loading import build_model, load_model
    bias = [0.5, 0.25, 0.0, -0.25, -0.5]
    # `mim test ... --cfg-options model.gate_bias=[...]`: loading the checkpoint keeps the config's bias
    biased, cfg = load_model(tiny['dynamic_config'], tiny['dynamic'], {'model.gate_bias': bias})
    assert biased.gate_bias.tolist() == bias
    assert 'gate_bias' not in biased.state_dict()  # one checkpoint serves every budget
    # a checkpoint written by the biased model loads strictly into a plain one, and back
    path = str(tmp_path / 'biased.pth')
    torch.save(dict(state_dict=biased.state_dict(), meta=dict()), path)
    plain, _ = load_model(tiny['dynamic_config'], path)
    assert plain.gate_bias.tolist() == [0.0] * 5
    # the dumped config carries the bias to the next process
    cfg.dump(str(tmp_path / 'biased.py'))
    again = build_model(Config.fromfile(str(tmp_path / 'biased.py')), path)
    assert again.gate_bias.tolist() == bias
    x = torch.randn(8, 4, *SIZE)
    with torch.inference_mode():
        again._forward(x)
        decisions = again.last_gate_weights.clone()
        biased._forward(x)
    assert torch.equal(decisions, biased.last_gate_weights)
    # and the whole pickled module keeps it too
    restored = torch.load(_pickle(biased, tmp_path), weights_only=False)
    assert restored.gate_bias.tolist() == bias


def _pickle(module, tmp_path):
    path = tmp_path / 'module.pt'
    torch.save(module, path)
    return path


@pytest.mark.parametrize('bias, message', [([0.0, 1.0], r'one value per branch \(5\), got 2'),
                                           ([0, 0, float('nan'), 0, 0], r'gate_bias\[2\] must be finite'),
                                           ([0, 0, 0, float('inf'), 0], r'gate_bias\[3\] must be finite')])
def test_hostile_config_bias_is_a_clear_error(tiny, bias, message):
    from dynmm_plugins.apis.model_loading import load_model
    with pytest.raises(ValueError, match=message):
        load_model(tiny['dynamic_config'], tiny['dynamic'], {'model.gate_bias': bias})


def test_static_model_refuses_a_bias(tiny):
    from dynmm_plugins.apis.model_loading import load_model
    static, _ = load_model(tiny['static_config'], tiny['static_seed0'])
    static.set_gate_bias(None)  # zeros are fine
    with pytest.raises(ValueError, match='needs a gate'):
        static.set_gate_bias([0, 0, 0, 0, 1.0])


# ---------------------------------------------------------------------------- calibration
def test_calibration_meets_the_target_and_the_tools_reproduce_it(tiny, tmp_path):
    from dynmm_plugins.utils.io import file_sha256
    budget_path = tmp_path / 'budget.json'
    assert _calibrate(tiny, budget_path, '--target-fraction', '0.8') == 0
    budget = json.loads(budget_path.read_text())
    assert {'gate_bias', 'tau', 'target_gflops', 'realised_gflops', 'split', 'checkpoint_sha256'} <= set(budget)
    assert budget['split'] == 'test' and budget['checkpoint_sha256'] == file_sha256(tiny['dynamic'])
    low, high = budget['reachable_gflops']
    assert budget['target_gflops'] == pytest.approx(0.8 * high)
    assert low <= budget['realised_gflops'] <= budget['target_gflops'] * (1 + 1e-9)
    # NUM_TEST images: the closest point below the target is within one image's largest step
    assert budget['target_gflops'] - budget['realised_gflops'] <= (high - low) / NUM_TEST * 1.001
    # get_flops runs the real model over the same split with the budget: the same GFLOPs
    flops_out = tmp_path / 'flops.json'
    assert _run(GET_FLOPS, [tiny['dynamic_config'], '--checkpoint', tiny['dynamic'], '--budget',
                            str(budget_path), '--no-reference', '--no-progress', '--out', str(flops_out)]) == 0
    dataset = json.loads(flops_out.read_text())['dataset']
    assert dataset['routing']['gflops_per_image'] == pytest.approx(budget['realised_gflops'], rel=1e-5)
    # the budget file rounds to 6 decimals
    assert dataset['routing']['branch_fractions'] == pytest.approx(budget['branch_fractions'], abs=1e-6)
    assert dataset['gate_bias'] == pytest.approx(budget['gate_bias'], rel=1e-6)
    # robustness_eval and benchmark_latency take it too
    rob_out = tmp_path / 'rob.json'
    assert _run(ROBUSTNESS, [tiny['dynamic_config'], tiny['dynamic'], '--budget', str(budget_path),
                             '--no-progress', '--out', str(rob_out)]) == 0
    rob = json.loads(rob_out.read_text())
    assert rob['rows'][0]['routing']['gflops_per_image'] == pytest.approx(budget['realised_gflops'], rel=1e-5)
    lat_out = tmp_path / 'lat.json'
    assert _run(LATENCY, [tiny['dynamic_config'], '--checkpoint', tiny['dynamic'], '--budget', str(budget_path),
                          '--repeats', '1', '--warmup', '0', '--no-static', '--no-progress',
                          '--out', str(lat_out)]) == 0
    rows = {r['name']: r for r in json.loads(lat_out.read_text())['rows']}
    mix = rows['budget (branch mix)']
    assert mix['per_image_ms'] == pytest.approx(
        sum(f * rows[f'branch {k}']['per_image_ms'] for k, f in enumerate(budget['branch_fractions'])))


def test_calibrated_targets_are_monotone_and_can_exceed_the_trained_compute(tiny, tmp_path):
    realised, taus = [], []
    for fraction in ('0.6', '0.8', '1.0'):
        out = tmp_path / f'b{fraction}.json'
        assert _calibrate(tiny, out, '--target-fraction', fraction, split='val') == 0
        budget = json.loads(out.read_text())
        assert budget['split'] == 'val' and budget['num_images'] == NUM_VAL
        realised.append(budget['realised_gflops'])
        taus.append(budget['tau'])
    assert realised == sorted(realised) and taus == sorted(taus, reverse=True)
    assert json.loads((tmp_path / 'b1.0.json').read_text())['branch_fractions'][-1] == 1.0


def test_a_target_out_of_range_states_the_reachable_range(tiny, tmp_path, capsys):
    out = tmp_path / 'b.json'
    assert _calibrate(tiny, out, '--target-fraction', '0.01') != 0
    line = error_line(capsys)
    assert 'outside the reachable range' in line and 'GFLOPs' in line
    assert _calibrate(tiny, out, '--target-gflops', '1000') != 0
    assert 'outside the reachable range' in error_line(capsys)
    assert not out.exists()  # nothing written on error


def test_hostile_budget_files_are_clear_errors(tiny, tmp_path, capsys):
    good = tmp_path / 'good.json'
    assert _calibrate(tiny, good, '--target-fraction', '0.9') == 0
    capsys.readouterr()
    budget = json.loads(good.read_text())
    args = [tiny['dynamic_config'], '--no-reference', '--no-progress', '--budget']

    # a budget of another checkpoint (different weights: different SHA-256)
    assert _run(GET_FLOPS, args + [str(good), '--checkpoint', tiny['dynamic_seed1']]) != 0
    assert 'calibrated for another checkpoint' in error_line(capsys)

    cases = {'short.json': (dict(budget, gate_bias=budget['gate_bias'][:3]), 'one value per branch (5), got 3'),
             'nan.json': (dict(budget, gate_bias=[0, 0, float('nan'), 0, 0]), 'gate_bias[2] must be finite'),
             'keys.json': ({'gate_bias': budget['gate_bias']}, 'lacks'),
             'text.json': (None, 'not valid JSON')}
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text('{"gate_bias": [0, ' if content is None else json.dumps(content))
        assert _run(GET_FLOPS, args + [str(path), '--checkpoint', tiny['dynamic']]) != 0
        line = error_line(capsys)
        assert message in line and name in line, line
    # a budget needs the checkpoint it belongs to
    with pytest.raises(SystemExit) as exc:
        _run(GET_FLOPS, args + [str(good)])
    assert exc.value.code == 2 and '--budget needs --checkpoint' in capsys.readouterr().err


# ---------------------------------------------------------------------------- the curve
def test_pareto_writes_the_curve_with_fixed_branch_and_static_points(tiny, tmp_path, model):
    out = tmp_path / 'pareto'
    assert _run(PARETO, [tiny['dynamic_config'], tiny['dynamic'], '--fractions', '0.7', '1.0',
                         '--calib-split', 'val', '--split', 'test', '--static', tiny['static_config'],
                         tiny['static_seed0'], '--latency-images', '2', '--no-progress',
                         '--out-dir', str(out)]) == 0
    result = json.loads((out / 'pareto.json').read_text())
    points = {p['name']: p for p in result['points']}
    assert [p['kind'] for p in result['points']] == ['trained'] + ['calibrated'] * 2 + ['fixed'] * 5 + ['static']
    costs = model.branch_costs(SIZE)['total']
    for k in range(5):  # every image forced to branch k costs exactly branch k
        assert points[f'branch {k}']['gflops_per_image'] == pytest.approx(costs[k], rel=1e-5)
        assert points[f'branch {k}']['branch_fractions'][k] == 1.0
    assert points['static ESANet']['gflops_per_image'] < costs[-1]  # no gate
    for p in result['points']:
        assert 0 <= p['mIoU'] <= 100 and p['latency_ms'] > 0
    calibrated = [points['DynMM @ 70%'], points['DynMM @ 100%']]
    assert calibrated[0]['target_gflops'] == pytest.approx(0.7 * costs[-1])
    assert calibrated[0]['calib_realised_gflops'] <= calibrated[0]['target_gflops'] * (1 + 1e-9)
    assert len(result['summary']['dominance']) == 5
    assert (out / 'pareto.png').stat().st_size > 1000
    assert (out / 'pareto.csv').read_text().splitlines()[0].startswith('name,kind,target_fraction')


# ---------------------------------------------------------------------------- the synthetic val split
def test_synthetic_val_split_adds_images_without_changing_train_or_test(tmp_path):
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    args = dict(num_train=3, num_test=2, height=16, width=24, seed=5)
    make_synthetic_rgbd(str(tmp_path / 'old'), **args)
    kinds = make_synthetic_rgbd(str(tmp_path / 'new'), num_val=4, **args)
    assert (tmp_path / 'new' / 'val.txt').read_text().split() == ['0006', '0007', '0008', '0009']
    assert sorted(kinds) == ['test', 'train', 'val'] and sorted(kinds['val'].values()) == ['depth'] * 2 + ['rgb'] * 2
    assert not (tmp_path / 'old' / 'val.txt').exists()
    for split in ('train', 'test'):
        for name in kinds[split]:
            for sub in ('rgb', 'depth', 'labels_40'):
                old = (tmp_path / 'old' / split / sub / f'{name}.png').read_bytes()
                assert old == (tmp_path / 'new' / split / sub / f'{name}.png').read_bytes()
    assert json.loads((tmp_path / 'new' / 'synthetic_rgbd.json').read_text())['num_val'] == 4
    # the CLI writes a val split by default
    tool = load_tool('make_synthetic_rgbd')
    assert tool.main(['--out', str(tmp_path / 'cli'), '--num-train', '1', '--num-test', '1', '--height', '16',
                      '--width', '16', '--no-progress']) == 0
    assert len((tmp_path / 'cli' / 'val.txt').read_text().split()) == 50
    with pytest.raises(ValueError, match='num_val'):
        make_synthetic_rgbd(str(tmp_path / 'bad'), num_val=-1, **args)


def test_synthetic_configs_validate_on_val_and_test_on_test():
    from mmengine.config import Config
    cfg = Config.fromfile(DYNAMIC)
    assert cfg.val_dataloader.dataset.split == 'val' and cfg.test_dataloader.dataset.split == 'test'
