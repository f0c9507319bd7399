"""count_macs counts attention's matrix products on every path a Transformer can take."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dynmm_plugins.core import count_macs

B, L, E, H, FFN = 3, 7, 20, 5, 48


def hand_count_encoder_layer(batch, length, embed, ffn):
    """MACs of one TransformerEncoderLayer, counted by hand."""
    tokens = batch * length
    qkv = tokens * embed * 3 * embed
    scores = batch * length * length * embed  # QK^T over all heads
    mix = batch * length * length * embed  # softmax(QK^T) V
    out_proj = tokens * embed * embed
    feed_forward = 2 * tokens * embed * ffn
    return qkv + scores + mix + out_proj + feed_forward


@pytest.mark.parametrize('batch_first', [False, True], ids=['seq-first (MultiBench)', 'batch-first fast path'])
def test_transformer_layer_macs_match_hand_count(batch_first):
    layer = nn.TransformerEncoderLayer(E, H, FFN, batch_first=batch_first).eval()
    x = torch.randn(B, L, E) if batch_first else torch.randn(L, B, E)
    assert count_macs(layer, x) == hand_count_encoder_layer(B, L, E, FFN)


def test_transformer_layer_counts_attention_in_training_mode():
    layer = nn.TransformerEncoderLayer(E, H, FFN, dropout=0.0).train()
    assert count_macs(layer, torch.randn(L, B, E)) == hand_count_encoder_layer(B, L, E, FFN)


@pytest.mark.parametrize('need_weights', [False, True])
def test_multihead_attention_fused_path_counts_projections_and_products(need_weights):
    mha = nn.MultiheadAttention(E, H, batch_first=True).eval()
    q, kv = torch.randn(B, L, E), torch.randn(B, 11, E)
    expected = B * L * E * E * 2 + B * 11 * E * E * 2 + 2 * B * L * 11 * E
    assert count_macs(mha, q, kv, kv, need_weights=need_weights) == expected


def test_scaled_dot_product_attention_and_batched_matmul():
    q, k, v = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 9, 8), torch.randn(2, 4, 9, 10)
    assert count_macs(F.scaled_dot_product_attention, q, k, v) == 2 * 4 * 6 * 9 * (8 + 10)
    assert count_macs(torch.matmul, q, k.transpose(-1, -2)) == 2 * 4 * 6 * 9 * 8
