"""Training-side hostile inputs: interrupted saves, permissions, shortened and extended runs,
static checkpoints tested as dynamic ones."""
import logging
import os
import os.path as osp

import pytest
import torch

pytest.importorskip('mmseg')
from mmengine.hooks import Hook  # noqa: E402

from dynmm_plugins.engine.atomic_local_backend import remove_stale_temporaries, write_atomically  # noqa: E402

from helpers import REPO  # noqa: E402
STATIC = osp.join(REPO, 'mmseg_configs/esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
DYNAMIC = osp.join(REPO, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
SIZE = (64, 96)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_writes_keep_the_permissions_of_a_plain_open(tmp_path):
    write_atomically(b'data', str(tmp_path / 'iter_1.pth'))
    with open(tmp_path / 'plain', 'wb') as f:
        f.write(b'data')
    assert os.stat(tmp_path / 'iter_1.pth').st_mode & 0o777 == os.stat(tmp_path / 'plain').st_mode & 0o777
    assert os.stat(tmp_path / 'plain').st_mode & 0o777 == 0o666 & ~_umask()


def test_only_stale_temporaries_are_removed(tmp_path):
    stale = tmp_path / '.iter_4.pth.k2j4h5x9.tmp'
    stale.write_bytes(b'half a checkpoint')
    keep = [tmp_path / 'iter_4.pth', tmp_path / 'notes.tmp', tmp_path / '.hidden.tmp']
    for path in keep:
        path.write_bytes(b'x')
    assert remove_stale_temporaries(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and all(p.exists() for p in keep)


def test_last_checkpoint_pointer_is_written_atomically(tmp_path):
    from mmengine.hooks import checkpoint_hook

    from dynmm_plugins.engine.hooks.atomic_checkpoint_hook import _atomic_last_checkpoint
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text('work/iter_2.pth')
    with _atomic_last_checkpoint():
        with pytest.raises(RuntimeError):
            with checkpoint_hook.open(str(pointer), 'w') as f:  # mmengine's own call
                f.write('work/iter_')
                raise RuntimeError('killed mid-write')
        assert pointer.read_text() == 'work/iter_2.pth'  # the old pointer survives
        with checkpoint_hook.open(str(pointer), 'w') as f:
            f.write('work/iter_4.pth')
    assert pointer.read_text() == 'work/iter_4.pth'
    assert not hasattr(checkpoint_hook, 'open')  # only shadowed during the save


class _Record(Hook):
    """Learning rate and gate mode of every training iteration."""

    priority = 'LOWEST'

    def __init__(self):
        self.lr, self.gate = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        self.lr.append(runner.optim_wrapper.get_lr()['lr'][0])
        self.gate.append(model.gate_mode)


@pytest.fixture(scope='module')
def data(module_mktemp):
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    root = str(module_mktemp('hostile_training') / 'data')
    make_synthetic_rgbd(root, num_train=4, num_test=2, height=SIZE[0], width=SIZE[1])
    return root


def _as_written_config(data, work_dir, iters, config=DYNAMIC, **kw):
    """The config as a user runs it with ``--cfg-options train_cfg.max_iters=iters``: the
    one-cycle ``total_steps`` and the gate schedule keep the values written for 400 iterations."""
    from mmengine.config import Config

    from dynmm_plugins.apis.training import synthetic_train_config
    written = Config.fromfile(config)
    cfg = synthetic_train_config(config, data, str(work_dir), iters=iters, batch_size=2, size=SIZE, **kw)
    cfg.param_scheduler = written.param_scheduler  # total_steps=400, as in the file
    cfg.custom_hooks = written.get('custom_hooks', [])
    cfg.default_hooks.checkpoint.update(interval=iters)
    return cfg


def _train(cfg, resume=False):
    from mmengine.logging import MMLogger
    from mmengine.runner import Runner
    cfg.resume = resume
    runner = Runner.from_cfg(cfg)
    record = _Record()
    runner.register_hook(record)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda rec: messages.append(rec.getMessage())
    MMLogger.get_current_instance().addHandler(handler)
    try:
        runner.train()
    finally:
        MMLogger.get_current_instance().removeHandler(handler)
    return runner, record, messages


def test_shortened_run_and_resume_to_a_longer_one_follow_max_iters(data, tmp_path):
    work = tmp_path / 'work'
    torch.manual_seed(0)
    _, short, messages = _train(_as_written_config(data, work, iters=4))
    # one-cycle over 4 iterations (not 400): from near the peak down to the floor
    assert short.lr[0] > 0.005 and short.lr[-1] < 0.002
    assert any('OneCycleLR spanned 400 iterations' in m and 'max_iters is 4' in m for m in messages)
    # the gate schedule's 8 epochs of 50 iterations scaled to 4 iterations: random for the first
    # quarter (epoch_ini 2 of 8), hard for the last quarter (from epoch 6)
    assert short.gate == ['random', 'soft', 'soft', 'hard']
    assert any('written for max_iters=400' in m for m in messages)
    assert os.stat(work / 'iter_4.pth').st_mode & 0o777 == 0o666 & ~_umask()

    # an interrupted save of a previous attempt, then --resume with max_iters 8
    stale = work / '.iter_6.pth.a8sd7f6g.tmp'
    stale.write_bytes(b'half a checkpoint')
    longer = _as_written_config(data, work, iters=8)
    _, resumed, messages = _train(longer, resume=True)
    assert not stale.exists()
    assert any('removed' in m and '.iter_6.pth.a8sd7f6g.tmp' in m for m in messages)
    assert any('OneCycleLR spanned 4 iterations' in m and 'max_iters is 8' in m for m in messages)
    assert len(resumed.lr) == 4 and len(set(resumed.lr)) == 4  # not frozen
    assert resumed.lr == sorted(resumed.lr, reverse=True)  # annealing to the end of the new cycle
    assert resumed.gate == ['soft', 'soft', 'hard', 'hard']  # epochs of 1 iteration now
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_8.pth')


def test_static_checkpoint_is_refused_when_testing_a_dynamic_model(data, tmp_path):
    from mmengine.runner import Runner

    from dynmm_plugins.apis.model_loading import build_model, load_config
    static = build_model(load_config(STATIC))
    ckpt = tmp_path / 'static.pth'
    torch.save(dict(state_dict=static.state_dict()), ckpt)
    cfg = _as_written_config(data, tmp_path / 'test', iters=1)
    cfg.load_from = str(ckpt)  # what `mim test CONFIG --checkpoint static.pth` sets
    cfg.test_dataloader.dataset.data_root = data
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=f'checkpoint {ckpt} is a static ESANet checkpoint'):
        runner.test()


def test_static_checkpoint_still_initialises_dynmm_finetuning(data, tmp_path):
    from dynmm_plugins.apis.model_loading import build_model, load_config
    static = build_model(load_config(STATIC))
    ckpt = tmp_path / 'static.pth'
    torch.save(dict(state_dict=static.state_dict()), ckpt)
    cfg = _as_written_config(data, tmp_path / 'ft', iters=1, load_from=str(ckpt))
    runner, _, messages = _train(cfg)
    assert any('has no gate (a static ESANet checkpoint)' in m for m in messages)
    model = runner.model
    model.eval()
    x = torch.zeros(1, 4, *SIZE)
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_shape=SIZE, ori_shape=SIZE, pad_shape=SIZE))
    assert len(model.predict(x, [sample])) == 1  # finetuned: the gate is trained, testing is fine


def _schedule_log(hook, max_iters):
    from types import SimpleNamespace

    from mmengine.logging import MMLogger
    from mmengine.runner import IterBasedTrainLoop
    runner = SimpleNamespace(train_loop=IterBasedTrainLoop.__new__(IterBasedTrainLoop), max_iters=max_iters,
                             train_dataloader=[None] * 50)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        hook.before_train(runner)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(records) == 1
    return records[0].levelno, records[0].getMessage()


def test_gate_schedule_says_at_start_how_it_fits_the_run():
    from dynmm_plugins.engine.hooks import DynMMGateScheduleHook
    planned = dict(epoch_ini=2, epoch_hard=6, iters_per_epoch=50, planned_max_iters=400)
    level, text = _schedule_log(DynMMGateScheduleHook(**planned), 40)
    assert level == logging.WARNING and 'scaled by 40/400' in text
    assert 'random branches until iteration 10' in text and 'hard gates from iteration 30' in text
    level, text = _schedule_log(DynMMGateScheduleHook(**planned), 400)
    assert level == logging.INFO and 'scaled' not in text and 'hard gates from iteration 300' in text
    level, text = _schedule_log(DynMMGateScheduleHook(epoch_ini=2, epoch_hard=6, iters_per_epoch=50), 40)
    assert level == logging.WARNING and 'stays in its random phase for the whole run' in text
