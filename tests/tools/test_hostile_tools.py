"""Hostile inputs to the tools: one line naming the file/flag/value, exit code 2, nothing lost.

Models are built from the repository's synthetic configs without training (the
checks under test run before or independently of the weights' quality).
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from helpers.tool_scripts import error_line, load_tool  # noqa: E402

from dynmm_plugins.utils.cli import run_tool  # noqa: E402

from helpers import REPO  # noqa: E402
STATIC = osp.join(REPO, 'mmseg_configs/esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
DYNAMIC = osp.join(REPO, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')

ROBUSTNESS = load_tool('robustness_eval')
FLOPS = load_tool('get_flops')
CONVERT = load_tool('convert_dynmm_checkpoint')


def _run(tool, argv):
    return run_tool(tool.main, argv, prog=tool.PROG)


@pytest.fixture(scope='module')
def setup(module_mktemp):
    """Synthetic data (2 test images, one label holding 200), untrained static/dynamic checkpoints."""
    from dynmm_plugins.apis.model_loading import build_model, load_config
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    root = module_mktemp('hostile_tools')
    data = str(root / 'data')
    make_synthetic_rgbd(data, num_train=1, num_test=2)
    out = dict(root=root, data=data)
    for name, config in (('static', STATIC), ('dynamic', DYNAMIC)):
        torch.manual_seed(0)
        model = build_model(load_config(config))
        out[name] = str(root / f'{name}.pth')
        torch.save(dict(state_dict=model.state_dict()), out[name])
    bad = root / 'bad_labels'
    os.system(f'cp -r {data} {bad}')
    label = str(bad / 'test' / 'labels_40' / '0003.png')
    array = cv2.imread(label, cv2.IMREAD_UNCHANGED)
    array[0, 0] = 200
    cv2.imwrite(label, array)
    out.update(bad_data=str(bad), bad_label=label)
    return out


def _data(root, workers=0):
    return ['--cfg-options', f'test_dataloader.dataset.data_root={root}',
            f'test_dataloader.num_workers={workers}', f'test_dataloader.persistent_workers={workers > 0}']


# ------------------------------------------------------------------ errors in DataLoader workers
@pytest.mark.parametrize('tool, argv', [
    (ROBUSTNESS, ['{config}', '{ckpt}', '--no-progress']),
    (FLOPS, ['{config}', '--checkpoint', '{ckpt}', '--no-progress', '--no-reference', '--shape', '64', '96']),
])
def test_worker_error_reaches_the_user_with_the_project_message(setup, capsys, tool, argv):
    argv = [a.format(config=STATIC, ckpt=setup['static']) for a in argv]
    assert _run(tool, argv + _data(setup['bad_data'], workers=1)) == 2
    line = error_line(capsys)
    assert setup['bad_label'] in line and 'contains value 200' in line
    assert 'DataLoader worker' not in line


# ------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize('content, message', [
    (b'', 'is an empty file (0 bytes)'),
    (b'?' + bytes(np.random.default_rng(0).integers(0, 256, 4095, dtype=np.uint8)),
     'is not a torch checkpoint at all'),
])
def test_empty_and_random_checkpoints_are_diagnosed(setup, tmp_path, capsys, content, message):
    path = tmp_path / 'e.pth'
    path.write_bytes(content)
    assert _run(FLOPS, [STATIC, '--checkpoint', str(path), '--no-reference']) == 2
    line = error_line(capsys)
    assert message in line and str(path) in line
    assert _run(CONVERT, [str(path), str(tmp_path / 'out.pth')]) == 2
    line = error_line(capsys)
    assert message in line and str(path) in line
    assert not (tmp_path / 'out.pth').exists()


# ------------------------------------------------------------------ outputs checked first
@pytest.mark.parametrize('tool, argv', [
    (ROBUSTNESS, ['{config}', '{ckpt}', '--out', '{blocked}/r.json']),
    (ROBUSTNESS, ['{config}', '{ckpt}', '--out-dir', '{blocked}/dir']),
    (FLOPS, ['{config}', '--out', '{blocked}/f.json']),
    (CONVERT, ['{ckpt}', '{blocked}/c.pth']),
])
def test_unwritable_output_is_refused_before_the_work(setup, tmp_path, capsys, tool, argv):
    blocked = tmp_path / 'a_file'
    blocked.write_text('not a folder')
    argv = [a.format(config=STATIC, ckpt=setup['static'], blocked=blocked) for a in argv]
    assert _run(tool, argv) == 2
    line = error_line(capsys)
    assert str(blocked) in line and 'is a file, not a folder' in line
    assert 'mIoU' not in capsys.readouterr().out  # nothing was evaluated


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize('shape', [['100', '150'], ['16', '32'], ['480', '650']])
def test_get_flops_shape_must_be_multiples_of_32(shape, capsys):
    with pytest.raises(SystemExit) as exc:
        _run(FLOPS, [STATIC, '--shape'] + shape)
    assert exc.value.code == 2 and 'multiples of 32' in error_line(capsys)


def test_get_flops_bad_devices(capsys):
    assert _run(FLOPS, [STATIC, '--device', 'foo']) == 2
    assert "--device 'foo' is not a device" in error_line(capsys)
    if not torch.cuda.is_available():
        assert _run(FLOPS, [STATIC, '--device', 'cuda']) == 2
        assert 'sees no CUDA device' in error_line(capsys)


def test_noise_with_clean_mode_only_is_an_error(setup, capsys):
    with pytest.raises(SystemExit) as exc:
        _run(ROBUSTNESS, [STATIC, setup['static'], '--mode', '-1', '--noise', '0.5'])
    assert exc.value.code == 2 and '--noise 0.5 has no effect with --mode -1' in error_line(capsys)


def test_per_kind_miou_without_scene_kinds_is_an_error(setup, tmp_path, capsys):
    data = tmp_path / 'no_kinds'
    os.system(f'cp -r {setup["data"]} {data}')
    os.remove(data / 'scene_kinds.json')
    assert _run(ROBUSTNESS, [STATIC, setup['static'], '--per-kind-miou', '--no-progress']
                + _data(data)) == 2
    line = error_line(capsys)
    assert '--per-kind-miou' in line and 'scene_kinds.json is missing' in line


# ------------------------------------------------------------------ converter
def test_converter_recognises_an_already_converted_checkpoint(setup, tmp_path, capsys):
    out = tmp_path / 'again.pth'
    assert _run(CONVERT, [setup['static'], str(out), '--config', STATIC]) == 0
    assert 'already has our key names' in capsys.readouterr().out
    again = torch.load(out, map_location='cpu')['state_dict']
    original = torch.load(setup['static'], map_location='cpu')['state_dict']
    assert again.keys() == original.keys() and all(torch.equal(again[k], original[k]) for k in again)


def test_converter_static_to_dynamic(setup, tmp_path, capsys):
    out = tmp_path / 'for_dynmm.pth'
    assert _run(CONVERT, [setup['static'], str(out), '--config', DYNAMIC]) == 0
    stdout = capsys.readouterr().out
    assert 'the gate' in stdout and 'starts from its initialisation' in stdout
    assert (os.stat(out).st_mode & 0o777) == 0o666 & ~_umask()


def test_converter_refuses_a_checkpoint_of_another_architecture(setup, tmp_path, capsys):
    state = torch.load(setup['static'], map_location='cpu')
    state['state_dict']['decode_head.conv_seg.weight'] = torch.zeros(3, 3, 1, 1)
    bad = tmp_path / 'bad.pth'
    torch.save(state, bad)
    assert _run(CONVERT, [str(bad), str(tmp_path / 'x.pth'), '--config', STATIC]) == 2
    assert 'shape mismatch' in error_line(capsys)
    assert not (tmp_path / 'x.pth').exists()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ reports
def test_skipping_wording_follows_the_sign():
    bench = load_tool('benchmark_latency')
    assert 'saves 20.0%' in bench.skipping_summary(80.0, 100.0, 0.8)
    slower = bench.skipping_summary(135.6, 100.0, 0.8)
    assert 'SLOWER' in slower and '35.6%' in slower and 'saves' not in slower


def test_csv_cells_are_rounded(tmp_path):
    from dynmm_plugins.visualization.report import csv_cell
    assert csv_cell(10.470000267028809) == 10.47
    assert csv_cell(0.000123456789) == 0.000123457
    assert csv_cell(3) == 3 and csv_cell('x') == 'x'


def test_miou_is_not_rounded_before_the_std():
    from types import SimpleNamespace

    from mmseg.evaluation import IoUMetric

    from dynmm_plugins.evaluation.test_loop import unrounded_miou
    metric = IoUMetric()
    # class 0: IoU 1/3, class 1: IoU 1/7 -> mean 23.8095...%, which IoUMetric rounds to 23.81
    metric.results = [(torch.tensor([1., 1.]), torch.tensor([3., 7.]), torch.tensor([2., 4.]),
                       torch.tensor([2., 4.]))]
    assert unrounded_miou(SimpleNamespace(metrics=[metric])) == pytest.approx(100 * (1 / 3 + 1 / 7) / 2)


def test_json_results_are_still_written(setup, tmp_path):
    out = tmp_path / 'r' / 'res.json'
    assert _run(ROBUSTNESS, [STATIC, setup['static'], '--no-progress', '--out', str(out)]
                + _data(setup['data'])) == 0
    assert json.loads(out.read_text())['rows'][0]['miou_runs']


@pytest.mark.parametrize('config', sorted(
    osp.join(d, f) for d in (osp.join(REPO, 'mmseg_configs', 'esanet'), osp.join(REPO, 'mmseg_configs', 'dynmm'))
    for f in os.listdir(d) if f.endswith('.py')))
def test_loading_our_configs_prints_no_pkg_resources_warning(config):
    import warnings

    from mmengine.config import Config
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        Config.fromfile(config)
    assert not [w for w in caught if 'pkg_resources' in str(w.message)]
