"""Two CPU processes (torchrun, gloo) train the synthetic DynMM config like one would."""
import os
import socket
import subprocess
import sys

import pytest
import torch

pytest.importorskip('mmseg')

from helpers import REPO as ROOT  # noqa: E402
CONFIG = os.path.join(ROOT, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def tiny_rgbd(module_mktemp):
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    root = module_mktemp('rgbd')
    make_synthetic_rgbd(str(root), num_train=8, num_test=2, num_val=2, seed=0, progress=False)
    return root


def test_two_cpu_ranks_train_to_identical_weights(tiny_rgbd, tmp_path):
    work_dir = tmp_path / 'work'
    options = [
        f'train_dataloader.dataset.data_root={tiny_rgbd}', f'val_dataloader.dataset.data_root={tiny_rgbd}',
        f'test_dataloader.dataset.data_root={tiny_rgbd}', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=1000', 'default_hooks.checkpoint.interval=3',
        'default_hooks.logger.interval=1', 'randomness.seed=0',
        # random phase for iteration 0 (unused gate parameters), soft afterwards
        'custom_hooks.0.epoch_ini=1', 'custom_hooks.0.iters_per_epoch=1',
        'custom_hooks.0.planned_max_iters=None',  # literal epochs, not scaled to 3 iterations
    ]
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
           f'--master_port={_free_port()}', os.path.join(ROOT, 'tests/helpers/dist_train_probe.py'),
           CONFIG, str(work_dir), '--cfg-options', *options]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(work_dir / f'rank{r}_weights.pth') for r in range(2)]
    # DDP keeps parameters in sync; BN running statistics stay per rank
    # (broadcast_buffers=False, as mmengine sets it) unless SyncBN is configured.
    names = ranks[0]['parameter_names']
    for key in names:
        assert torch.equal(ranks[0]['state_dict'][key], ranks[1]['state_dict'][key]), key
    assert ranks[0]['gate_mode'] == ranks[1]['gate_mode'] == 'soft'
    assert ranks[0]['temperature'] == ranks[1]['temperature']
    # the gate was trained: every one of its parameters moved away from its initial value,
    # and the ranks started from the same initial gate
    initial = ranks[0]['initial_gate']
    assert sorted(initial) == sorted(n for n in names if n.startswith('backbone.gate.'))
    assert len(initial) >= 5  # 2 convs, 2 BNs (weight and bias), the 1x1 classifier
    for key, value in initial.items():
        assert torch.equal(value, ranks[1]['initial_gate'][key]), key
        assert not torch.equal(ranks[0]['state_dict'][key], value), f'{key} was not trained'
    # one checkpoint (rank 0 writes it)
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == ['iter_3.pth']
    logs = '\n'.join(p.read_text() for p in work_dir.rglob('*.log'))
    assert 'loss_resource' in logs and 'branch_frac_0' in logs
