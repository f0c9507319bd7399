"""The tools, unchanged, on a trained dual-stream DynMM checkpoint: robustness, compute knob, FLOPs."""
import json
import os.path as osp

import pytest

pytest.importorskip('mmseg')

from dynmm_plugins.utils.cli import run_tool  # noqa: E402
from helpers import REPO  # noqa: E402
from helpers.tool_scripts import load_tool  # noqa: E402

CONFIGS = osp.join(REPO, 'mmseg_configs/dual_stream')
DYNMM = osp.join(CONFIGS, 'dynmm-segformer_mit-b0-rgbd_1xb4-400it_synthetic-120x160.py')
STATIC = osp.join(CONFIGS, 'segformer_mit-b0-rgbd_1xb4-400it_synthetic-120x160.py')


@pytest.fixture(scope='module')
def trained(module_mktemp):
    """The synthetic MiT-B0 pair, 2 iterations each at 64x96, on a tiny synthetic set."""
    from dynmm_plugins.apis.training import synthetic_train_config, train
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    root = module_mktemp('dual_tools')
    data = str(root / 'data')
    make_synthetic_rgbd(data, num_train=4, num_test=3, num_val=3, height=64, width=96, seed=0,
                        progress=False)
    checkpoints = {}
    for name, config in (('static', STATIC), ('dynmm', DYNMM)):
        cfg = synthetic_train_config(config, data, str(root / name), 2, batch_size=2, size=(64, 96))
        checkpoints[name] = train(cfg)
    options = [f'test_dataloader.dataset.data_root={data}', f'val_dataloader.dataset.data_root={data}',
               'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
               'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
               'model.cost_input_size=(64,96)']
    return root, checkpoints, options


def test_robustness_eval_compares_dynmm_with_its_static_twin(trained):
    root, ckpt, options = trained
    tool = load_tool('robustness_eval')
    out = root / 'robustness.json'
    assert run_tool(tool.main, [DYNMM, ckpt['dynmm'], '--mode', '-1', '1', '--noise', '0', '1',
                                '--compare', STATIC, ckpt['static'], '--per-kind-miou',
                                '--device', 'cpu', '--no-progress', '--out', str(out),
                                '--cfg-options', *options], prog=tool.PROG) == 0
    rows = json.loads(out.read_text())
    rows = rows['rows'] if isinstance(rows, dict) else rows
    assert len(rows) == 2 * 3  # two models x (clean, depth noise at 0 and 1)
    for row in rows:
        assert 0 <= row['miou_mean'] <= 100 and sum(row['routing']['branch_histogram']) == 3
    static = [r for r in rows if r['routing']['branch_histogram'][-1] == 3]
    assert static  # the static twin takes the full branch for every image


def test_compute_knob_calibrates_and_applies_on_the_dual_stream_model(trained):
    root, ckpt, options = trained
    calibrate, flops = load_tool('calibrate_budget'), load_tool('get_flops')
    budget = root / 'budget.json'
    assert run_tool(calibrate.main, [DYNMM, ckpt['dynmm'], '--target-fraction', '0.8', '--split', 'val',
                                     '--out', str(budget), '--device', 'cpu', '--no-progress',
                                     '--cfg-options', *options], prog=calibrate.PROG) == 0
    calibrated = json.loads(budget.read_text())
    assert len(calibrated['gate_bias']) == 5
    out = root / 'flops.json'
    assert run_tool(flops.main, [DYNMM, '--checkpoint', ckpt['dynmm'], '--budget', str(budget),
                                 '--no-reference', '--device', 'cpu', '--no-progress', '--out', str(out),
                                 '--cfg-options', *options], prog=flops.PROG) == 0
    report = json.loads(out.read_text())
    costs, routing = report['costs']['total'], report['dataset']['routing']
    assert report['dataset']['gate_bias'] == pytest.approx(calibrated['gate_bias'])
    assert sum(routing['branch_histogram']) == 3
    expected = sum(n * c for n, c in zip(routing['branch_histogram'], costs)) / 3
    assert routing['gflops_per_image'] == pytest.approx(expected, rel=1e-3)
