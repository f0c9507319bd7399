"""Fixtures of the MultiBench-side tests: tiny experts, gates and synthetic data files."""
import pickle

import pytest
import torch
from multibench_helpers import make_experts

from multibench_ext import MLPGate
from multibench_ext.synthetic import write_imdb, write_mosei


@pytest.fixture
def experts():
    torch.manual_seed(0)
    return make_experts()


@pytest.fixture
def gate():
    torch.manual_seed(1)
    return MLPGate(16, 8, 2)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(2)
    return [torch.randn(12, 6, generator=g), torch.randn(12, 10, generator=g)]


@pytest.fixture(scope='session')
def tiny_imdb(tmp_path_factory):
    """A 64-row MM-IMDB file (use with TINY_IMDB_SPLITS) and its side file."""
    path = tmp_path_factory.mktemp('imdb') / 'multimodal_imdb.hdf5'
    write_imdb(path, rows=64, seed=3, block=32)
    return path


@pytest.fixture(scope='session')
def tiny_mosei(tmp_path_factory):
    """A MOSEI pickle with 12/6/8 samples and its side file."""
    path = tmp_path_factory.mktemp('mosei') / 'mosei_senti_data.pkl'
    write_mosei(path, sizes=(12, 6, 8), seed=4)
    return path


@pytest.fixture
def write_pickle(tmp_path):
    """Write any object to a pickle in tmp_path; returns the path."""
    def write(obj, name='data.pkl'):
        path = tmp_path / name
        with open(path, 'wb') as f:
            pickle.dump(obj, f)
        return path
    return write
