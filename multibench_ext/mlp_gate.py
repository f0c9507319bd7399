"""MLP gate on concatenated per-sample features (DynMM's MM-IMDB gate)."""
from typing import Sequence

import torch
from torch import Tensor, nn


class MLPGate(nn.Module):
    """Two-layer perceptron that scores the experts from the concatenated modality features.

    DynMM's MM-IMDB gate is ``MLPGate(300 + 4096, 128, 2)``: word2vec text features and
    VGG image features in, one logit per expert out.

    Args:
        in_features (int): Sum of the feature sizes of all modalities.
        hidden_features (int): Width of the hidden layer. Default: 128.
        num_experts (int): Number of experts (logits). Default: 2.
    """

    def __init__(self, in_features: int, hidden_features: int = 128, num_experts: int = 2):
        super().__init__()
        if num_experts < 2:
            raise ValueError(f'a gate needs at least 2 experts to choose from, got {num_experts}')
        self.in_features = in_features
        self.num_experts = num_experts
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden_features), nn.ReLU(),
                                 nn.Linear(hidden_features, num_experts))

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Gate logits (N, num_experts) from a list of (N, d_i) feature tensors."""
        x = torch.cat([f.flatten(1) for f in features], dim=1)
        if x.shape[1] != self.in_features:
            raise ValueError(f'MLPGate expects {self.in_features} features in all, got {x.shape[1]} '
                             f'({[f.shape[1:] for f in features]})')
        return self.mlp(x)
