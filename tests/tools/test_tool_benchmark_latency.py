"""tools/benchmark_latency.py and dynmm_plugins.analysis.latency on a tiny model (64x96).

Timings on 2 shared cores are noise: nothing here asserts on a time, only on what
was run, the FLOP ratios and that skipping gives the same outputs as computing all.
"""
import copy
import json
import os.path as osp
import time

import pytest
import torch

pytest.importorskip('mmseg')

from helpers.tool_scripts import error_line, load_tool  # noqa: E402

from dynmm_plugins.analysis.latency import (
    compute_all_and_select,
    forced_branches,
    mixed_assignment,
    time_interleaved,  # noqa: E402
)
from dynmm_plugins.utils.cli import run_tool  # noqa: E402

from helpers import REPO  # noqa: E402
DYNAMIC = osp.join(REPO, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
SIZE = (64, 96)


TOOL = load_tool('benchmark_latency')


def _run(argv):
    return run_tool(TOOL.main, argv, prog=TOOL.PROG)




@pytest.fixture(scope='module')
def loaded_model():
    from dynmm_plugins.apis.model_loading import load_model
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, _ = load_model(DYNAMIC)
    yield model
    torch.set_num_threads(threads)


@pytest.fixture
def model(loaded_model):
    """A copy per test: the tests change its gate."""
    return copy.deepcopy(loaded_model)


def test_skipping_equals_computing_all_and_selecting_on_a_mixed_batch(model):
    x = torch.randn(6, 4, *SIZE)
    branches = [3, 0, 4, 1, 2, 0]
    with torch.no_grad():
        with forced_branches(model, branches):
            skipped = model._forward(x)
        everything = compute_all_and_select(model, x, branches)
        for i, k in enumerate(branches):  # and each row is its branch's output
            model.set_gate('fixed', branch=k)
            assert torch.allclose(model._forward(x[i:i + 1]), skipped[i:i + 1], atol=1e-4)
    model.set_gate('soft')
    assert torch.allclose(skipped, everything, atol=1e-4)


def test_forced_branches_restores_the_gate(model):
    model.set_gate('hard', temperature=0.5)
    with forced_branches(model, [0, 4]):
        with torch.no_grad():
            model._forward(torch.randn(2, 4, *SIZE))
        assert model.last_gate_weights.argmax(1).tolist() == [0, 4]
        with pytest.raises(ValueError, match='batches of 2'):
            model._forward(torch.randn(3, 4, *SIZE))
    assert (model.gate_mode, model.fixed_branch, model.temperature) == ('hard', None, 0.5)
    model.set_gate('soft')


def test_helpers_validate_their_arguments(model):
    assert mixed_assignment(7, 5) == [0, 1, 2, 3, 4, 0, 1]
    with pytest.raises(ValueError, match=r'\[0, 4\]'):
        with forced_branches(model, [2, 5]):
            pass
    assert model.gate_mode == 'soft'  # a refused override changes nothing
    order = []
    result = time_interleaved({'a': lambda: order.append('a'), 'b': lambda: order.append('b')},
                              repeats=2, warmup=1)
    assert order == ['a', 'b'] * 3 and all(len(r['times_s']) == 2 for r in result.values())
    with pytest.raises(ValueError):
        time_interleaved({'a': lambda: None}, repeats=0)
    # the pause before each call is slept, not timed: spinning workers go idle first
    start = time.perf_counter()
    result = time_interleaved({'a': lambda: None, 'b': lambda: None}, repeats=2, warmup=1,
                              pause_s=0.02)
    assert time.perf_counter() - start >= 6 * 0.02
    assert max(t for r in result.values() for t in r['times_s']) < 0.02
    for bad in (-0.1, float('nan')):
        with pytest.raises(ValueError, match='pause_s'):
            time_interleaved({'a': lambda: None}, pause_s=bad)


def test_tool_reports_every_run_with_flop_ratios(tmp_path, capsys):
    out = tmp_path / 'latency.json'
    assert _run([DYNAMIC, '--shape', *map(str, SIZE), '--repeats', '1', '--warmup', '0',
                 '--batch-size', '2', '--out', str(out), '--no-progress']) == 0
    result = json.loads(out.read_text())
    rows = {r['name']: r for r in result['rows']}
    assert list(rows) == ['branch 0', 'branch 1', 'branch 2', 'branch 3', 'branch 4', 'static ESANet',
                          'compute all + select', 'mixed, skipping', 'mixed, compute all + select']
    ratios = [rows[f'branch {k}']['gflops_ratio'] for k in range(5)]
    assert ratios[4] == 1.0 and all(a < b for a, b in zip(ratios, ratios[1:]))
    assert rows['branch 4']['latency_ratio'] == 1.0
    assert rows['compute all + select']['gflops_ratio'] == 1.0
    assert rows['static ESANet']['gflops_ratio'] < 1.0  # no gate
    # the mixed batch: round-robin 0..4, five images, mean cost of the five branches
    assert result['mixed_assignment'] == [0, 1, 2, 3, 4] and rows['mixed, skipping']['batch_size'] == 5
    assert rows['mixed, skipping']['gflops_ratio'] == pytest.approx(sum(ratios) / 5)
    assert rows['branch 0']['batch_size'] == 2
    assert result['max_abs_diff_skip_vs_all'] < 1e-3
    assert all(r['images_per_s'] > 0 and len(r['times_ms']) == 1 for r in rows.values())
    text = capsys.readouterr().out
    assert 'load average' in text and 'GFLOPs / branch 4' in text


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert _run([str(tmp_path / 'missing.py')]) == 2
    assert 'config file not found' in error_line(capsys)
    assert _run([DYNAMIC, '--checkpoint', str(tmp_path / 'missing.pth'), '--no-static']) == 2
    assert 'checkpoint file not found' in error_line(capsys)
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict={'backbone.nope': torch.zeros(1)}), bad)
    assert _run([DYNAMIC, '--checkpoint', str(bad), '--no-static']) == 2
    line = error_line(capsys)
    assert 'does not fit' in line and 'unexpected keys (backbone.nope)' in line
    for argv, message in ((['--batch-size', '0'], '--batch-size must be >= 1'),
                          (['--shape', '60', '90'], 'multiples of 32'),
                          (['--mixed-batch-size', '1'], '--mixed-batch-size must be >= 2'),
                          (['--pause', '-1'], '--pause must be >= 0')):
        with pytest.raises(SystemExit) as exc:
            _run([DYNAMIC] + argv)
        assert exc.value.code == 2 and message in error_line(capsys)
