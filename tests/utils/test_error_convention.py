"""The project's one error convention (dynmm_plugins/utils/errors.py): whole message, exit 2, no traceback."""
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from dynmm_plugins.utils.errors import (EXIT_BAD_INPUT, EXIT_INTERNAL, DynMMUserError, error_message,
                                        run_entry_point)


class _BadLabelDataset(Dataset):
    """Raises the project's message for item 1, as LoadCheckedAnnotations does in a worker."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        if index == 1:
            raise ValueError("label image 'data/test/labels_40/0002.png' contains value 200, beyond the "
                             '40 classes of the dataset (valid: 0 (void), 1..40, or 255 = ignore)')
        return torch.zeros(1)


def test_dataloader_worker_error_keeps_the_project_message():
    loader = DataLoader(_BadLabelDataset(), batch_size=1, num_workers=1)
    with pytest.raises(ValueError) as exc:
        list(loader)
    assert 'Caught ValueError in DataLoader worker' in str(exc.value)  # what torch says
    assert error_message(exc.value) == (
        "label image 'data/test/labels_40/0002.png' contains value 200, beyond the 40 classes of the "
        'dataset (valid: 0 (void), 1..40, or 255 = ignore)')


def test_empty_messages_do_not_crash_the_handler():
    assert error_message(EOFError()) == 'EOFError'
    try:
        try:
            raise EOFError()
        except EOFError as inner:
            raise ValueError('') from inner
    except ValueError as outer:
        assert error_message(outer) == 'ValueError (EOFError)'


def test_messages_are_whole_and_one_line():
    assert error_message(KeyError('no key "gate" in model')) == 'no key "gate" in model'
    assert error_message(ValueError('first line\nsecond line')) == 'first line second line'


def _main_raising(exc):
    def main(argv=None):
        raise exc
    return main


def test_bad_input_is_one_line_and_exit_code_2(capsys):
    rc = run_entry_point(_main_raising(DynMMUserError('--out x.json: cannot write in /ro')), [], 'tool.py')
    err = capsys.readouterr().err
    assert rc == EXIT_BAD_INPUT == 2
    assert err == 'tool.py: error: --out x.json: cannot write in /ro\n'


def test_internal_error_is_one_line_without_traceback(capsys):
    rc = run_entry_point(_main_raising(RuntimeError('boom')), [], 'tool.py')
    err = capsys.readouterr().err
    assert rc == EXIT_INTERNAL and len(err.splitlines()) == 1
    assert err.startswith('tool.py: internal error: RuntimeError: boom') and '--debug' in err
    assert 'Traceback' not in err


def test_debug_shows_the_traceback(capsys):
    rc = run_entry_point(_main_raising(ValueError('bad value 7')), ['--debug'], 'tool.py')
    err = capsys.readouterr().err
    assert rc == 2 and 'Traceback (most recent call last)' in err
    assert err.rstrip().endswith('tool.py: error: bad value 7')


def test_uncaught_project_error_is_one_line_under_mim(tmp_path):
    """`mim train/test` run MMSeg's scripts: our errors that nobody catches still follow the convention."""
    import os
    import subprocess
    import sys

    from helpers import REPO
    code = ('import dynmm_plugins\n'
            'from dynmm_plugins.utils.errors import DynMMUserError\n'
            "raise DynMMUserError('checkpoint work/x.pth is an empty file (0 bytes)')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO] + sys.path))
    env.pop('DYNMM_DEBUG', None)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        '-c: error: checkpoint work/x.pth is an empty file (0 bytes) (set DYNMM_DEBUG=1 for the traceback)']
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=dict(env, DYNMM_DEBUG='1'))
    assert proc.returncode == 1 and 'Traceback' in proc.stderr
