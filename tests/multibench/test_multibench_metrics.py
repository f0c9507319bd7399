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


def test_affect_metrics():
    pred = torch.tensor([[1.0], [-2.0], [0.5], [0.3]])
    truth = torch.tensor([[2.0], [-1.0], [-0.5], [0.0]])
    m = affect_metrics(pred, truth)
    assert m['acc'] == pytest.approx(2 / 3)  # label 0 excluded
    assert m['acc_with_zero'] == pytest.approx(2 / 4)
    assert m['mae'] == pytest.approx((1 + 1 + 1 + 0.3) / 4)
    assert m['corr'] == pytest.approx(np.corrcoef(pred.flatten(), truth.flatten())[0, 1])
    assert affect_metrics(torch.ones(3, 1), torch.tensor([[1.0], [2.0], [3.0]]))['corr'] is None
