"""Helpers of the MultiBench-side tests: tiny experts and small affect splits."""
import numpy as np
import torch
from torch import nn

from multibench_ext import FusionExpert, ModalityExpert

TINY_IMDB_SPLITS = {'train': (0, 40), 'valid': (40, 50), 'test': (50, 64)}


class TinyLateFusion(nn.Module):
    """A small stand-in for MultiBench's late-fusion MMDL: one encoder per modality, concat, linear."""

    def __init__(self, dims=(6, 10), hidden=8, out=3, batch_norm=True):
        super().__init__()
        self.encoders = nn.ModuleList(
            nn.Sequential(nn.BatchNorm1d(d) if batch_norm else nn.Identity(), nn.Linear(d, hidden), nn.ReLU())
            for d in dims)
        self.head = nn.Linear(hidden * len(dims), out)

    def forward(self, inputs):
        return self.head(torch.cat([enc(x) for enc, x in zip(self.encoders, inputs)], dim=1))


def make_experts(dims=(6, 10), out=3):
    """A cheap text-like expert on modality 0 and an expensive late-fusion expert on all modalities."""
    text = ModalityExpert(nn.Linear(dims[0], 4), nn.Linear(4, out), modality=0)
    return [text, FusionExpert(TinyLateFusion(dims, hidden=32, out=out))]


def mosei_split(n=4, steps=5, dims=(3, 4, 6), seed=0):
    """A small, valid affect split (front-padded sequences)."""
    rng = np.random.default_rng(seed)
    split = {key: rng.normal(size=(n, steps, d)).astype(np.float32)
             for key, d in zip(('vision', 'audio', 'text'), dims)}
    for key in ('vision', 'audio', 'text'):
        split[key][:, :2] = 0  # two padding steps in front
    split['labels'] = rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32)
    split['id'] = np.array([[f'v{i}', '0', '1'] for i in range(n)])
    return split
