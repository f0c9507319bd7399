"""MLPGate and SequenceGate: shapes, soft and hard weights, gradients, input checks."""
import pytest
import torch

from dynmm_plugins.core import count_macs, gate_activation
from multibench_ext import MLPGate, SequenceGate


def test_mlp_gate_scores_concatenated_features():
    gate = MLPGate(300 + 4096, 128, 2)
    logits = gate([torch.randn(5, 300), torch.randn(5, 4096)])
    assert logits.shape == (5, 2)
    assert count_macs(gate, [torch.randn(1, 300), torch.randn(1, 4096)]) == 4396 * 128 + 128 * 2


def test_mlp_gate_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match='4396 features'):
        MLPGate(4396)([torch.randn(2, 300), torch.randn(2, 100)])
    with pytest.raises(ValueError, match='at least 2'):
        MLPGate(10, 4, 1)


def test_sequence_gate_scores_concatenated_sequences_and_learns():
    torch.manual_seed(0)
    gate = SequenceGate(35 + 74 + 300, embed_dim=10, num_layers=1, ffn_dim=32, dropout=0.0)
    seqs = [torch.randn(4, 7, 35), torch.randn(4, 7, 74), torch.randn(4, 7, 300)]
    logits = gate(seqs)
    assert logits.shape == (4, 2)
    weights = gate_activation(logits, temperature=0.5, hard=True)
    (weights[:, 1] * torch.arange(4.0)).sum().backward()
    assert gate.proj.weight.grad is not None and gate.proj.weight.grad.abs().sum() > 0


def test_sequence_gate_default_is_the_reference_shape():
    gate = SequenceGate()
    assert gate.proj.in_channels == 409 and gate.proj.out_channels == 10
    assert len(gate.encoder.layers) == 5 and gate.encoder.layers[0].linear1.out_features == 2048
    assert gate.fc.out_features == 2


def test_sequence_gate_rejects_sequences_of_different_lengths():
    gate = SequenceGate(6, embed_dim=5, num_layers=1, ffn_dim=8)
    with pytest.raises(ValueError, match='one length'):
        gate([torch.randn(2, 5, 3), torch.randn(2, 4, 3)])


def test_soft_weights_sum_to_one_and_sharpen_with_temperature():
    logits = torch.tensor([[1.0, 2.0], [0.5, -0.5]])
    soft = gate_activation(logits, temperature=1.0)
    sharp = gate_activation(logits, temperature=0.1)
    assert torch.allclose(soft.sum(1), torch.ones(2))
    assert sharp.max(1).values.min() > soft.max(1).values.max()
