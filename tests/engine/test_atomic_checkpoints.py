"""A save interrupted mid-write never leaves a truncated checkpoint under the final name."""
import os

import pytest
import torch

pytest.importorskip('mmengine')
from mmengine.fileio import get_file_backend  # noqa: E402
from mmengine.runner.checkpoint import save_checkpoint  # noqa: E402

import dynmm_plugins  # noqa: E402,F401  (installs the atomic backend)
from dynmm_plugins.engine.atomic_local_backend import AtomicLocalBackend  # noqa: E402


class _Interrupted(Exception):
    pass


def test_mmengine_uses_the_atomic_backend_for_local_paths(tmp_path):
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')), AtomicLocalBackend)


def test_interrupted_checkpoint_save_keeps_the_last_good_file(tmp_path, monkeypatch):
    path = tmp_path / 'iter_2.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    good = path.read_bytes()

    real_fsync = os.fsync

    def die_during_write(fd):  # the process "dies" after part of the bytes hit the disk
        raise _Interrupted()

    monkeypatch.setattr(os, 'fsync', die_during_write)
    with pytest.raises(_Interrupted):
        save_checkpoint({'state_dict': {'w': torch.zeros(1000)}}, str(path))
    monkeypatch.setattr(os, 'fsync', real_fsync)

    assert path.read_bytes() == good
    assert torch.equal(torch.load(path)['state_dict']['w'], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ['iter_2.pth']  # no temporary left behind


def test_put_text_is_atomic_too(tmp_path):
    backend = AtomicLocalBackend()
    backend.put_text('iter_4.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_4.pth'
