"""The example scripts without MultiBench: flags, one-line errors, and the shared helpers."""
import argparse
import importlib
import sys

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from multibench_ext.examples import evaluation, flags, loaders
from multibench_ext.examples.checkpoint_files import dyn_checkpoint_name
from multibench_ext.examples.runner import run_main
from multibench_ext.multibench import MARKERS
from multibench_ext.synthetic import write_mosei

SCRIPTS = ('imdb_uni', 'imdb_mm', 'imdb_dyn', 'affect_uni', 'affect_mm', 'affect_dyn')
COMMON_FLAGS = ('--multibench-root', '--data', '--log-dir', '--n-epochs', '--batch-size', '--lr', '--wd', '--n-runs',
                '--device', '--json-out', '--limit')
DYN_FLAGS = ('--freeze', '--hard-gate', '--reg', '--temp', '--eval-only', '--infer-mode')


def script(name):
    return importlib.import_module(f'multibench_ext.examples.{name}')


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No MultiBench anywhere, a scratch working directory, MultiBench modules forgotten afterwards."""
    monkeypatch.delenv('MULTIBENCH_ROOT', raising=False)
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'path', list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.split('.')[0] in ('training_structures', 'unimodals', 'fusions', 'datasets'):
            del sys.modules[name]


@pytest.fixture
def fake_multibench(tmp_path):
    root = tmp_path / 'FakeMultiBench'
    for marker in MARKERS:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).parent.joinpath('__init__.py').write_text('')
        (root / marker).write_text('')
    return root


@pytest.mark.parametrize('name', SCRIPTS)
def test_every_script_has_the_common_flags(name, capsys):
    with pytest.raises(SystemExit) as info:
        script(name).build().parse_args(['--help'])
    assert info.value.code == 0
    text = capsys.readouterr().out
    expected = COMMON_FLAGS + (DYN_FLAGS if name.endswith('_dyn') else ())
    assert all(flag in text for flag in expected), [f for f in expected if f not in text]


@pytest.mark.parametrize('name', SCRIPTS)
def test_missing_multibench_is_a_one_line_error(name, clean_env, capsys):
    assert run_main(script(name).main, ['--data', 'x.hdf5']) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and ': error: MultiBench not found' in err
    assert '--multibench-root' in err and 'MULTIBENCH_ROOT' in err


def test_missing_data_file_says_what_to_pass(clean_env, fake_multibench, capsys):
    argv = ['--multibench-root', str(fake_multibench), '--data', 'nope.pkl']
    assert run_main(script('affect_uni').main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and 'data file nope.pkl not found: pass --data FILE' in err
    assert 'multibench_ext.synthetic' in err


def test_bad_flag_values_are_rejected_early(clean_env, fake_multibench, capsys):
    root = ['--multibench-root', str(fake_multibench)]
    assert run_main(script('imdb_uni').main, root + ['--limit', '0']) == 2
    assert '--limit must be >= 1' in capsys.readouterr().err
    assert run_main(script('imdb_dyn').main, root + ['--temp', '0']) == 2
    assert '--temp must be > 0' in capsys.readouterr().err
    assert run_main(script('imdb_uni').main, root + ['--device', 'tpu']) == 2
    assert "--device must be 'auto', 'cpu', 'cuda' or 'cuda:N'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_device_without_cuda_is_an_error(clean_env, fake_multibench, capsys):
    argv = ['--multibench-root', str(fake_multibench), '--device', 'cuda']
    assert run_main(script('imdb_mm').main, argv) == 2
    assert 'no CUDA device' in capsys.readouterr().err


def test_own_loader_is_announced_once_on_stderr(clean_env, fake_multibench, tmp_path, capsys):
    sys.path.insert(0, str(fake_multibench))  # MultiBench without a loadable affect loader
    path = tmp_path / 'mosei.pkl'
    write_mosei(path, sizes=(3, 2, 2))
    args = argparse.Namespace(data=str(path), batch_size=2, num_workers=0, limit=None)
    for _ in range(2):
        (train, _, test), source = loaders.affect_loaders(args, packed=True)
    assert source == 'multibench_ext' and len(test.dataset) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'datasets.affect.get_data' in err[0] and 'same batches' in err[0]


def test_infer_mode_takes_names_that_cannot_clash_with_expert_indices():
    assert flags.INFER_MODES == {'gate': None, 'text': 0, 'fusion': 1}
    parser = flags.build_parser('imdb_dyn', 'x', 'imdb', 1, 1e-4, 0.0, dyn=True)
    assert parser.parse_args(['--infer-mode', 'fusion']).infer_mode == 'fusion'
    with pytest.raises(SystemExit):
        parser.parse_args(['--infer-mode', '0'])


def test_dyn_checkpoint_name_encodes_training_flags():
    args = argparse.Namespace(freeze=True, hard_gate=False, reg=0.1)
    assert dyn_checkpoint_name(args) == 'dynmm_freeze1_hard0_reg0.1.pt'
    assert dyn_checkpoint_name(args, packed=True) == 'dynmm_freeze1_hard0_reg0.1_packed.pt'
    args.cost_scale = 'max'  # not the default (the reference's 'range'): another training
    assert dyn_checkpoint_name(args, packed=True) == 'dynmm_freeze1_hard0_reg0.1_scalemax_packed.pt'


def test_limit_loader_and_sample_layouts():
    loader = DataLoader(TensorDataset(torch.arange(10.0)[:, None], torch.ones(10, 4), torch.zeros(10)),
                        batch_size=3)
    assert len(loaders.limit_loader(loader, 4, shuffle=False).dataset) == 4
    assert loaders.limit_loader(loader, 40, shuffle=False) is loader
    sample = loaders.first_sample(loader, packed=False, device=torch.device('cpu'))
    assert [s.shape for s in sample] == [(1, 1), (1, 4)]
    packed = [[torch.ones(1, 5, 2), torch.tensor([5])], [torch.ones(1, 5, 3), torch.tensor([5])]]
    seqs, lengths = loaders.multibench_layout(packed, packed=True)
    assert [s.shape[2] for s in seqs] == [2, 3] and lengths[0].tolist() == [5]


def test_known_split_report_compares_routing_with_the_side_file(tmp_path):
    path = tmp_path / 'mosei.pkl'
    info = write_mosei(path, sizes=(2, 2, 6), seed=1)
    bits = info['text_sufficient']['test']
    perfect = [0 if b == '1' else 1 for b in bits]
    report = evaluation.known_split_report(str(path), perfect, limit=None)
    assert report['agreement'] == 1.0
    assert report['routed_to_text_fraction'] == report['text_sufficient_fraction'] == bits.count('1') / 6
    assert evaluation.known_split_report(str(path), perfect[:3], limit=3)['agreement'] == 1.0
    assert evaluation.known_split_report(str(tmp_path / 'real.pkl'), perfect, limit=None) is None
