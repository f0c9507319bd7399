"""Test metrics of a trained network, and how a mixture's routing matches a synthetic file's known split."""
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..metrics import affect_metrics, imdb_metrics, multilabel_predictions
from ..synthetic import read_known_split
from .environment import note_once


@torch.no_grad()
def predict(model: Callable[[List[Any]], torch.Tensor], loader: DataLoader, packed: bool, device: torch.device,
            on_batch: Optional[Callable[[], None]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Predictions and labels over ``loader``, feeding inputs as MultiBench's ``single_test`` does.

    ``model`` takes the MMDL layout for MMDL models; pass a mixture-layout callable otherwise.
    """
    preds, truths = [], []
    for batch in loader:
        if packed:
            inputs = [[x.float().to(device) for x in batch[0]], batch[1]]
        else:
            inputs = [x.float().to(device) for x in batch[:-1]]
        preds.append(model(inputs).detach().cpu())
        truths.append(batch[-1].cpu())
        if on_batch is not None:
            on_batch()
    return torch.cat(preds), torch.cat(truths)


class RunMetrics(dict):
    """One run's test metrics (the JSON entry), carrying the predictions they came from.

    Args:
        metrics (dict): Metric name -> value.
        preds (np.ndarray): Test predictions: MOSEI scores (N,), MM-IMDB 0/1 genres (N, 23).
        truths (np.ndarray): Test labels, same shape.
        logits (np.ndarray, optional): MM-IMDB logits (N, 23).
    """

    def __init__(self, metrics: Dict[str, Any], preds: np.ndarray, truths: np.ndarray,
                 logits: Optional[np.ndarray] = None) -> None:
        super().__init__(metrics)
        self.arrays = dict(preds=preds, truths=truths)
        if logits is not None:
            self.arrays['logits'] = logits


def evaluate(dataset: str, model, loader: DataLoader, packed: bool, device: torch.device,
             on_batch: Optional[Callable[[], None]] = None) -> RunMetrics:
    """Test metrics: MM-IMDB ``f1_micro``, ``f1_macro``; MOSEI ``acc``, ``acc2_non0``, ``f1_non0``,
    ``acc2_has0``, ``f1_has0``, ``acc7``, ``mae``, ``corr`` (see ``multibench_ext.metrics``)."""
    preds, truths = predict(model, loader, packed, device, on_batch)
    if dataset == 'imdb':
        return RunMetrics(imdb_metrics(preds, truths), multilabel_predictions(preds), truths.cpu().numpy(),
                          logits=preds.float().numpy())
    return RunMetrics(affect_metrics(preds, truths), preds.float().reshape(-1).numpy(),
                      truths.float().reshape(-1).numpy())


def known_split_report(data: str, branches: List[int], limit: Optional[int]) -> Optional[Dict[str, Any]]:
    """How the gate's test routing matches the synthetic file's known text-sufficient samples.

    None for files without a side file (real data) or when the counts disagree.
    """
    info = read_known_split(data)
    if info is None:
        return None
    bits = info['text_sufficient'].get('test', '')
    if limit is not None:
        bits = bits[:limit]
    if len(bits) != len(branches):
        note_once(f'known split of {data} has {len(bits)} test samples, the run saw {len(branches)}; not compared')
        return None
    sufficient = np.array([b == '1' for b in bits])
    to_text = np.array(branches) == 0
    return dict(text_sufficient_fraction=float(sufficient.mean()), routed_to_text_fraction=float(to_text.mean()),
                agreement=float((sufficient == to_text).mean()),
                text_sufficient_routed_to_text=float(to_text[sufficient].mean()) if sufficient.any() else None,
                text_insufficient_routed_to_fusion=float((~to_text[~sufficient]).mean()) if (~sufficient).any()
                else None)
