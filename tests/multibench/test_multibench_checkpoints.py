"""load_module: whole pickled modules load; anything else is a one-line error naming the fix."""
import pytest
import torch
from torch import nn

from multibench_ext.checkpoints import load_module
from multibench_ext.errors import DataFormatError, SetupError


def test_loads_a_whole_pickled_module(tmp_path):
    path = tmp_path / 'head_text.pt'
    torch.save(nn.Linear(3, 2), path)
    module = load_module(path, 'text head', 'python -m multibench_ext.examples.imdb_uni')
    assert isinstance(module, nn.Linear) and module.in_features == 3


def test_missing_checkpoint_says_what_to_run(tmp_path):
    with pytest.raises(SetupError) as info:
        load_module(tmp_path / 'best_lf.pt', 'late-fusion expert', 'python -m multibench_ext.examples.imdb_mm --fuse 1')
    message = str(info.value)
    assert 'best_lf.pt not found' in message and 'imdb_mm --fuse 1' in message and '\n' not in message


def test_checkpoint_that_is_not_a_module_is_rejected(tmp_path):
    path = tmp_path / 'encoder_text.pt'
    torch.save(nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(DataFormatError, match='holds a OrderedDict, not a torch.nn.Module') as info:
        load_module(path, 'text encoder', 'python -m multibench_ext.examples.imdb_uni')
    assert 'imdb_uni' in str(info.value)


def test_unreadable_checkpoint_is_rejected(tmp_path):
    path = tmp_path / 'best_lf.pt'
    path.write_bytes(b'not a checkpoint')
    with pytest.raises(DataFormatError, match='does not load'):
        load_module(path, 'late-fusion expert', 'imdb_mm')
