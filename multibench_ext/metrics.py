"""Test metrics of the example scripts, as MultiBench and the published tables compute them (numpy only)."""
import math
from typing import Dict, Optional

import numpy as np
import torch
from torch import Tensor


def multilabel_predictions(logits: Tensor) -> np.ndarray:
    """0/1 predictions as MultiBench makes them: ``sigmoid(logits).round()``."""
    return torch.sigmoid(logits.float()).round().cpu().numpy().astype(np.int64)


def f1_scores(truth: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """Micro and macro F1 of 0/1 matrices (N, C), as scikit-learn's ``f1_score`` (an undefined F1 counts 0)."""
    truth, pred = np.asarray(truth).astype(bool), np.asarray(pred).astype(bool)
    if truth.shape != pred.shape:
        raise ValueError(f'truth {truth.shape} and predictions {pred.shape} differ in shape')
    tp = (truth & pred).sum(axis=0).astype(np.float64)
    wrong = (truth ^ pred).sum(axis=0).astype(np.float64)  # false positives + false negatives
    per_class = np.divide(2 * tp, 2 * tp + wrong, out=np.zeros_like(tp), where=(2 * tp + wrong) > 0)
    total = 2 * tp.sum() + wrong.sum()
    return dict(f1_micro=float(2 * tp.sum() / total) if total > 0 else 0.0, f1_macro=float(per_class.mean()))


def imdb_metrics(logits: Tensor, genres: Tensor) -> Dict[str, float]:
    """``f1_micro`` and ``f1_macro`` of MM-IMDB genre logits (N, 23) against 0/1 genres."""
    return f1_scores(genres.cpu().numpy(), multilabel_predictions(logits))


def weighted_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """F1 per class, averaged with the classes' true counts as weights (scikit-learn's
    ``f1_score(average='weighted')``: classes are those in truth or predictions, an undefined F1 is 0)."""
    truth, pred = np.asarray(truth).reshape(-1), np.asarray(pred).reshape(-1)
    total = 0.0
    for label in np.union1d(truth, pred):
        tp = float(np.sum((truth == label) & (pred == label)))
        wrong = float(np.sum((truth == label) != (pred == label)))
        total += (2 * tp / (2 * tp + wrong) if tp + wrong > 0 else 0.0) * float(np.sum(truth == label))
    return total / truth.size if truth.size else 0.0


def affect_metrics(pred: Tensor, truth: Tensor) -> Dict[str, Optional[float]]:
    """Sentiment metrics of MOSEI scores, under every convention published tables use.

    - ``acc``: the DynMM reference's binary accuracy, truth >= 0 versus prediction >= 0
      (zeros count as positive); the same value as ``acc2_has0``.
    - ``acc2_non0``, ``f1_non0``: samples with truth 0 excluded, truth > 0 versus
      prediction > 0 (MulT / MMSA "non0"; MultiBench's ``eval_affect``); weighted F1.
    - ``acc2_has0``, ``f1_has0``: every sample, truth >= 0 versus prediction >= 0
      (MMSA "has0"); weighted F1.
    - ``acc7``: both rounded to the nearest integer after clipping to [-3, 3].
    - ``mae``; ``corr``: Pearson correlation of the continuous values.

    A metric that is undefined on the given values (no non-zero truth; constant scores
    for ``corr``) is None.
    """
    p = pred.detach().float().reshape(-1).cpu().numpy().astype(np.float64)
    t = truth.detach().float().reshape(-1).cpu().numpy().astype(np.float64)
    if p.shape != t.shape:
        raise ValueError(f'{p.size} predictions for {t.size} labels')
    nonzero = t != 0
    has0_truth, has0_pred = t >= 0, p >= 0
    non0_truth, non0_pred = t[nonzero] > 0, p[nonzero] > 0
    acc2_has0 = float((has0_truth == has0_pred).mean())
    corr = float(np.corrcoef(p, t)[0, 1]) if p.size > 1 and p.std() > 0 and t.std() > 0 else None
    return dict(
        acc=acc2_has0,
        acc2_non0=float((non0_truth == non0_pred).mean()) if nonzero.any() else None,
        f1_non0=weighted_f1(non0_truth, non0_pred) if nonzero.any() else None,
        acc2_has0=acc2_has0,
        f1_has0=weighted_f1(has0_truth, has0_pred),
        acc7=float((np.round(np.clip(p, -3, 3)) == np.round(np.clip(t, -3, 3))).mean()),
        mae=float(np.abs(p - t).mean()),
        corr=None if corr is None or math.isnan(corr) else corr)
