"""Transformer gate on concatenated sequences (DynMM's CMU-MOSEI gate)."""
from typing import Sequence

import torch
from torch import Tensor, nn


class SequenceGate(nn.Module):
    """Transformer encoder that scores the experts from the concatenated modality sequences.

    The modalities are concatenated per time step (MOSEI: 35 vision + 74 audio + 300
    text = 409 features), projected by a 1x1 convolution to ``embed_dim``, encoded by a
    ``num_layers`` Transformer, and the last time step is mapped to one logit per
    expert. With the defaults this is the shape of DynMM's ``Transformer(409, 10) +
    Linear(10, 2)`` gate (MultiBench's ``Transformer`` uses 5 heads, 5 layers and
    torch's default 2048-wide feed-forward).

    Args:
        in_features (int): Features per time step, summed over modalities. Default: 409.
        embed_dim (int): Transformer width; must be divisible by ``num_heads``. Default: 10.
        num_experts (int): Number of experts (logits). Default: 2.
        num_heads (int): Attention heads. Default: 5.
        num_layers (int): Transformer layers. Default: 5.
        ffn_dim (int): Feed-forward width of each layer. Default: 2048.
        dropout (float): Dropout inside the Transformer layers. Default: 0.1.
    """

    def __init__(self, in_features: int = 409, embed_dim: int = 10, num_experts: int = 2,
                 num_heads: int = 5, num_layers: int = 5, ffn_dim: int = 2048, dropout: float = 0.1):
        super().__init__()
        if num_experts < 2:
            raise ValueError(f'a gate needs at least 2 experts to choose from, got {num_experts}')
        self.in_features = in_features
        self.num_experts = num_experts
        self.proj = nn.Conv1d(in_features, embed_dim, kernel_size=1, bias=False)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward=ffn_dim, dropout=dropout)
        # Nested tensors only pay off with padding masks, which this gate does not use.
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.fc = nn.Linear(embed_dim, num_experts)

    def forward(self, sequences: Sequence[Tensor]) -> Tensor:
        """Gate logits (N, num_experts) from a list of (N, T, d_i) sequences of equal length T."""
        lengths = {s.shape[1] for s in sequences}
        if len(lengths) != 1:
            raise ValueError(f'SequenceGate needs sequences of one length, got {[tuple(s.shape) for s in sequences]}')
        x = torch.cat(sequences, dim=2)
        if x.shape[2] != self.in_features:
            raise ValueError(f'SequenceGate expects {self.in_features} features per step, got {x.shape[2]}')
        x = self.proj(x.transpose(1, 2))            # (N, E, T)
        x = self.encoder(x.permute(2, 0, 1))        # (T, N, E): torch's default sequence-first layout
        return self.fc(x[-1])
