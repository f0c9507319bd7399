"""dynmm_plugins.deploy.OnnxDynMM and tools/eval_onnx.py on the synthetic DynMM (64x96, random weights)."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')
pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from helpers.deploy_setup import DYNAMIC, REPO, SIZE, write_case  # noqa: E402
from helpers.tool_scripts import error_line, load_tool  # noqa: E402

from dynmm_plugins.utils.cli import run_tool  # noqa: E402

EVAL = load_tool('eval_onnx')
NUM_TEST = 4


@pytest.fixture(scope='module')
def deployed(module_mktemp):
    from dynmm_plugins.apis.model_loading import load_config
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    from dynmm_plugins.deploy import OnnxDynMM
    from dynmm_plugins.deploy.export import config_classes, export_model
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = str(module_mktemp('runtime'))
    data = osp.join(root, 'data')
    make_synthetic_rgbd(data, num_train=1, num_test=NUM_TEST, height=SIZE[0], width=SIZE[1])
    case = write_case(root, DYNAMIC, 'dynamic', data)
    cfg = load_config(case['config'])
    pre = cfg.model.data_preprocessor
    case['dir'] = osp.join(root, 'deploy')
    export_model(case['model'], case['dir'], SIZE, classes=config_classes(cfg), mean=pre.mean,
                 std=pre.std, checkpoint=case['checkpoint'], config=case['config'])
    case['runtime'] = OnnxDynMM(case['dir'])
    case['root'] = root
    yield case
    torch.set_num_threads(threads)


def _inputs(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 4, *SIZE), dtype=np.float32)


def _pytorch_hard(model, x):
    with torch.no_grad(), model.gate_override('hard'):
        logits = model._forward(torch.from_numpy(x))
    return logits.numpy(), model.last_gate_weights.argmax(1).numpy()


# ---------------------------------------------------------------------------- routing
def test_gate_decisions_and_logits_equal_pytorchs_hard_gate(deployed):
    x = _inputs(8)
    logits, branches = deployed['runtime'].predict(x)
    ref_logits, ref_branches = _pytorch_hard(deployed['model'], x)
    assert branches.tolist() == ref_branches.tolist()
    assert np.abs(logits - ref_logits).max() < 1e-3


def test_mixed_batch_runs_each_sample_on_its_branch_and_only_chosen_graphs(deployed, monkeypatch):
    runtime, model = deployed['runtime'], deployed['model']
    calls = []
    for k, session in enumerate(runtime._branches):
        original = session.run

        def spy(names, feed, k=k, original=original):
            calls.append((k, next(iter(feed.values())).shape[0]))
            return original(names, feed)
        monkeypatch.setattr(session, 'run', spy)
    x = _inputs(5, seed=1)
    logits, branches = runtime.predict(x, branch=[3, 0, 3, 1, 0])
    assert branches.tolist() == [3, 0, 3, 1, 0]
    assert sorted(calls) == [(0, 2), (1, 1), (3, 2)]  # branches 2 and 4 never ran
    with torch.no_grad(), model.gate_override('fixed', branch=[3, 0, 3, 1, 0]):
        ref = model._forward(torch.from_numpy(x)).numpy()
    assert np.abs(logits - ref).max() < 1e-3


def test_gate_bias_moves_decisions_like_adding_it_to_the_logits(deployed, tmp_path):
    from dynmm_plugins.deploy import OnnxDynMM
    x = _inputs(6, seed=2)
    _, _, gate_logits = deployed['runtime'].gate(x)
    bias = [0.0, 0.0, 50.0, 0.0, 0.0]
    biased = OnnxDynMM(deployed['dir'], gate_bias=bias)
    assert biased.predict(x)[1].tolist() == [2] * 6
    budget = tmp_path / 'budget.json'
    small = [0.0, 0.3, -0.2, 0.1, -0.4]
    from dynmm_plugins.utils.io import file_sha256
    # a budget file as tools/calibrate_budget.py writes it, for the exported checkpoint
    budget.write_text(json.dumps(dict(gate_bias=small, tau=0.1, target_gflops=1.0, realised_gflops=1.0,
                                      split='val', checkpoint_sha256=file_sha256(deployed['checkpoint']))))
    from_budget = OnnxDynMM(deployed['dir'], budget=str(budget))
    assert from_budget.predict(x)[1].tolist() == (gate_logits + np.float32(small)).argmax(1).tolist()


def test_sessions_do_not_spin_wait_unless_asked_and_predict_the_same(deployed):
    from dynmm_plugins.deploy import OnnxDynMM
    from dynmm_plugins.deploy.runtime import SPIN_WAIT_KEY

    def spinning(runtime):
        sessions = [runtime._gate] + runtime._branches
        return {s.get_session_options().get_session_config_entry(SPIN_WAIT_KEY) for s in sessions}
    default, spinning_runtime = deployed['runtime'], OnnxDynMM(deployed['dir'], spin_wait=True)
    assert spinning(default) == {'0'} and spinning(spinning_runtime) == {'1'}
    x = _inputs(3)
    (a, branches_a), (b, branches_b) = default.predict(x), spinning_runtime.predict(x)
    assert np.array_equal(branches_a, branches_b) and np.array_equal(a, b)


def test_predict_images_normalises_pads_and_crops_like_the_data_pipeline(deployed):
    runtime = deployed['runtime']
    rng = np.random.default_rng(3)
    h, w = SIZE[0] - 4, SIZE[1] - 6
    rgb = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    depth = rng.uniform(500, 9000, (2, h, w)).astype(np.float32)
    logits, branches = runtime.predict_images(rgb, depth)
    assert logits.shape == (2, 8, h, w)
    # the config's preprocessor: (x - mean) / std, then zero padding to the graph size
    pre = deployed['model'].data_preprocessor
    img = torch.from_numpy(np.concatenate([rgb, depth[..., None]], -1).transpose(0, 3, 1, 2).copy())
    x = ((img.float() - pre.mean) / pre.std).numpy()
    padded = np.zeros((2, 4, *SIZE), np.float32)
    padded[:, :, :h, :w] = x
    full, full_branches = runtime.predict(padded)
    assert full_branches.tolist() == branches.tolist()
    np.testing.assert_allclose(logits, full[:, :, :h, :w], atol=1e-4)


# ---------------------------------------------------------------------------- errors
def _error(fn, *args, **kwargs):
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_bad_inputs_are_refused_naming_the_value(deployed):
    runtime = deployed['runtime']
    x = _inputs(1)
    assert 'float64' in _error(runtime.predict, x.astype(np.float64))
    assert '3 channels' in _error(runtime.predict, x[:, :3])
    assert '32x96' in _error(runtime.predict, x[:, :, :32])
    assert 'shape (4, 64, 96)' in _error(runtime.predict, x[0])
    assert 'list' in _error(runtime.predict, x.tolist())
    bad = x.copy()
    bad[0, 3, 5, 7] = np.nan
    assert 'non-finite' in _error(runtime.predict, bad) and '(0, 3, 5, 7)' in _error(runtime.predict, bad)
    assert 'branch must be in [0, 4], got 5' in _error(runtime.predict, x, branch=5)
    assert 'one per sample' in _error(runtime.predict, _inputs(2), branch=[1])
    assert 'uint8' in _error(runtime.predict_images, np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8)))
    assert 'larger than the exported input' in _error(
        runtime.predict_images, np.zeros((1, 80, 96, 3), np.uint8), np.zeros((1, 80, 96)))


def test_broken_directories_are_refused_naming_the_file(deployed, tmp_path):
    from dynmm_plugins.deploy import OnnxDynMM
    assert 'manifest.json not found' in _error(OnnxDynMM, str(tmp_path))
    assert 'not found' in _error(OnnxDynMM, str(tmp_path / 'nowhere'))
    copy = tmp_path / 'copy'
    shutil.copytree(deployed['dir'], copy)
    os.remove(copy / 'branch_3.onnx')
    msg = _error(OnnxDynMM, str(copy))
    assert 'branch_3.onnx' in msg and 'missing' in msg
    shutil.copy(osp.join(deployed['dir'], 'branch_3.onnx'), copy / 'branch_3.onnx')
    with open(copy / 'branch_2.onnx', 'r+b') as f:
        f.truncate(100)
    assert 'branch_2.onnx has 100 bytes' in _error(OnnxDynMM, str(copy))
    (copy / 'manifest.json').write_text('{"format": "dynmm-onnx", ')
    assert 'manifest.json is not valid JSON' in _error(OnnxDynMM, str(copy))


def test_mismatched_checkpoint_classes_budget_and_provider_are_refused(deployed, tmp_path):
    from dynmm_plugins.deploy import OnnxDynMM
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={}), other)
    assert 'other.pth' in _error(OnnxDynMM, deployed['dir'], checkpoint=str(other))
    OnnxDynMM(deployed['dir'], checkpoint=deployed['checkpoint'])  # the right one loads
    assert 'differ' in _error(OnnxDynMM, deployed['dir'], classes=['wall', 'floor'])
    assert 'one value per branch (5)' in _error(OnnxDynMM, deployed['dir'], gate_bias=[0.0, 1.0])
    budget = tmp_path / 'budget.json'
    budget.write_text('{"target": 3}')
    assert "lacks ['gate_bias'" in _error(OnnxDynMM, deployed['dir'], budget=str(budget))
    budget.write_text(json.dumps(dict(gate_bias=[0.0] * 5, tau=0.0, target_gflops=1.0, realised_gflops=1.0,
                                      split='val', checkpoint_sha256='0' * 64)))
    assert 'calibrated for another checkpoint' in _error(OnnxDynMM, deployed['dir'], budget=str(budget))
    assert 'NoSuchExecutionProvider' in _error(OnnxDynMM, deployed['dir'],
                                               providers=['NoSuchExecutionProvider'])


def test_import_dynmm_plugins_does_not_import_onnx():
    code = ('import sys, dynmm_plugins, dynmm_plugins.deploy; '
            "print(sorted(m for m in ('onnx', 'onnxruntime') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == '[]'


# ---------------------------------------------------------------------------- evaluation
def test_eval_tool_matches_the_checkpoint_on_the_test_set(deployed, capsys):
    out = osp.join(deployed['root'], 'eval.json')
    argv = [deployed['dir'], deployed['config'], '--split', 'test', '--checkpoint',
            deployed['checkpoint'], '--out', out, '--no-progress',
            '--cfg-options', 'test_dataloader.num_workers=0']
    assert run_tool(EVAL.main, argv, prog=EVAL.PROG) == 0
    with open(out) as f:
        result = json.load(f)
    onnx_run, torch_run = result['onnx'], result['pytorch']
    assert result['num_images'] == NUM_TEST and result['gate_agreement'] == 1.0
    assert abs(result['miou_difference']) < 0.01
    assert onnx_run['routing']['branch_histogram'] == torch_run['routing']['branch_histogram']
    # realised GFLOPs: the graphs' cost of each image's branch
    gflops = deployed['runtime'].branch_gflops
    expected = np.mean([gflops[k] for k in onnx_run['branches']])
    assert onnx_run['routing']['gflops_per_image'] == pytest.approx(expected, abs=1e-5)
    assert 'ONNX - PyTorch mIoU' in capsys.readouterr().out


def test_eval_tool_refuses_another_checkpoint_and_other_classes(deployed, tmp_path, capsys):
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={}), other)
    base = [deployed['dir'], deployed['config'], '--no-progress']
    assert run_tool(EVAL.main, base + ['--checkpoint', str(other)], prog=EVAL.PROG) == 2
    assert 'other.pth' in error_line(capsys)
    argv = base + ['--cfg-options', "test_dataloader.dataset.metainfo.classes=['a','b']"]
    assert run_tool(EVAL.main, argv, prog=EVAL.PROG) == 2
    assert 'differ from the exported model' in error_line(capsys)



def test_eval_tool_refuses_images_of_another_size_than_exported(deployed, tmp_path, capsys):
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    data = str(tmp_path / 'larger')
    make_synthetic_rgbd(data, num_train=1, num_test=1, num_val=0, height=96, width=128)
    argv = [deployed['dir'], deployed['config'], '--split', 'test', '--no-progress', '--cfg-options',
            f'test_dataloader.dataset.data_root={data}', 'test_dataloader.num_workers=0']
    assert run_tool(EVAL.main, argv, prog=EVAL.PROG) == 2
    line = error_line(capsys)
    assert '(96, 128) differs from the exported input size (64, 96)' in line

def test_benchmark_tool_times_every_branch_and_a_mixed_batch(deployed, tmp_path):
    bench = load_tool('benchmark_onnx')
    out = str(tmp_path / 'bench.json')
    argv = [deployed['dir'], '--threads', '1', '--repeats', '1', '--warmup', '0', '--no-progress',
            '--out', out]
    assert run_tool(bench.main, argv, prog=bench.PROG) == 0
    with open(out) as f:
        rows = {r['name']: r for r in json.load(f)['rows']}
    assert sorted(rows) == sorted([f'onnx branch {k}' for k in range(5)] + ['onnx mixed'])
    gflops = deployed['runtime'].branch_gflops
    assert rows['onnx branch 0']['gflops_ratio'] == pytest.approx(gflops[0] / gflops[4])
    assert rows['onnx mixed']['gflops_ratio'] == pytest.approx(np.mean(gflops) / gflops[4])
    assert rows['onnx branch 4']['latency_ratio'] == 1.0



def test_benchmark_tool_checks_every_speed_target_in_one_run(deployed, tmp_path):
    bench = load_tool('benchmark_onnx')
    out = str(tmp_path / 'speed.json')
    argv = [deployed['dir'], '--threads', '1', '--repeats', '1', '--warmup', '0', '--no-progress',
            '--config', deployed['config'], '--checkpoint', deployed['checkpoint'],
            '--pytorch-branches', '--fuse-conv-bn', '--out', out]
    assert run_tool(bench.main, argv, prog=bench.PROG) == 0
    with open(out) as f:
        result = json.load(f)
    rows = {r['name']: r for r in result['rows']}
    assert {f'pytorch branch {k}' for k in range(5)} | {'pytorch mixed', 'onnx mixed'} <= set(rows)
    targets = result['targets']
    expected = {f'{kind} branch {k}: latency ratio / GFLOPs ratio' for kind in ('onnx', 'pytorch')
                for k in range(4)}
    expected |= {f'{kind} mixed: latency ratio / GFLOPs ratio' for kind in ('onnx', 'pytorch')}
    assert set(targets) == expected | {'onnx branch 0 / reference implementation'}
    assert targets['onnx mixed: latency ratio / GFLOPs ratio']['limit'] == 1.1
    assert targets['onnx branch 2: latency ratio / GFLOPs ratio']['value'] == pytest.approx(
        rows['onnx branch 2']['latency_ratio'] / rows['onnx branch 2']['gflops_ratio'])
    assert all(t['met'] == (t['value'] <= t['limit']) for t in targets.values())
    assert result['all_targets_met'] == all(t['met'] for t in targets.values())


def test_benchmark_tool_times_each_framework_in_rounds_of_its_own(deployed, tmp_path, monkeypatch):
    import dynmm_plugins.analysis.latency as latency
    bench = load_tool('benchmark_onnx')
    timed, real = [], latency.time_interleaved

    def recording(fns, *args, **kwargs):
        timed.append(list(fns))
        return real(fns, *args, **kwargs)
    monkeypatch.setattr(latency, 'time_interleaved', recording)
    argv = [deployed['dir'], '--threads', '1', '--repeats', '1', '--warmup', '0', '--pause', '0',
            '--no-progress', '--config', deployed['config'], '--pytorch-branches']
    assert run_tool(bench.main, argv, prog=bench.PROG) == 0
    assert len(timed) == 2
    assert all(n.startswith('onnx') for n in timed[0]) and len(timed[0]) == 6
    assert all(n.startswith('pytorch') for n in timed[1]) and len(timed[1]) == 7
    timed.clear()
    assert run_tool(bench.main, argv + ['--interleave-frameworks'], prog=bench.PROG) == 0
    assert len(timed) == 1 and len(timed[0]) == 13


def test_tools_refuse_bad_flags(deployed, capsys):
    bench = load_tool('benchmark_onnx')
    with pytest.raises(SystemExit) as info:
        run_tool(bench.main, [deployed['dir'], '--fuse-conv-bn'], prog=bench.PROG)
    assert info.value.code == 2 and 'need --config' in error_line(capsys)
    with pytest.raises(SystemExit) as info:
        run_tool(bench.main, [deployed['dir'], '--pause', 'nan'], prog=bench.PROG)
    assert info.value.code == 2 and '--pause must be >= 0' in error_line(capsys)
    with pytest.raises(SystemExit) as info:
        run_tool(EVAL.main, [deployed['dir'], deployed['config'], '--threads', '0'], prog=EVAL.PROG)
    assert info.value.code == 2 and '--threads must be >= 1' in error_line(capsys)
    assert run_tool(EVAL.main, [str(deployed['root']), deployed['config']], prog=EVAL.PROG) == 2
    assert 'manifest.json not found' in error_line(capsys)
