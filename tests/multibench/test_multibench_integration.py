"""The six example scripts against a real MultiBench clone, on small synthetic files.

Skipped unless $MULTIBENCH_ROOT points to a MultiBench clone and torchvision imports (MultiBench's
``unimodals`` needs it). Run with, e.g.::

    MULTIBENCH_ROOT=/path/to/MultiBench python -m pytest tests/multibench/test_multibench_integration.py
"""
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from multibench_ext.multibench import ENV_VAR, is_multibench_root
from multibench_ext.synthetic import write_imdb, write_mosei

REPO = Path(__file__).resolve().parents[2]
ROOT = os.environ.get(ENV_VAR, '')


def _torchvision_imports() -> bool:
    # In a subprocess: a torchvision built for another torch can fail in ways other than ImportError.
    return subprocess.run([sys.executable, '-c', 'import torchvision'], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.skipif(not ROOT or not is_multibench_root(ROOT), reason=f'no MultiBench clone in ${ENV_VAR}'),
]
if ROOT and is_multibench_root(ROOT) and not _torchvision_imports():
    pytestmark.append(pytest.mark.skip(reason='torchvision does not import here (MultiBench needs it)'))


def run(script, *args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    proc = subprocess.run([sys.executable, '-m', f'multibench_ext.examples.{script}', '--device', 'cpu', *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    return proc


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def load(path):
    with open(path) as f:
        return json.load(f)


def check_dyn_compute(result):
    fractions = [1 - result['branch_ratio'], result['branch_ratio']]
    gate = result['gate_mflops'] if result['infer_mode'] == 'gate' else 0.0
    expected = gate + fractions[0] * result['text_mflops'] + fractions[1] * result['late_fusion_mflops']
    assert result['mflops_per_sample'] == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- MM-IMDB
@pytest.fixture(scope='module')
def imdb_file(module_mktemp):
    """A full-size (25,959 rows) synthetic MM-IMDB file: MultiBench's split indices need them all."""
    path = module_mktemp('imdb_data') / 'multimodal_imdb.hdf5'
    write_imdb(path, seed=0)
    return path


@pytest.fixture(scope='module')
def imdb(imdb_file, module_mktemp):
    """Both MM-IMDB experts trained on a few rows of the synthetic file."""
    work = module_mktemp('imdb_run')
    for name in (imdb_file.name, imdb_file.name + '.known_split.json'):
        (work / name).symlink_to(imdb_file.parent / name)
    quick = ('--data', 'multimodal_imdb.hdf5', '--limit', 96, '--batch-size', 32, '--n-epochs', 2)
    uni = ok(run('imdb_uni', *quick, '--lr', 1e-3, '--json-out', 'uni.json', cwd=work))
    ok(run('imdb_mm', '--fuse', 1, *quick, '--json-out', 'lf.json', cwd=work))
    return work, quick, uni


def test_imdb_experts_write_checkpoints_and_metrics(imdb):
    work, _, uni = imdb
    assert {'encoder_text.pt', 'head_text.pt', 'best_lf.pt'} <= {p.name for p in (work / 'log/imdb').iterdir()}
    text, lf = load(work / 'uni.json'), load(work / 'lf.json')
    for result in (text, lf):
        assert 0 <= result['f1_micro'] <= 1 and 0 <= result['f1_macro'] <= 1 and result['branch_ratio'] is None
        assert result['data_loader'] == 'multibench_ext'
    assert text['mflops_per_sample'] == pytest.approx(0.6897, abs=1e-4)  # MLP(300,512,512) + MLP(512,512,23)
    assert lf['mflops_per_sample'] == pytest.approx(10.2922, abs=1e-4)
    notes = [line for line in uni.stderr.splitlines() if line.startswith('multibench_ext:')]
    assert len(notes) == 1 and 'datasets.imdb.get_data' in notes[0]
    assert 'f1_micro' in uni.stdout  # MultiBench's own test printed its metrics


def test_imdb_dyn_trains_the_gate_and_reports_realised_compute(imdb):
    work, quick, _ = imdb
    ok(run('imdb_dyn', '--freeze', '--hard-gate', '--reg', 0.1, *quick, '--json-out', 'dyn.json', cwd=work))
    result = load(work / 'dyn.json')
    assert (work / 'log/imdb/dynmm_freeze1_hard1_reg0.1.pt').is_file()
    assert 0 <= result['branch_ratio'] <= 1 and result['known_text_sufficient_fraction'] is not None
    assert result['text_mflops'] < result['late_fusion_mflops']
    check_dyn_compute(result)

    ok(run('imdb_dyn', '--freeze', '--hard-gate', '--reg', 0.1, *quick, '--eval-only', '--infer-mode', 'text',
           '--json-out', 'text_only.json', cwd=work))
    text_only = load(work / 'text_only.json')
    assert text_only['branch_ratio'] == 0.0
    assert text_only['mflops_per_sample'] == pytest.approx(text_only['text_mflops'])
    assert text_only['mflops_per_sample'] < text_only['late_fusion_mflops']
    text = load(work / 'uni.json')
    assert text_only['f1_micro'] == pytest.approx(text['f1_micro'])  # the same network gives the same predictions

    ok(run('imdb_dyn', '--freeze', '--hard-gate', '--reg', 0.1, *quick, '--eval-only', '--infer-mode', 'fusion',
           '--json-out', 'lf_only.json', cwd=work))
    lf_only = load(work / 'lf_only.json')
    assert lf_only['branch_ratio'] == 1.0
    assert lf_only['f1_macro'] == pytest.approx(load(work / 'lf.json')['f1_macro'])


@pytest.mark.parametrize('fuse', [0, 2, 3])
def test_imdb_other_fusions_train_and_test(imdb, fuse, tmp_path):
    work, _, _ = imdb
    # Logs in tmp_path, which goes when the test passes: MultiBench saves whole models (MIM's is 1.1 GB).
    proc = run('imdb_mm', '--fuse', fuse, '--data', 'multimodal_imdb.hdf5', '--limit', 32, '--batch-size', 32,
               '--n-epochs', 1, '--log-dir', tmp_path / 'log', '--json-out', tmp_path / 'f.json', cwd=work)
    if fuse == 2 and proc.returncode == 2:
        # MultiBench's LowRankTensorFusion keeps its factors in a plain list, so they never train;
        # on a few rows the validation F1 can stay 0, and then train() saves nothing.
        assert 'training saved no checkpoint' in proc.stderr.strip().splitlines()[-1]
        return
    ok(proc)
    assert load(tmp_path / 'f.json')['fusion'] == {0: 'ef', 2: 'lrtf', 3: 'mim'}[fuse]


def test_imdb_dyn_without_experts_says_what_to_run(imdb):
    work, quick, _ = imdb
    proc = run('imdb_dyn', *quick, '--log-dir', 'log/empty', cwd=work)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()[-1]
    assert ': error: text expert encoder checkpoint' in err and 'imdb_uni' in err


def test_imdb_missing_data_file(imdb):
    work, _, _ = imdb
    proc = run('imdb_uni', '--data', 'nothing.hdf5', cwd=work)
    assert proc.returncode == 2 and 'data file nothing.hdf5 not found' in proc.stderr


# ----------------------------------------------------------------------------- CMU-MOSEI
@pytest.fixture(scope='module')
def mosei(module_mktemp):
    """A small synthetic MOSEI pickle and both experts trained on it (padded and packed late fusion)."""
    work = module_mktemp('mosei_run')
    write_mosei(work / 'mosei_senti_data.pkl', sizes=(24, 12, 12), seed=0)
    quick = ('--data', 'mosei_senti_data.pkl', '--limit', 12, '--batch-size', 6, '--n-epochs', 1)
    ok(run('affect_uni', *quick, '--json-out', 'uni.json', cwd=work))
    ok(run('affect_mm', '--fuse', 3, *quick, '--json-out', 'lf.json', cwd=work))
    return work, quick


def test_affect_experts_report_metrics(mosei):
    work, _ = mosei
    text, lf = load(work / 'uni.json'), load(work / 'lf.json')
    for result in (text, lf):
        assert {'acc', 'mae', 'corr', 'mflops_per_sample', 'branch_ratio'} <= set(result)
        assert result['mae'] >= 0
    assert text['mflops_per_sample'] < lf['mflops_per_sample']


def test_affect_dyn_trains_the_gate_and_reports_realised_compute(mosei):
    work, quick = mosei
    ok(run('affect_dyn', '--freeze', '--hard-gate', '--reg', 0.1, '--lr', 1e-3, *quick, '--json-out', 'dyn.json',
           cwd=work))
    result = load(work / 'dyn.json')
    assert {'acc', 'mae', 'corr', 'branch_ratio', 'known_agreement'} <= set(result)
    check_dyn_compute(result)
    ok(run('affect_dyn', '--freeze', '--hard-gate', '--reg', 0.1, *quick, '--eval-only', '--infer-mode', 'text',
           '--json-out', 'text_only.json', cwd=work))
    text_only = load(work / 'text_only.json')
    assert text_only['mflops_per_sample'] == pytest.approx(text_only['text_mflops'])
    assert text_only['mflops_per_sample'] < text_only['late_fusion_mflops']
    assert text_only['mae'] == pytest.approx(load(work / 'uni.json')['mae'], rel=1e-5)


def test_affect_packed_layout_end_to_end(mosei):
    work, quick = mosei
    ok(run('affect_mm', '--fuse', 3, '--packed', *quick, '--json-out', 'lf_packed.json', cwd=work))
    assert (work / 'log/mosei/best_lf_tran_packed.pt').is_file()
    ok(run('affect_dyn', '--packed', '--freeze', '--reg', 0.1, *quick, '--json-out', 'dyn_packed.json', cwd=work))
    check_dyn_compute(load(work / 'dyn_packed.json'))
    proc = run('affect_dyn', '--packed', '--freeze', *quick, '--log-dir', 'log/none', cwd=work)
    assert proc.returncode == 2 and 'affect_uni' in proc.stderr


# ----------------------------------------------------------------------------- same batches as MultiBench
@pytest.fixture
def multibench_loaders(monkeypatch):
    """MultiBench's own loader modules, importable thanks to stubs for Theano-era and torchtext imports."""
    monkeypatch.syspath_prepend(ROOT)
    vgg = types.ModuleType('datasets.imdb.vgg')
    vgg.VGGClassifier = object
    monkeypatch.setitem(sys.modules, 'datasets.imdb.vgg', vgg)
    monkeypatch.setitem(sys.modules, 'torchtext', types.ModuleType('torchtext'))
    try:
        import gensim.models  # noqa: F401  (the MM-IMDB loader imports KeyedVectors from it)
    except ImportError:
        gensim = types.ModuleType('gensim')
        gensim.models = types.ModuleType('gensim.models')
        gensim.models.KeyedVectors = object
        monkeypatch.setitem(sys.modules, 'gensim', gensim)
        monkeypatch.setitem(sys.modules, 'gensim.models', gensim.models)
    import datasets.affect.get_data as affect
    import datasets.imdb.get_data as imdb
    yield imdb, affect
    for name in [n for n in sys.modules if n == 'datasets' or n.startswith(('datasets.', 'robustness'))]:
        del sys.modules[name]


def assert_same_batches(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if isinstance(a, (list, tuple)):
            assert type(a) is type(b) or {type(a), type(b)} <= {list, tuple}
            assert_same_batches(a, b)
        else:
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


def test_imdb_reader_yields_multibench_batches(multibench_loaders, imdb_file):
    imdb, _ = multibench_loaders
    path = imdb_file
    from multibench_ext.imdb_data import get_imdb_dataloaders
    theirs = imdb.get_dataloader(str(path), '', num_workers=0, batch_size=64, vgg=True, no_robust=True,
                                 train_shuffle=False)
    ours = get_imdb_dataloaders(path, batch_size=64, train_shuffle=False)
    for our_loader, their_loader in zip(ours, theirs):
        assert len(our_loader.dataset) == len(their_loader.dataset)
        for k, (a, b) in enumerate(zip(our_loader, their_loader)):
            assert_same_batches(a, b)
            if k == 2:
                break


@pytest.mark.parametrize('max_pad', [False, True])
def test_affect_reader_yields_multibench_batches(multibench_loaders, tmp_path, max_pad):
    _, affect = multibench_loaders
    path = tmp_path / 'mosei_senti_data.pkl'
    write_mosei(path, sizes=(10, 7, 9), seed=2)
    from multibench_ext.affect_data import get_affect_dataloaders
    theirs = affect.get_dataloader(str(path), batch_size=4, max_pad=max_pad, train_shuffle=False, num_workers=0,
                                   robust_test=False, data_type='mosei')
    ours = get_affect_dataloaders(path, batch_size=4, max_pad=max_pad, train_shuffle=False)
    for our_loader, their_loader in zip(ours, theirs):
        batches = list(our_loader)
        assert len(batches) == len(their_loader)
        for a, b in zip(batches, their_loader):
            assert_same_batches(a, b)


def test_scripts_use_multibench_loader_when_it_imports(multibench_loaders, tmp_path):
    from argparse import Namespace

    from multibench_ext.affect_data import get_affect_dataloaders
    from multibench_ext.examples.loaders import affect_loaders
    path = tmp_path / 'mosei_senti_data.pkl'
    write_mosei(path, sizes=(8, 4, 6), seed=3)
    args = Namespace(data=str(path), batch_size=3, num_workers=0, limit=5)
    (train, valid, test), source = affect_loaders(args, packed=True)
    assert source == 'multibench' and len(test.dataset) == 5
    ours = get_affect_dataloaders(path, batch_size=3, limit=5)[2]
    for a, b in zip(ours, test):
        assert_same_batches(a, b)
