"""tools/robustness_eval.py and its library (noise protocol, evaluation loop, reports).

The module trains a tiny static and a tiny dynamic model once (synthetic RGB-D at
64x96, 8 train / 4 test images, 2 iterations each through mmengine's Runner).
"""
import csv
import json
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from helpers.tool_scripts import error_line, load_tool  # noqa: E402

from dynmm_plugins.evaluation.noise import (
    ModalityNoise,
    add_gaussian_noise,
    check_noise_level,
    check_noise_mode,
    valid_pixel_mask,  # noqa: E402
)
from dynmm_plugins.utils.cli import run_tool  # noqa: E402

from helpers import REPO  # noqa: E402
STATIC = osp.join(REPO, 'mmseg_configs/esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
DYNAMIC = osp.join(REPO, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
SIZE = (64, 96)
NUM_TEST = 4


TOOL = load_tool('robustness_eval')


def _run(argv):
    return run_tool(TOOL.main, argv, prog=TOOL.PROG)


@pytest.fixture(scope='module')
def tiny(module_mktemp):
    """Data, configs and 2-iteration checkpoints of a static and a dynamic model."""
    from dynmm_plugins.apis.training import synthetic_train_config, train
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread is faster and steadier
    root = module_mktemp('robustness')
    data = str(root / 'data')
    make_synthetic_rgbd(data, num_train=8, num_test=NUM_TEST, height=SIZE[0], width=SIZE[1])
    out = {}
    for name, config in (('static', STATIC), ('dynamic', DYNAMIC)):
        cfg = synthetic_train_config(config, data, str(root / name), iters=2, batch_size=2, size=SIZE)
        out[name] = train(cfg)
        out[name + '_config'] = str(root / f'{name}.py')
        cfg.dump(out[name + '_config'])
    out['root'] = root
    yield out
    torch.set_num_threads(threads)


@pytest.fixture
def loaded(tiny):
    """Model, test loader and evaluator, per test: the tests set the model's gate."""
    from dynmm_plugins.apis.model_loading import load_model
    from dynmm_plugins.evaluation.test_loop import build_evaluator, build_test_dataloader
    model, cfg = load_model(tiny['dynamic_config'], tiny['dynamic'])
    loader = build_test_dataloader(cfg)
    return model, loader, build_evaluator(cfg, loader)


# ---------------------------------------------------------------------------- noise protocol
def test_noise_modes_touch_only_their_modality():
    x = torch.randn(2, 4, 8, 8)
    channels = {'rgb': [0, 1, 2], 'depth': [3], None: []}
    for mode, modalities in ((0, {'rgb', None}), (1, {'depth', None}), (2, {'rgb', 'depth', None})):
        seen = set()
        for seed in range(40):  # the seeded draws pick each outcome of the mode
            y, modality = ModalityNoise(mode, 1.0, seed=seed)(x)
            changed = [c for c in range(4) if not torch.equal(y[:, c], x[:, c])]
            assert changed == channels[modality], (mode, seed, modality)
            seen.add(modality)
        assert seen == modalities


def test_noise_draw_frequencies_follow_the_protocol():
    counts = {}
    for mode in (-1, 0, 1, 2):
        noise = ModalityNoise(mode, 0.5, seed=3)
        draws = [noise.choose() for _ in range(3000)]
        counts[mode] = {k: draws.count(k) / len(draws) for k in ('rgb', 'depth', None)}
    assert counts[-1][None] == 1.0
    assert counts[0]['rgb'] == pytest.approx(1 / 3, abs=0.03) and counts[0]['depth'] == 0
    assert counts[1]['depth'] == pytest.approx(1 / 3, abs=0.03) and counts[1]['rgb'] == 0
    assert counts[2]['rgb'] == pytest.approx(1 / 3, abs=0.03)
    assert counts[2]['depth'] == pytest.approx(1 / 3, abs=0.03)


def test_noise_scale_is_level_times_mean_abs_and_padding_is_left_alone():
    g = torch.Generator().manual_seed(0)
    x = torch.full((1, 1, 200, 200), -2.0)
    y = add_gaussian_noise(x, 0.5, g)
    assert (y - x).std().item() == pytest.approx(0.5 * 2.0, rel=0.02)
    valid = valid_pixel_mask([(100, 150)], 200, 200)
    y = add_gaussian_noise(x, 0.5, torch.Generator().manual_seed(0), valid)
    assert torch.equal(y[..., 100:, :], x[..., 100:, :]) and torch.equal(y[..., :, 150:], x[..., :, 150:])
    assert not torch.equal(y[..., :100, :150], x[..., :100, :150])
    assert valid_pixel_mask([(200, 200)], 200, 200) is None


def test_noise_level_zero_is_identity_and_seeds_reproduce():
    x = torch.randn(3, 4, 16, 16)
    y, _ = ModalityNoise(2, 0.0, seed=1)(x)
    assert torch.equal(y, x)
    a = [ModalityNoise(2, 0.7, seed=5)(x)[0] for _ in range(2)]
    assert torch.equal(a[0], a[1])


@pytest.mark.parametrize('bad', [3, -2, 'x', '1.5', None])
def test_unknown_noise_mode_is_rejected(bad):
    with pytest.raises(ValueError, match='unknown noise mode'):
        check_noise_mode(bad)


@pytest.mark.parametrize('bad', [-0.1, 1.01, float('nan'), 'abc'])
def test_noise_level_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ValueError, match=r'noise level must be'):
        check_noise_level(bad)


# ---------------------------------------------------------------------------- evaluation
def test_same_seed_gives_identical_numbers_and_noise_changes_them(loaded):
    from dynmm_plugins.evaluation.robustness import robustness_eval
    model, loader, evaluator = loaded
    model.set_gate('hard')
    first = robustness_eval(model, loader, evaluator, mode=2, level=1.0, num_runs=2)
    again = robustness_eval(model, loader, evaluator, mode=2, level=1.0, num_runs=2)
    assert first['miou_runs'] == again['miou_runs']
    assert first['routing'] == again['routing'] and first['noised_batches'] == again['noised_batches']
    assert first['seeds'] == [0, 1] and len(first['miou_runs']) == 2
    assert first['miou_mean'] == pytest.approx(np.mean(first['miou_runs']))
    assert first['miou_std'] == pytest.approx(np.std(first['miou_runs']))
    # 4 batches of 1 image per run: the seeds decide which batches got noise
    assert sum(first['noised_batches'].values()) == 2 * NUM_TEST


def test_routing_statistics_are_per_image_and_per_scene_kind(loaded, tiny):
    from dynmm_plugins.evaluation.test_loop import evaluate
    model, loader, evaluator = loaded
    model.set_gate('fixed', branch=1)
    result = evaluate(model, loader, evaluator)
    routing = result['routing']
    kinds = json.load(open(osp.join(tiny['root'], 'data', 'scene_kinds.json')))['test']
    assert routing['branch_histogram'] == [0, NUM_TEST, 0, 0, 0]
    assert routing['input_sizes'] == [list(SIZE)]
    assert routing['gflops_per_image'] == pytest.approx(model.branch_costs(SIZE)['total'][1], rel=1e-4)
    assert routing['depth_gflops_per_image'] == pytest.approx(model.branch_costs(SIZE)['depth_encoder'][1], rel=1e-4)
    assert {k: v['num_images'] for k, v in routing['by_scene_kind'].items()} == \
        {k: list(kinds.values()).count(k) for k in set(kinds.values())}
    assert all(v['mean_branch'] == 1 and v['depth_branch_fraction'] == 1
               for v in routing['by_scene_kind'].values())
    assert 0 <= result['mIoU'] <= 100


# ---------------------------------------------------------------------------- the tool
def test_single_form_with_hard_gates_writes_json(tiny, tmp_path):
    out = tmp_path / 'one.json'
    assert _run([tiny['dynamic_config'], tiny['dynamic'], '--mode', '1', '--noise', '0.5',
                 '--num-runs', '2', '--hard', '--out', str(out), '--no-progress']) == 0
    result = json.loads(out.read_text())
    (row,) = result['rows']
    assert (row['mode'], row['noise'], row['num_runs'], row['gate']) == (1, 0.5, 2, 'hard')
    assert len(row['miou_runs']) == 2 and row['miou_std'] == pytest.approx(np.std(row['miou_runs']))
    assert sum(row['routing']['branch_histogram']) == 2 * NUM_TEST
    costs = row['routing']['branch_costs']['total']
    assert costs[0] <= row['routing']['gflops_per_image'] <= costs[4]
    assert result['models'][0]['has_gate'] is True


def test_sweep_compares_static_and_dynamic_and_writes_csv_json_png(tiny, tmp_path, capsys):
    out_dir = tmp_path / 'sweep'
    assert _run([tiny['dynamic_config'], tiny['dynamic'], '--mode', '-1', '1', '--noise', '0', '1',
                 '--compare', tiny['static_config'], tiny['static'], '--baseline',
                 '--out-dir', str(out_dir), '--no-progress']) == 0
    rows = list(csv.DictReader(open(out_dir / 'robustness.csv')))
    # per model: clean once, mode 1 at levels 0 (= clean) and 1
    assert [(r['model'], r['mode'], float(r['noise'])) for r in rows] == [
        ('DynMM (branch 4)', '-1', 0.0), ('DynMM (branch 4)', '1', 0.0), ('DynMM (branch 4)', '1', 1.0),
        ('ESANet (static)', '-1', 0.0), ('ESANet (static)', '1', 0.0), ('ESANet (static)', '1', 1.0)]
    assert rows[0]['miou_mean'] == rows[1]['miou_mean']  # level 0 is the clean result
    # --baseline: every image on branch 4, like the static model
    assert all(float(r['branch_4_fraction']) == 1.0 for r in rows)
    assert float(rows[0]['gflops_per_image']) > float(rows[3]['gflops_per_image'])  # the gate costs
    data = json.loads((out_dir / 'robustness.json').read_text())
    assert [m['name'] for m in data['models']] == ['DynMM (branch 4)', 'ESANet (static)']
    assert (out_dir / 'miou_vs_noise.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'DynMM (branch 4)' in capsys.readouterr().out


def _is_timing(key):
    return 'time' in key or 'latency' in key or key.endswith(('_ms', '_s', 'seconds'))


def _without_timings(value):
    """``value`` with every field that measures time removed, at any depth."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not _is_timing(k)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_a_second_run_gives_identical_numbers(tiny, tmp_path):
    """README: 'The same command gives identical numbers' (every field except timings)."""
    argv = [tiny['dynamic_config'], tiny['dynamic'], '--mode', '-1', '2', '--noise', '1',
            '--num-runs', '2', '--hard', '--compare', tiny['static_config'], tiny['static'],
            '--per-kind-miou', '--no-progress']
    results = []
    for run in ('first', 'second'):
        assert _run(argv + ['--out', str(tmp_path / f'{run}.json')]) == 0
        results.append(json.loads((tmp_path / f'{run}.json').read_text()))
    first, second = (_without_timings(r) for r in results)
    assert first == second
    # the runs had something to agree on: noise reached some batches in each run
    noisy = [r for r in first['rows'] if r['mode'] == 2]
    assert len(noisy) == 2 and all(len(r['miou_runs']) == 2 for r in noisy)
    assert all(sum(r['noised_batches'].values()) > 0 for r in noisy)


def prog_error_line(capsys):
    """The tool's error: exactly one line, from this tool (library warnings aside)."""
    line = error_line(capsys)
    assert line.startswith(TOOL.PROG)
    return line


def test_checkpoint_that_does_not_fit_the_config_is_one_clear_line(tiny, capsys):
    assert _run([tiny['dynamic_config'], tiny['static'], '--no-progress']) == 2
    line = prog_error_line(capsys)
    assert 'does not fit' in line and 'missing keys' in line and 'backbone.gate' in line
    assert 'static ESANet checkpoint' in line


def test_checkpoint_with_wrong_shapes_is_reported(tiny, tmp_path, capsys):
    state = torch.load(tiny['static'], map_location='cpu')
    key = 'decode_head.conv_seg.weight' if 'decode_head.conv_seg.weight' in state['state_dict'] else \
        next(k for k, v in state['state_dict'].items() if k.startswith('decode_head') and v.dim() == 4)
    state['state_dict'][key] = torch.zeros(3, 3, 1, 1)
    bad = tmp_path / 'bad.pth'
    torch.save(state, bad)
    assert _run([tiny['static_config'], str(bad)]) == 2
    line = prog_error_line(capsys)
    assert 'shape mismatch' in line and key in line


def test_missing_files_are_named(tiny, tmp_path, capsys):
    assert _run([tiny['static_config'], str(tmp_path / 'nope.pth')]) == 2
    assert 'checkpoint file not found' in prog_error_line(capsys)
    assert _run([str(tmp_path / 'nope.py'), tiny['static']]) == 2
    assert 'config file not found' in prog_error_line(capsys)
    assert _run([tiny['dynamic_config'], tiny['dynamic'], '--compare', tiny['static_config'],
                 str(tmp_path / 'other.pth')]) == 2
    assert 'other.pth' in prog_error_line(capsys)


@pytest.mark.parametrize('argv, message', [
    (['--mode', '3'], 'unknown noise mode'),
    (['--mode', 'rgb'], 'unknown noise mode'),
    (['--noise', '1.5'], 'noise level must be in [0, 1]'),
    (['--noise', '-0.5'], 'noise level must be in [0, 1]'),
    (['--num-runs', '0'], '--num-runs must be >= 1'),
    (['--hard', '--baseline'], 'not allowed with'),
])
def test_bad_arguments_exit_with_one_line(tiny, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        _run([tiny['static_config'], tiny['static']] + argv)
    assert exc.value.code == 2
    assert message in prog_error_line(capsys)


def test_hard_on_a_static_model_is_an_error(tiny, capsys):
    assert _run([tiny['static_config'], tiny['static'], '--hard']) == 2
    assert '--hard needs a dynamic model' in prog_error_line(capsys)
