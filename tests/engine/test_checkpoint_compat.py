"""mmengine checkpoints save, load and resume under torch >= 2.6 once dynmm_plugins is imported."""
import io
import pickle

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmengine')
from mmengine.model import BaseModel  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from dynmm_plugins.engine.checkpoint_compat import allow_mmengine_checkpoint_globals  # noqa: E402


class _Regressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, mode='loss'):
        out = self.linear(x)
        return dict(loss=((out - 1) ** 2).mean()) if mode == 'loss' else [out]


class _Points(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.tensor([float(i), 1.0]))


def _runner(work_dir, max_iters, resume=False):
    return Runner(
        model=_Regressor(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Points(), sampler=dict(type='InfiniteSampler', shuffle=True),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='OneCycleLR', eta_max=0.01, total_steps=6, by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        randomness=dict(seed=0), resume=resume)


def test_runner_resumes_its_own_checkpoint(tmp_path):
    allow_mmengine_checkpoint_globals()
    first = _runner(tmp_path, 4)
    first.train()
    saved = torch.load(tmp_path / 'iter_4.pth', map_location='cpu')  # weights_only default
    assert saved['meta']['iter'] == 4

    second = _runner(tmp_path, 6, resume=True)
    second.train()
    assert second.iter == 6
    assert (tmp_path / 'iter_6.pth').exists()
    # the optimizer state (momentum buffers) came back from the checkpoint
    assert second.optim_wrapper.optimizer.state_dict()['state']


class _Evil:

    def __reduce__(self):
        return (print, ('pwned',))


def test_arbitrary_globals_are_still_rejected():
    allow_mmengine_checkpoint_globals()
    buffer = io.BytesIO()
    torch.save({'x': _Evil()}, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buffer)


def test_restricted_getattr_refuses_other_attributes():
    from dynmm_plugins.engine.checkpoint_compat import _restricted_getattr
    from mmengine.logging.history_buffer import HistoryBuffer
    assert _restricted_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(RuntimeError, match='refusing getattr'):
        _restricted_getattr(HistoryBuffer, '__init__')
    with pytest.raises(RuntimeError, match='refusing getattr'):
        _restricted_getattr(torch, 'load')


def test_checkpoint_saved_before_the_first_logged_iteration_loads(tmp_path):
    # A scalar registered in the message hub but not yet logged holds an empty numpy
    # array, which protocol-2 pickles write as bytes().
    allow_mmengine_checkpoint_globals()
    from mmengine.logging import MessageHub
    from mmengine.logging import HistoryBuffer
    hub = MessageHub.get_instance('dynmm-empty-history')
    # what the hub holds for a scalar that is registered and resumable but not yet logged
    hub._log_scalars['train/loss'] = HistoryBuffer()
    hub._resumed_keys['train/loss'] = True
    path = tmp_path / 'epoch_0.pth'
    torch.save({'meta': {'iter': 0}, 'message_hub': hub.state_dict()}, path)
    loaded = torch.load(path)
    assert len(loaded['message_hub']['log_scalars']['train/loss'].data[0]) == 0


def test_bytes_is_allowed_only_without_arguments():
    from dynmm_plugins.engine.checkpoint_compat import _empty_bytes

    class _Bomb:
        def __reduce__(self):
            return (bytes, (10,))

    allow_mmengine_checkpoint_globals()
    assert _empty_bytes() == b''
    buffer = io.BytesIO()
    torch.save({'x': _Bomb()}, buffer)
    buffer.seek(0)
    with pytest.raises((pickle.UnpicklingError, RuntimeError), match='only bytes()'):
        torch.load(buffer)
