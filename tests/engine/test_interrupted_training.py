"""SIGKILL after a checkpoint, --resume: the result equals an uninterrupted run; CPU runs repeat bit for bit."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

pytest.importorskip('mmseg')

from helpers import REPO as ROOT  # noqa: E402
CONFIG = os.path.join(ROOT, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')


def _pausing_config(folder):
    """CONFIG plus a hook that pauses after iteration 2, so the test can kill the run there."""
    path = folder / 'pausing_config.py'
    path.write_text(
        f"_base_ = [{CONFIG!r}]\n"
        "custom_imports = dict(imports=['dynmm_plugins', 'pause_hook'], allow_failed_imports=False)\n"
        "custom_hooks = [\n"
        "    dict(type='DynMMGateScheduleHook', temp=1.0, end_temp=0.01, epoch_ini=1, epoch_hard=6,\n"
        "         iters_per_epoch=2),\n"
        "    dict(type='PauseAfterIterHook', iteration=2, seconds=120),\n"
        "]\n")
    return str(path)


def _train_cmd(data_root, work_dir, extra=(), config=CONFIG):
    import mmseg
    train_py = os.path.join(os.path.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    options = [
        f'train_dataloader.dataset.data_root={data_root}', f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'train_cfg.max_iters=4', 'train_cfg.val_interval=1000', 'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=5', 'default_hooks.logger.interval=1',
        'randomness.seed=0', 'randomness.deterministic=True',
        # random phase for 2 iterations (draws from the torch RNG), then soft
        'custom_hooks.0.epoch_ini=1', 'custom_hooks.0.iters_per_epoch=2',
        # epochs of exactly 2 iterations, not scaled to the shortened run
        'custom_hooks.0.planned_max_iters=None', *extra,
    ]
    return [sys.executable, train_py, config, '--work-dir', str(work_dir), '--cfg-options', *options]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, 'tests', 'helpers')]))


@pytest.fixture(scope='module')
def tiny_rgbd(module_mktemp):
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    root = module_mktemp('rgbd')
    make_synthetic_rgbd(str(root), num_train=8, num_test=2, num_val=2, seed=0, progress=False)
    return root


@pytest.fixture(scope='module')
def uninterrupted(tiny_rgbd, module_mktemp):
    work_dir = module_mktemp('straight')
    subprocess.run(_train_cmd(tiny_rgbd, work_dir), cwd=ROOT, env=_env(), check=True,
                   capture_output=True, timeout=600)
    return work_dir


def _load(path):
    return torch.load(path, map_location='cpu')


def test_killed_then_resumed_run_equals_uninterrupted_run(tiny_rgbd, uninterrupted, tmp_path):
    work_dir = tmp_path / 'killed'
    proc = subprocess.Popen(_train_cmd(tiny_rgbd, work_dir, config=_pausing_config(tmp_path)),
                            cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (work_dir / 'last_checkpoint').exists() and time.time() < deadline:
        assert proc.poll() is None, 'training ended before its checkpoint'
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (work_dir / 'iter_2.pth').exists() and not (work_dir / 'iter_4.pth').exists()

    subprocess.run(_train_cmd(tiny_rgbd, work_dir, ['resume=True']), cwd=ROOT, env=_env(),
                   check=True, capture_output=True, timeout=600)
    resumed, straight = _load(work_dir / 'iter_4.pth'), _load(uninterrupted / 'iter_4.pth')
    for key, value in straight['state_dict'].items():
        assert torch.equal(value, resumed['state_dict'][key]), key
    assert resumed['dynmm_gate']['mode'] == straight['dynmm_gate']['mode'] == 'soft'
    assert resumed['dynmm_gate']['temperature'] == straight['dynmm_gate']['temperature']
    assert torch.equal(resumed['dynmm_gate']['torch_rng_state'], straight['dynmm_gate']['torch_rng_state'])


def test_same_seed_gives_bit_identical_training(tiny_rgbd, uninterrupted, tmp_path):
    subprocess.run(_train_cmd(tiny_rgbd, tmp_path), cwd=ROOT, env=_env(), check=True,
                   capture_output=True, timeout=600)
    again, first = _load(tmp_path / 'iter_4.pth'), _load(uninterrupted / 'iter_4.pth')
    for key, value in first['state_dict'].items():
        assert torch.equal(value, again['state_dict'][key]), key
