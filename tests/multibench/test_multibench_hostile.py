"""MultiBench side, hostile inputs: feature widths, label shapes, wrong-kind experts, torchvision
that does not match torch, outputs that cannot be written; the project's error convention."""
import importlib.abc
import importlib.machinery
import re
import sys

import pytest
import torch
from multibench_helpers import mosei_split
from torch import nn

from multibench_ext.affect_data import MOSEI_FEATURE_WIDTHS, get_affect_dataloaders, load_affect_pickle
from multibench_ext.checkpoints import load_module
from multibench_ext.errors import DataFormatError, SetupError


def _mosei(widths=(35, 74, 300)):
    return {name: mosei_split(n=3, dims=widths, seed=i) for i, name in enumerate(('train', 'valid', 'test'))}


def test_text_features_of_the_wrong_width_are_named(write_pickle):
    path = write_pickle(_mosei((35, 74, 200)))
    with pytest.raises(DataFormatError, match=rf"{path} \['train'\]: 'text' features are 200-d, expected 300-d"):
        get_affect_dataloaders(path)
    assert load_affect_pickle(path) is not None  # without expected widths the file itself is fine


def test_labels_of_shape_n_are_named(write_pickle):
    data = _mosei()
    data['valid']['labels'] = data['valid']['labels'].reshape(-1)
    path = write_pickle(data)
    with pytest.raises(DataFormatError, match=rf"{path} \['valid'\]: 'labels' must be \(samples, 1, 1\).*\(3,\)"):
        load_affect_pickle(path)


def test_mosei_widths_are_multibench_s():
    assert MOSEI_FEATURE_WIDTHS == {'vision': 35, 'audio': 74, 'text': 300}


class _MMDL(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoders = nn.ModuleList([nn.Identity()])
        self.fuse = nn.Identity()
        self.head = nn.Linear(2, 2)


def test_expert_checkpoint_of_the_wrong_kind_is_named(tmp_path):
    torch.save(nn.Linear(300, 10), tmp_path / 'best_lf.pt')
    with pytest.raises(DataFormatError, match='best_lf.pt holds a Linear, not an MMDL: it is the wrong kind'):
        load_module(tmp_path / 'best_lf.pt', 'late-fusion expert', 'imdb_mm --fuse 1', whole_model=True)
    torch.save(_MMDL(), tmp_path / 'encoder_text.pt')
    with pytest.raises(DataFormatError, match='encoder_text.pt holds a whole MultiBench model'):
        load_module(tmp_path / 'encoder_text.pt', 'text expert encoder', 'imdb_uni', whole_model=False)
    assert isinstance(load_module(tmp_path / 'encoder_text.pt', 'x', 'y', whole_model=True), _MMDL)


class _BrokenTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports 'torchvision' as a build for another torch does."""

    def find_spec(self, name, path=None, target=None):
        if name == 'torchvision':
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise RuntimeError('operator torchvision::nms does not exist')


def test_torchvision_that_does_not_match_torch_is_one_line(monkeypatch):
    from multibench_ext.multibench import check_torchvision
    for name in [n for n in sys.modules if n == 'torchvision' or n.startswith('torchvision.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, 'meta_path', [_BrokenTorchvision()] + sys.meta_path)
    with pytest.raises(SetupError) as exc:
        check_torchvision()
    message = str(exc.value)
    assert 'does not match torch' in message and 'torchvision::nms' in message and '\n' not in message
    # never a bare `pip install torchvision`, which would replace the project's torch
    assert 'pip install torchvision==0.29.1 --no-deps' in message
    assert re.search(r'pip install torchvision(?!==)', message) is None


def test_json_out_that_cannot_be_written_stops_before_training(tmp_path, capsys):
    from multibench_ext.examples import imdb_uni
    from multibench_ext.examples.runner import run_main
    blocked = tmp_path / 'a_file'
    blocked.write_text('x')
    rc = run_main(imdb_uni.main, ['--json-out', str(blocked / 'out.json'), '--data', 'x.hdf5'])
    err = capsys.readouterr().err
    assert rc == 2 and '--json-out' in err and str(blocked) in err
    assert len(err.strip().splitlines()) == 1 and ': error: --json-out' in err


def test_debug_flag_shows_the_traceback(capsys):
    from multibench_ext.examples import imdb_uni
    from multibench_ext.examples.runner import run_main
    rc = run_main(imdb_uni.main, ['--limit', '0', '--debug'])
    err = capsys.readouterr().err
    assert rc == 2 and 'Traceback' in err and '--limit must be >= 1' in err
