"""--preds-out: the MOSEI and MM-IMDB scripts' test predictions recompute their JSON metrics.

Needs $MULTIBENCH_ROOT (a MultiBench clone) and torchvision, like the integration tests.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from multibench_ext.multibench import ENV_VAR, is_multibench_root
from multibench_ext.synthetic import write_imdb, write_mosei

REPO = Path(__file__).resolve().parents[2]
ROOT = os.environ.get(ENV_VAR, '')



def _multibench_imports() -> bool:
    # In a subprocess: MultiBench's modules import torchvision, scikit-learn, memory_profiler, ...
    code = f'from multibench_ext.multibench import import_multibench; import_multibench({ROOT!r})'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    return subprocess.run([sys.executable, '-c', code], capture_output=True, env=env).returncode == 0


pytestmark = pytest.mark.skipif(not ROOT or not is_multibench_root(ROOT) or not _multibench_imports(),
                                reason=f'no MultiBench clone in ${ENV_VAR}, or its requirements do not import')


def run(script, *args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    proc = subprocess.run([sys.executable, '-m', f'multibench_ext.examples.{script}', '--device', 'cpu',
                           *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def weighted_f1(truth, pred):
    score = 0.0
    for label in (False, True):
        tp = np.sum((truth == label) & (pred == label))
        fp = np.sum((truth != label) & (pred == label))
        fn = np.sum((truth == label) & (pred != label))
        score += (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0) * np.mean(truth == label)
    return score


def test_mosei_preds_out_recomputes_every_metric_with_zero_labels(tmp_path):
    write_mosei(tmp_path / 'mosei.pkl', sizes=(16, 8, 20), seed=1, zero_fraction=0.25)
    run('affect_uni', '--data', 'mosei.pkl', '--n-epochs', 1, '--batch-size', 8, '--json-out', 'uni.json',
        '--preds-out', 'out/uni.npz', cwd=tmp_path)
    result = json.loads((tmp_path / 'uni.json').read_text())
    saved = np.load(tmp_path / 'out/uni.npz')
    p, t = saved['preds'], saved['truths']
    assert p.shape == t.shape == (20,) and (t == 0).sum() == 5
    nz = t != 0
    expected = dict(acc=np.mean((t >= 0) == (p >= 0)), acc2_has0=np.mean((t >= 0) == (p >= 0)),
                    f1_has0=weighted_f1(t >= 0, p >= 0), acc2_non0=np.mean((t[nz] > 0) == (p[nz] > 0)),
                    f1_non0=weighted_f1(t[nz] > 0, p[nz] > 0),
                    acc7=np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(t, -3, 3))),
                    mae=np.mean(np.abs(p - t)), corr=np.corrcoef(p, t)[0, 1])
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-5, abs=1e-9), key


def test_imdb_preds_out_recomputes_f1(tmp_path):
    write_imdb(tmp_path / 'imdb.hdf5', seed=0)
    run('imdb_uni', '--data', 'imdb.hdf5', '--n-epochs', 1, '--limit', 64, '--json-out', 'uni.json',
        '--preds-out', 'uni.npz', cwd=tmp_path)
    result = json.loads((tmp_path / 'uni.json').read_text())
    saved = np.load(tmp_path / 'uni.npz')
    pred, truth, logits = saved['preds'].astype(bool), saved['truths'].astype(bool), saved['logits']
    assert pred.shape == truth.shape == logits.shape == (64, 23)
    np.testing.assert_array_equal(pred, logits > 0)
    tp, wrong = (pred & truth).sum(0), (pred ^ truth).sum(0)
    assert result['f1_micro'] == pytest.approx(2 * tp.sum() / (2 * tp.sum() + wrong.sum()))
    per_class = np.where(2 * tp + wrong > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0)
    assert result['f1_macro'] == pytest.approx(per_class.mean())
