"""`mim train mmsegmentation` on every synthetic dual-stream config: trains, validates, saves."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

pytest.importorskip('mmseg')

from helpers import REPO as ROOT  # noqa: E402
CONFIGS = [
    'segformer_mit-b0-rgbd_1xb4-400it_synthetic-120x160.py',
    'dynmm-segformer_mit-b0-rgbd_1xb4-400it_synthetic-120x160.py',
    'upernet_r50-v1c-rgbd_1xb4-400it_synthetic-120x160.py',
    'dynmm-upernet_r50-v1c-rgbd_1xb4-400it_synthetic-120x160.py',
]


def _mim():
    found = shutil.which('mim') or osp.join(osp.dirname(sys.executable), 'mim')
    if not osp.isfile(found):
        pytest.skip('mim is not installed')
    return found


@pytest.fixture(scope='module')
def tiny_rgbd(module_mktemp):
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    root = module_mktemp('rgbd')
    make_synthetic_rgbd(str(root), num_train=4, num_test=2, num_val=2, seed=0, progress=False)
    return root


@pytest.mark.parametrize('config', CONFIGS)
def test_mim_trains_and_validates_the_synthetic_config(config, tiny_rgbd, tmp_path):
    work_dir = tmp_path / 'work'
    options = [f'{loader}.dataset.data_root={tiny_rgbd}' for loader in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += [f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader')
                for key in ('num_workers=0', 'persistent_workers=False')]
    options += ['train_dataloader.batch_size=2', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
                'default_hooks.visualization.draw=False']
    if config.startswith('dynmm-'):
        options += ['custom_hooks.0.iters_per_epoch=1']  # the gate schedule's epochs, shortened
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [_mim(), 'train', 'mmsegmentation', osp.join(ROOT, 'mmseg_configs/dual_stream', config),
         '--work-dir', str(work_dir), '--cfg-options', *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'mIoU' in log
    state = torch.load(work_dir / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    assert any(k.startswith('backbone.depth_backbone.') for k in state)
    assert any(k.startswith('backbone.gate.') for k in state) == config.startswith('dynmm-')


@pytest.mark.parametrize('config', sorted(
    c for c in os.listdir(osp.join(ROOT, 'mmseg_configs/dual_stream')) if 'synthetic' not in c))
def test_nyuv2_and_sunrgbd_configs_build_their_model_and_dataset_settings(config):
    """The 480x640 configs: the model builds (no download before init_weights), classes fit."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'mmseg_configs/dual_stream', config))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    num_classes = 37 if 'sunrgbd' in config else 40
    assert model.decode_head.num_classes == num_classes
    assert model.has_gate == config.startswith('dynmm-')
    assert model.num_branches == 5 and model.cost_input_size == (480, 640)
    backbone = cfg.model.backbone
    assert backbone.depth_backbone.in_channels == 1
    for stream in (backbone.rgb_backbone, backbone.depth_backbone):
        assert stream.init_cfg.type == 'Pretrained'  # ImageNet weights, as MMSeg's configs
    assert cfg.train_dataloader.dataset.type == (
        'SUNRGBDRGBDDataset' if 'sunrgbd' in config else 'NYUv2RGBDDataset')


@pytest.mark.parametrize('static_name', sorted(
    c for c in os.listdir(osp.join(ROOT, 'mmseg_configs/dual_stream'))
    if 'synthetic' not in c and not c.startswith('dynmm-')))
def test_dynmm_480x640_configs_are_their_static_twin_plus_the_shared_dynmm_block(static_name):
    """Each DynMM leaf = its static twin + _base_/models/dynmm_dual_stream.py + its epochs."""
    from mmengine.config import Config
    folder = osp.join(ROOT, 'mmseg_configs/dual_stream')
    static = Config.fromfile(osp.join(folder, static_name)).to_dict()
    dynamic = Config.fromfile(osp.join(folder, 'dynmm-' + static_name)).to_dict()
    shared = Config.fromfile(osp.join(ROOT, 'mmseg_configs/_base_/models/dynmm_dual_stream.py'))
    # the model: the static one with the shared gate, loss and gate settings, nothing else
    model, static_model = dict(dynamic['model']), dict(static['model'])
    for key, value in shared.dynmm_model.items():
        if key != 'backbone':
            assert model.pop(key) == value, key
    gate = dict(shared.dynmm_model['backbone']['gate'])
    gate.pop('_delete_')
    assert model['backbone'].pop('gate') == gate and static_model['backbone'].pop('gate') is None
    assert model == static_model
    wrapper = dict(static['model_wrapper_cfg'], find_unused_parameters=True)
    assert dynamic['model_wrapper_cfg'] == wrapper
    # the rest of the config (data, schedule, runtime) is the static twin's
    for key in set(static) - {'model', 'model_wrapper_cfg'}:
        assert dynamic[key] == static[key], key
    # the gate anneals over the whole schedule and is hard only at its end
    hook, = [h for h in dynamic['custom_hooks'] if h['type'] == 'DynMMGateScheduleHook']
    assert (hook['temp'], hook['end_temp'], hook['epoch_ini']) == (
        shared.temp, shared.end_temp, shared.epoch_ini)
    max_iters = dynamic['train_cfg']['max_iters']
    assert abs(hook['epoch_hard'] * hook['iters_per_epoch'] - max_iters) < hook['iters_per_epoch']


@pytest.mark.parametrize('config', [c for c in CONFIGS if c.startswith('dynmm-')])
def test_synthetic_gate_schedule_follows_a_shortened_run(config):
    """--cfg-options train_cfg.max_iters=N keeps the gate phases' shares (as the demo's runs need)."""
    from types import SimpleNamespace

    from mmengine.config import Config
    from mmseg.registry import HOOKS
    cfg = Config.fromfile(osp.join(ROOT, 'mmseg_configs/dual_stream', config))
    hook_cfg, = [h for h in cfg.custom_hooks if h['type'] == 'DynMMGateScheduleHook']
    assert hook_cfg['planned_max_iters'] == cfg.train_cfg['max_iters']
    hook = HOOKS.build(dict(hook_cfg))
    full = SimpleNamespace(max_iters=cfg.train_cfg['max_iters'], train_dataloader=None)
    half = SimpleNamespace(max_iters=cfg.train_cfg['max_iters'] // 2, train_dataloader=None)
    assert hook.iters_per_schedule_epoch(half) == hook.iters_per_schedule_epoch(full) / 2
    # hard gates for the same last quarter of the run
    assert hook.schedule.epoch_hard * hook.iters_per_schedule_epoch(half) == 0.75 * half.max_iters
