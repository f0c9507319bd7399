"""Test metrics of the example scripts, computed as MultiBench computes them (numpy only)."""
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


def affect_metrics(pred: Tensor, truth: Tensor) -> Dict[str, Optional[float]]:
    """``acc`` (sign agreement, samples with label 0 excluded: MultiBench's ``eval_affect``),
    ``acc_with_zero`` (label > 0 versus not), ``mae`` and Pearson ``corr`` of sentiment scores."""
    p = pred.detach().float().reshape(-1).cpu().numpy().astype(np.float64)
    t = truth.detach().float().reshape(-1).cpu().numpy().astype(np.float64)
    if p.shape != t.shape:
        raise ValueError(f'{p.size} predictions for {t.size} labels')
    nonzero = t != 0
    acc = float(((p[nonzero] > 0) == (t[nonzero] > 0)).mean()) if nonzero.any() else None
    corr = float(np.corrcoef(p, t)[0, 1]) if p.size > 1 and p.std() > 0 and t.std() > 0 else None
    return dict(acc=acc, acc_with_zero=float(((p > 0) == (t > 0)).mean()), mae=float(np.abs(p - t).mean()),
                corr=None if corr is None or math.isnan(corr) else corr)
