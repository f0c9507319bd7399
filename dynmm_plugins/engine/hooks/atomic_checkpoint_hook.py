"""mmengine's CheckpointHook with an atomic ``last_checkpoint`` and clean-up of interrupted saves."""
import builtins
import contextlib
import io
import logging
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.hooks import checkpoint_hook as mmengine_checkpoint_hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ..atomic_local_backend import remove_stale_temporaries, write_atomically

LAST_CHECKPOINT = 'last_checkpoint'


class _AtomicTextFile(io.StringIO):
    """A text file object that reaches ``path`` in one atomic rename when closed."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def close(self):
        if not self.closed:
            write_atomically(self.getvalue(), self.path, 'w', 'utf-8')
        super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:  # interrupted: the old file stays as it was
            super().close()
            return False
        self.close()
        return False


def _open_last_checkpoint_atomically(file, mode='r', *args, **kwargs):
    """``open`` for mmengine's checkpoint hook: writes of ``last_checkpoint`` become atomic."""
    if isinstance(file, str) and osp.basename(file) == LAST_CHECKPOINT and mode == 'w':
        return _AtomicTextFile(file)
    return builtins.open(file, mode, *args, **kwargs)


@contextlib.contextmanager
def _atomic_last_checkpoint():
    # mmengine 0.10.7 writes last_checkpoint with a plain ``open(save_file, 'w')`` in
    # ``_save_checkpoint_with_step``; the module's name ``open`` is shadowed for that call only
    mmengine_checkpoint_hook.open = _open_last_checkpoint_atomically
    try:
        yield
    finally:
        del mmengine_checkpoint_hook.open


@HOOKS.register_module(name=['DynMMCheckpointHook', 'CheckpointHook'])
class DynMMCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook``; every file it writes is written atomically.

    Registered in mmseg's registry also as ``CheckpointHook``, so the
    ``default_hooks.checkpoint`` of any mmseg config uses it once ``dynmm_plugins``
    is imported. Checkpoints themselves go through
    :class:`~dynmm_plugins.engine.AtomicLocalBackend`; this hook adds the
    ``last_checkpoint`` pointer (mmengine writes it with a plain ``open``) and, when
    training starts or resumes, removes the temporary files of a save that was
    killed midway (``.iter_N.pth.<random>.tmp``, as large as a checkpoint).

    Args:
        **kwargs: ``CheckpointHook`` arguments (interval, by_epoch, max_keep_ckpts, ...).
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process():
            return
        folders = {runner.work_dir}
        if self.out_dir and osp.isdir(str(self.out_dir)):
            folders.add(str(self.out_dir))
        for folder in sorted(folders):
            for path in remove_stale_temporaries(folder):
                print_log(f'removed {path}, left by a save that was interrupted', logger='current',
                          level=logging.WARNING)

    def _save_checkpoint_with_step(self, runner, step, meta):
        with _atomic_last_checkpoint():
            super()._save_checkpoint_with_step(runner, step, meta)
