"""Metrics as MultiBench computes them: multilabel F1 (sklearn semantics), MOSEI acc/MAE/corr."""
import numpy as np
import pytest
import torch

from multibench_ext.metrics import affect_metrics, f1_scores, imdb_metrics


def test_f1_micro_and_macro_by_hand():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    pred = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0]])
    scores = f1_scores(truth, pred)
    # micro: tp 3, fp 1, fn 2 -> 6 / 9; per class: 1.0, 2/3, 0.0
    assert scores['f1_micro'] == pytest.approx(6 / 9)
    assert scores['f1_macro'] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)


def test_class_without_labels_or_predictions_counts_zero_like_sklearn():
    truth = np.array([[1, 0], [1, 0]])
    assert f1_scores(truth, truth)['f1_macro'] == pytest.approx(0.5)


def test_imdb_metrics_threshold_logits_at_zero():
    logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
    genres = torch.tensor([[1, 0], [0, 1]], dtype=torch.int32)
    assert imdb_metrics(logits, genres) == {'f1_micro': 1.0, 'f1_macro': 1.0}


def independent_mosei_metrics(p, t):
    """The published conventions, written out again (MMSA's eval_mosei_senti, DynMM's reference)."""
    def weighted_f1(y, z):
        score = 0.0
        for label in (False, True):
            tp = np.sum((y == label) & (z == label))
            fp = np.sum((y != label) & (z == label))
            fn = np.sum((y == label) & (z != label))
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            score += f1 * np.sum(y == label) / len(y)
        return score
    nz = t != 0
    return dict(acc=np.mean((t >= 0) == (p >= 0)),
                acc2_non0=np.mean((t[nz] > 0) == (p[nz] > 0)), f1_non0=weighted_f1(t[nz] > 0, p[nz] > 0),
                acc2_has0=np.mean((t >= 0) == (p >= 0)), f1_has0=weighted_f1(t >= 0, p >= 0),
                acc7=np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(t, -3, 3))),
                mae=np.mean(np.abs(p - t)), corr=np.corrcoef(p, t)[0, 1])


def test_affect_metrics_by_hand():
    pred = torch.tensor([[1.0], [-2.0], [0.5], [0.3], [-0.2], [3.6]])
    truth = torch.tensor([[2.0], [-1.0], [-0.5], [0.0], [0.0], [3.0]])
    m = affect_metrics(pred, truth)
    assert m['acc'] == m['acc2_has0'] == pytest.approx(4 / 6)  # zeros count as positive
    assert m['acc2_non0'] == pytest.approx(3 / 4)  # the two zero labels excluded
    # non0: truth (T, F, F, T), pred (T, F, T, T): F1(T) = 4/5, F1(F) = 2/3, weights 2/4 each
    assert m['f1_non0'] == pytest.approx(0.5 * 4 / 5 + 0.5 * 2 / 3)
    # has0: truth (T, F, F, T, T, T), pred (T, F, T, T, F, T): F1(T) = 6/8, F1(F) = 2/4
    assert m['f1_has0'] == pytest.approx(4 / 6 * 6 / 8 + 2 / 6 * 2 / 4)
    assert m['acc7'] == pytest.approx(4 / 6)  # 1 vs 2, -2 vs -1 miss; 0 vs -0, 0 vs 0, -0 vs 0, 3 vs 3 hit
    assert m['mae'] == pytest.approx((1 + 1 + 1 + 0.3 + 0.2 + 0.6) / 6)
    assert m['corr'] == pytest.approx(np.corrcoef(pred.flatten(), truth.flatten())[0, 1])
    assert affect_metrics(torch.ones(3, 1), torch.tensor([[1.0], [2.0], [3.0]]))['corr'] is None


def test_affect_metrics_match_an_independent_computation_with_many_zero_labels():
    rng = np.random.default_rng(0)
    truth = np.round(rng.uniform(-3, 3, 500) * 3) / 3
    truth[rng.random(500) < 0.25] = 0.0
    pred = truth + rng.normal(0, 1.0, 500)
    m = affect_metrics(torch.tensor(pred), torch.tensor(truth))
    expected = independent_mosei_metrics(pred, truth)
    assert set(m) == set(expected)
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-6), key
    assert m['acc2_has0'] != m['acc2_non0']


def test_only_zero_labels_leave_the_non0_metrics_undefined():
    m = affect_metrics(torch.tensor([0.5, -0.5]), torch.zeros(2))
    assert m['acc2_non0'] is None and m['f1_non0'] is None and m['acc'] == pytest.approx(0.5)
