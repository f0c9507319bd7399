"""DynMMMixture: training mix, hard routing at inference, freezing, gate modes, costs and statistics."""
import pytest
import torch
from multibench_helpers import TinyLateFusion, make_experts
from torch import nn

from dynmm_plugins.core import count_macs
from multibench_ext import (DynMMMixture, FusionExpert, MLPGate, ModalityExpert, PackedPassThrough,
                            PassThroughHead, SequenceGate)


def expert_outputs(experts, inputs):
    return [e(inputs) for e in experts]


def test_training_output_is_gate_weighted_sum_of_experts(experts, gate, batch):
    mix = DynMMMixture(experts, gate, temperature=2.0).train()
    for e in experts:
        e.eval()  # deterministic BatchNorm for the reference computation below
    mix.freeze_experts = False
    out, weights = mix(batch)
    expected = torch.softmax(gate(batch) / 2.0, dim=1)
    assert torch.allclose(weights, expected)
    outs = expert_outputs(experts, batch)
    assert torch.allclose(out, weights[:, :1] * outs[0] + weights[:, 1:] * outs[1], atol=1e-6)


def test_hard_gate_is_one_hot_forward_and_passes_gradients_to_the_gate(experts, gate, batch):
    mix = DynMMMixture(experts, gate, gate_mode='hard', freeze_experts=True).train()
    out, weights = mix(batch)
    assert set(weights.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(weights.sum(1), torch.ones(12))
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gate.parameters())


def test_soft_gate_gradient_reaches_gate_and_unfrozen_experts(experts, gate, batch):
    mix = DynMMMixture(experts, gate).train()
    out, _ = mix(batch)
    out.pow(2).sum().backward()
    assert all(p.grad is not None for p in gate.parameters())
    assert all(p.grad is not None for p in experts[0].parameters())


def test_freeze_keeps_experts_without_grad_and_in_eval_mode(experts, gate, batch):
    mix = DynMMMixture(experts, gate, freeze_experts=True)
    mix.train()
    assert all(not p.requires_grad for p in mix.experts.parameters())
    assert all(p.requires_grad for p in mix.gate.parameters())
    assert not any(m.training for m in mix.experts.modules())
    assert mix.gate.training
    bn = experts[1].model.encoders[0][0]
    before = bn.running_mean.clone()
    mix(batch)
    assert torch.equal(bn.running_mean, before)  # frozen BatchNorm statistics do not drift


def test_inference_routes_each_sample_to_its_arg_max_expert(experts, gate, batch):
    mix = DynMMMixture(experts, gate).eval()
    out, weights = mix(batch)
    branches = gate(batch).argmax(1)
    assert torch.equal(weights.argmax(1), branches)
    outs = expert_outputs(experts, batch)
    expected = torch.where(branches[:, None] == 0, outs[0], outs[1])
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.equal(mix.last_branches, branches)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_routed_inference_equals_computing_all_experts_and_selecting(seed):
    torch.manual_seed(seed)
    experts = make_experts()
    for e in experts:  # non-trivial BatchNorm statistics
        e.train()
        e([torch.randn(64, 6) * 3 + 1, torch.randn(64, 10) * 2 - 1])
    gate = MLPGate(16, 8, 2)
    nn.init.normal_(gate.mlp[-1].weight, std=3.0)
    nn.init.zeros_(gate.mlp[-1].bias)
    x = [torch.randn(33, 6), torch.randn(33, 10)]
    routed = DynMMMixture(experts, gate, skip_unused_experts=True).eval()
    dense = DynMMMixture(experts, gate, skip_unused_experts=False).eval()
    out_r, w_r = routed(x)
    out_d, w_d = dense(x)
    assert torch.equal(w_r, w_d)
    assert 0 < routed.last_branches.sum() < 33  # both experts used
    # Equal up to float rounding: BLAS may block a matmul differently for a sub-batch.
    assert torch.allclose(out_r, out_d, rtol=0, atol=1e-6)


class CountingExpert(nn.Module):
    """Records the batch sizes it was called with."""

    def __init__(self, value):
        super().__init__()
        self.value = value
        self.calls = []

    def forward(self, inputs):
        self.calls.append(inputs[0].shape[0])
        return torch.full((inputs[0].shape[0], 1), float(self.value))


class FixedGate(nn.Module):
    def __init__(self, branches):
        super().__init__()
        self.branches = branches

    def forward(self, features):
        return nn.functional.one_hot(self.branches, 2).float() * 10


def test_routed_inference_runs_each_expert_only_on_its_samples():
    branches = torch.tensor([0, 1, 1, 0, 1])
    cheap, costly = CountingExpert(0), CountingExpert(1)
    mix = DynMMMixture([cheap, costly], FixedGate(branches)).eval()
    out, _ = mix([torch.zeros(5, 2)])
    assert cheap.calls == [2] and costly.calls == [3]
    assert out.squeeze(1).tolist() == branches.float().tolist()  # order restored


def test_fixed_gate_forces_one_expert_and_skips_the_gate(experts, batch):
    class Exploding(nn.Module):
        def forward(self, features):
            raise AssertionError("the gate must not run when the 'fixed' mode forces an expert")

    mix = DynMMMixture(experts, Exploding(), gate_mode='fixed', fixed_branch=1).eval()
    out, weights = mix(batch)
    assert torch.allclose(out, experts[1](batch), atol=1e-6)
    assert weights[:, 1].eq(1).all()


def test_gate_override_forces_an_expert_and_restores_the_gate(experts, gate, batch):
    mix = DynMMMixture(experts, gate, gate_mode='hard', temperature=0.5).eval()
    with mix.gate_override('fixed', branch=0, skip_unused_experts=False):
        out, weights = mix(batch)
        assert torch.allclose(out, experts[0](batch), atol=1e-6) and weights[:, 0].eq(1).all()
    assert (mix.gate_mode, mix.fixed_branch, mix.temperature, mix.skip_unused_experts) == ('hard', None, 0.5, True)
    with pytest.raises(ValueError, match='branch'):
        with mix.gate_override('fixed', branch=2):
            pass
    assert mix.gate_mode == 'hard'


def test_settings_are_validated(experts, gate):
    with pytest.raises(ValueError, match='branch'):
        DynMMMixture(experts, gate, gate_mode='fixed', fixed_branch=2)
    with pytest.raises(ValueError, match='gate mode'):
        DynMMMixture(experts, gate, gate_mode='route')
    with pytest.raises(ValueError, match="only meaningful for gate mode 'fixed'"):
        DynMMMixture(experts, gate, fixed_branch=1)
    with pytest.raises(ValueError, match='temperature'):
        DynMMMixture(experts, gate, temperature=0)
    with pytest.raises(ValueError, match='at least 2'):
        DynMMMixture(experts[:1], gate)


def test_measured_costs_match_the_flop_counter_and_cheap_is_cheaper(experts, gate, batch):
    sample = [x[:1] for x in batch]
    expected = [count_macs(experts[0], sample), count_macs(experts[1].eval(), sample)]
    mix = DynMMMixture(experts, gate).train()
    costs = mix.measure_costs(sample)
    assert costs == expected
    assert 0 < costs[0] < costs[1]
    # text expert: Linear(6, 4) + Linear(4, 3) -> 24 + 12 MACs
    assert costs[0] == 36
    assert mix.gate_macs == 16 * 8 + 8 * 2
    assert mix.training and mix.experts[1].model.encoders[0][0].training  # modes restored


def test_gate_summary_reports_realised_cost_and_branch_ratio():
    branches = torch.tensor([0, 1, 1, 0, 0, 0, 1, 0])
    mix = DynMMMixture([CountingExpert(0), CountingExpert(1)], FixedGate(branches)).eval()
    mix.expert_macs, mix.gate_macs = [1_000_000, 9_000_000], 500_000
    mix.reset_stats()
    mix([torch.zeros(8, 2)])
    summary = mix.gate_summary()
    assert summary['branch_fractions'] == [0.625, 0.375]
    assert summary['branch_ratio'] == 0.375
    assert summary['mflops_per_sample'] == pytest.approx(0.625 * 1 + 0.375 * 9 + 0.5)
    mix.set_gate('fixed', branch=1)
    mix.reset_stats()
    mix([torch.zeros(8, 2)])
    assert mix.gate_summary()['mflops_per_sample'] == pytest.approx(9.0)  # forced: no gate cost


def test_packed_sequence_inputs_route_like_dense():
    torch.manual_seed(0)

    class LastStep(nn.Module):
        """Sequence encoder that reads [sequence, lengths] and uses each sample's last real step."""

        def __init__(self, d, out):
            super().__init__()
            self.fc = nn.Linear(d, out)

        def forward(self, x):
            seq, lengths = x
            return self.fc(seq[torch.arange(seq.shape[0]), lengths.to(seq.device) - 1])

    class PackedLateFusion(nn.Module):
        has_padding = True

        def __init__(self):
            super().__init__()
            self.encoders = nn.ModuleList([LastStep(3, 4), LastStep(5, 4), LastStep(7, 4)])
            self.head = nn.Linear(12, 1)

        def forward(self, inputs):  # MultiBench's packed layout [[sequences], [lengths]]
            seqs, lengths = inputs
            return self.head(torch.cat([e([s, n]) for e, s, n in zip(self.encoders, seqs, lengths)], 1))

    experts = [ModalityExpert(LastStep(7, 4), nn.Linear(4, 1), modality=2), FusionExpert(PackedLateFusion())]
    assert experts[1].packed
    gate = SequenceGate(15, embed_dim=5, num_heads=5, num_layers=1, ffn_dim=16)
    lengths = torch.tensor([5, 3, 6, 6, 2, 4, 1, 6])
    inputs = [[torch.randn(8, 6, d), lengths] for d in (3, 5, 7)]
    routed = DynMMMixture(experts, gate, skip_unused_experts=True).eval()
    dense = DynMMMixture(experts, gate, skip_unused_experts=False).eval()
    out_r, _ = routed(inputs)
    out_d, _ = dense(inputs)
    assert torch.equal(out_r, out_d)


def test_mixture_works_inside_an_mmdl_shaped_pipeline_with_pass_throughs(experts, gate, batch):
    # The data flow MultiBench's MMDL applies (encoders -> fusion -> element 0 to the head),
    # for the unpacked and the packed layout.
    mix = DynMMMixture(experts, gate).eval()
    fused = mix([nn.Identity()(x) for x in batch])
    assert isinstance(fused, tuple)
    assert torch.equal(PassThroughHead()(fused[0]), fused[0])
    pairs = [PackedPassThrough()([x, torch.full((12,), 1)]) for x in batch]
    assert [len(p) for p in pairs] == [1, 1]  # MMDL passes p[0] = [x, lengths] on to the fusion
    assert torch.equal(PassThroughHead()([fused[0], torch.ones(12)]), fused[0])


def test_fusion_expert_on_unpacked_inputs_and_packed_model_mismatch():
    model = TinyLateFusion()
    model.has_padding = True
    with pytest.raises(ValueError, match='packed'):
        FusionExpert(model)([torch.zeros(2, 6), torch.zeros(2, 10)])
