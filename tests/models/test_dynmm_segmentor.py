import pytest
import torch

pytest.importorskip('mmseg')
from mmengine.optim import OptimWrapper  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

from helpers.tiny_dynmm import build_tiny  # noqa: E402

H, W = 64, 96


def _batch(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.rand(4, H, W, generator=g) * 255 for _ in range(n)]
    samples = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, H, W), generator=g))
        s.set_metainfo(dict(img_shape=(H, W), ori_shape=(H, W), pad_shape=(H, W)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture
def model():
    """A fresh model per test: tests change its gate mode and train it."""
    torch.manual_seed(0)
    return build_tiny()


def test_train_step_logs_resource_loss_and_branch_fractions(model):
    model.train()
    model.set_gate('soft', 1.0)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(_batch(), optim)
    assert {'loss', 'decode.loss_ce', 'decode.loss_side_s32', 'decode.loss_side_s8', 'loss_resource',
            'gflops_expected', 'branch_frac_0', 'branch_frac_4'} <= set(log_vars)
    assert sum(log_vars[f'branch_frac_{k}'] for k in range(5)) == pytest.approx(1.0)
    assert log_vars['loss_resource'] > 0


def test_static_model_trains_without_gate():
    torch.manual_seed(0)
    static = build_tiny(loss_resource=None,
                        backbone=dict(type='DynMMRGBDResNet', depth=18, block='BasicBlock', gate=None))
    static.train()
    assert static.gate_mode == 'baseline' and not static.has_gate
    optim = OptimWrapper(torch.optim.SGD(static.parameters(), lr=0.01))
    log_vars = static.train_step(_batch(), optim)
    assert 'loss_resource' not in log_vars and log_vars['branch_frac_4'] == 1.0
    with pytest.raises(ValueError, match='static ESANet'):
        static.set_gate('soft')


@pytest.mark.parametrize('mode', ['soft', 'hard'])
def test_gradients_reach_the_gate(model, mode):
    model.train()
    model.set_gate(mode, 0.5)
    model.zero_grad()
    data = model.data_preprocessor(_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grad = model.backbone.gate.fc.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_set_gate_modes(model):
    model.eval()
    x = torch.randn(3, 4, H, W)
    model.set_gate('baseline')
    model._forward(x)
    assert model.last_gate_weights.argmax(1).tolist() == [4, 4, 4]
    model.set_gate('fixed', branch=1)
    model._forward(x)
    assert model.last_gate_weights.argmax(1).tolist() == [1, 1, 1]
    model.set_gate('hard', temperature=0.3)
    assert model.temperature == 0.3
    model._forward(x)
    assert torch.equal(model.last_gate_weights.sum(1), torch.ones(3))
    torch.manual_seed(0)
    model.train()
    model.set_gate('random')
    picks = model.gate_weights(None, 500, 'cpu').argmax(1)
    assert set(picks.tolist()) == {0, 1, 2, 3, 4}
    model.eval()
    # soft training mode evaluates with hard gates, as DynMM does
    model.set_gate('soft', 1.0)
    model._forward(x)
    assert set(model.last_gate_weights.flatten().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize('kwargs, match', [
    (dict(mode='sometimes'), 'unknown gate mode'),
    (dict(mode='fixed', branch=5), r'branch must be an int in \[0, 4\]'),
    (dict(mode='fixed'), 'branch must be an int'),
    (dict(mode='soft', branch=2), "only meaningful for gate mode 'fixed'"),
    (dict(mode='soft', temperature=0), 'temperature'),
    (dict(mode='soft', temperature=-1.0), 'temperature'),
])
def test_set_gate_rejects_bad_values(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.set_gate(**kwargs)


def _inputs_on_distinct_branches(model):
    """A mixed batch and the branch of each sample, with the gate set to route it so.

    The gate's 1x1 classifier (a parameter, not a method) is given, as row k, the
    direction of input k's pooled gate features: input k then scores highest on branch
    k. The batch mixes the five inputs out of order and repeats one.
    """
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 4, H, W, generator=g) * torch.linspace(0.5, 4, 5).view(5, 1, 1, 1)
    pooled = []
    gate = model.backbone.gate
    hook = gate.fc.register_forward_hook(lambda module, args, out: pooled.append(args[0].flatten(1)))
    with torch.no_grad():
        model.backbone(x)
    hook.remove()
    directions = pooled[0] / pooled[0].norm(dim=1, keepdim=True)
    with torch.no_grad():
        gate.fc.weight.copy_(1e3 * directions.view_as(gate.fc.weight))
    branches = [3, 0, 4, 1, 2, 0]
    return x[branches], branches


TINY_BACKBONE = dict(type='DynMMRGBDResNet', depth=18, block='NonBottleneck1D', stem_fusion='SE-add',
                     gate=dict(type='DynMMGlobalGate'))


@pytest.mark.parametrize('gated_stem_fusion', [False, True])
def test_skip_at_inference_equals_compute_all_and_select(gated_stem_fusion):
    torch.manual_seed(0)
    model = build_tiny(inference_gate=None,
                       backbone=dict(TINY_BACKBONE, gated_stem_fusion=gated_stem_fusion)).eval()
    x, branches = _inputs_on_distinct_branches(model)

    # which depth stages run, for how many samples (observed with forward hooks)
    depth_stage_calls = []
    stages = model.backbone.depth_encoder.stages
    hooks = [stage.register_forward_hook(lambda m, args, out, i=i: depth_stage_calls.append((i, out.shape[0])))
             for i, stage in enumerate(stages)]
    model.set_gate('hard', 1.0)
    with torch.no_grad():
        routed = model(x, mode='tensor')
    for hook in hooks:
        hook.remove()
    assert model.last_gate_weights.argmax(1).tolist() == branches
    # each group of samples ran the depth stages before its branch only, once per group
    groups = {k: branches.count(k) for k in set(branches)}
    assert sorted(depth_stage_calls) == sorted((i, n) for k, n in groups.items() for i in range(k))

    # the reference's way: every path computed, mixed by the (one-hot) gate weights
    with torch.no_grad(), model.gate_override('soft', temperature=1e-4, skip_unused_depth=False):
        every = model(x, mode='tensor')
    assert torch.equal(model.last_gate_weights, torch.eye(5)[branches])  # the softmax is one-hot
    assert routed.shape == (len(branches), 5, H, W)
    assert (routed - every).abs().max() < 1e-4
    # and each sample equals its own branch computed alone
    for i, k in enumerate(branches):
        model.set_gate('fixed', branch=k)
        with torch.no_grad():
            alone = model(x[i:i + 1], mode='tensor')
        assert (alone[0] - routed[i]).abs().max() < 1e-4


def test_gated_stem_fusion_makes_branch_0_blind_to_depth_and_leaves_the_others_fused():
    torch.manual_seed(0)
    model = build_tiny(backbone=dict(TINY_BACKBONE, gated_stem_fusion=True)).eval()
    reference = build_tiny(backbone=dict(TINY_BACKBONE, gated_stem_fusion=False)).eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, H, W, generator=g)
    other_depth = x.clone()
    other_depth[:, 3] = torch.randn(2, H, W, generator=g)
    outputs = {}
    for name, m in (('gated', model), ('reference', reference)):
        for k in (0, 1):
            with torch.no_grad(), m.gate_override('fixed', branch=k):
                outputs[name, k] = (m._forward(x), m._forward(other_depth))
    # branch 0 of the gated model is RGB alone: another depth map changes nothing
    assert torch.equal(*outputs['gated', 0])
    # the reference's branch 0 reads depth through its stem fusion, and branch 1 always does
    for key in (('reference', 0), ('gated', 1), ('reference', 1)):
        assert (outputs[key][0] - outputs[key][1]).abs().max() > 1e-3, key
    # branch 0 pays for no fusion: the gated model's branch 0 is cheaper than the reference's
    assert model.branch_costs()['total'][0] < reference.branch_costs()['total'][0]
    # a soft gate's gradient reaches the stem fusion of the gated model through its mix
    model.train()
    model.set_gate('soft', 1.0)
    data = model.data_preprocessor(_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    se = model.backbone.stem_fusion.se_depth.fc[0].weight.grad
    assert se is not None and se.abs().sum() > 0


def test_norm_eval_finetunes_with_batchnorm_statistics_fixed():
    torch.manual_seed(0)
    model = build_tiny(norm_eval=True)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert model.training and model.backbone.training  # the rest trains as usual
    before = {k: v.clone() for k, v in model.state_dict().items() if 'running_' in k}
    weight = model.backbone.rgb_encoder.bn1.weight.detach().clone()
    model.set_gate('soft', 1.0)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    model.train_step(_batch(), optim)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the affine weights still learn
    assert not torch.equal(weight, model.backbone.rgb_encoder.bn1.weight.detach())
    # without norm_eval the same step moves the statistics
    torch.manual_seed(0)
    plain = build_tiny()
    plain.train()
    plain.set_gate('soft', 1.0)
    plain.train_step(_batch(), OptimWrapper(torch.optim.SGD(plain.parameters(), lr=0.1)))
    assert not all(torch.equal(before[k], plain.state_dict()[k]) for k in before)


def test_measured_costs_and_resource_loss_rise_with_deeper_branches(model):
    costs = model.branch_costs()
    depth, total = costs['depth_encoder'], costs['total']
    assert len(depth) == len(total) == 5
    assert all(a < b for a, b in zip(depth, depth[1:]))
    assert all(a < b for a, b in zip(total, total[1:]))
    # branch 4 - branch 0 = the depth stages (+ their fusions) that branch 0 skips
    assert total[4] - total[0] >= depth[4] - depth[0]
    losses = [model.loss_resource(torch.eye(5)[[k]], depth).item() for k in range(5)]
    assert losses == sorted(losses) and losses[0] < losses[4]


@pytest.mark.parametrize('overrides, match', [
    (dict(loss_resource=dict(type='DynMMResourceLoss', loss_weight=-1.0)), 'lambda'),
    (dict(loss_resource=dict(type='DynMMResourceLoss', costs=[1, 2, 3])), 'cost table has 3 entries'),
    (dict(temperature=0.0), 'temperature'),
    (dict(gate_mode='fixed', fixed_branch=7), 'branch'),
    (dict(gate_mode='warm'), 'unknown gate mode'),
])
def test_bad_config_values_raise_clear_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        build_tiny(**overrides)


def test_freeze_all_but_gate_trains_the_gate_against_the_network_as_it_runs_at_inference():
    torch.manual_seed(0)
    frozen = build_tiny(freeze_all_but_gate=True)
    trainable = {n for n, p in frozen.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith('backbone.gate.') for n in trainable)
    frozen.train()
    # the network keeps its BatchNorm statistics and uses them (eval mode); the gate trains
    assert frozen.backbone.gate.training
    assert not frozen.backbone.rgb_encoder.training and not frozen.decode_head.training
    network_before = {k: v.clone() for k, v in frozen.state_dict().items()
                      if not k.startswith('backbone.gate.')}
    gate_before = frozen.backbone.gate.fc.weight.clone()
    batch = _batch(n=2)
    losses = frozen.loss(torch.stack(batch['inputs']), batch['data_samples'])
    optim = torch.optim.SGD([p for p in frozen.parameters() if p.requires_grad], lr=0.1)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    optim.step()
    assert not torch.equal(frozen.backbone.gate.fc.weight, gate_before)
    state = frozen.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in network_before.items())  # statistics too


def test_freeze_gate_trains_the_network_under_the_gates_fixed_decisions():
    torch.manual_seed(0)
    model = build_tiny(freeze_gate=True)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    # the gate and what computes its input (stems, stem fusion), nothing downstream
    assert {n.split('.')[1] for n in frozen} == {'gate', 'rgb_encoder', 'depth_encoder', 'stem_fusion'}
    assert any(n.startswith('backbone.gate.') for n in frozen)
    assert not any('.layer' in n or n.startswith(('neck.', 'decode_head.')) for n in frozen)
    x, branches = _inputs_on_distinct_branches(model)
    model.train()
    assert not model.backbone.gate.training and not model.backbone.rgb_encoder.bn1.training
    assert model.backbone.rgb_encoder.stages[0].training and model.decode_head.training
    model.set_gate('soft', 1.0)  # even a soft gate: training uses its hard decisions
    frozen_before = {k: v.clone() for k, v in model.state_dict().items()
                     if k.startswith(('backbone.gate.', 'backbone.stem_fusion.', 'backbone.depth_encoder.bn1.'))}
    head_before = model.decode_head.conv_seg.weight.clone()

    losses = model.loss(x, _batch(n=len(branches))['data_samples'])
    # trained on exactly the gate's decisions, one-hot, without a resource loss
    assert 'loss_resource' not in losses
    assert torch.equal(model.last_gate_weights, torch.eye(5)[branches])
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    optim.step()
    assert model.backbone.gate.fc.weight.grad is None
    assert not torch.equal(model.decode_head.conv_seg.weight, head_before)
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in frozen_before.items())  # BN statistics too
    model.eval()
    with torch.no_grad():
        model(x, mode='tensor')
    assert model.last_gate_weights.argmax(1).tolist() == branches


def test_freeze_gate_needs_a_gate_and_excludes_freeze_all_but_gate():
    with pytest.raises(ValueError, match='exclude each other'):
        build_tiny(freeze_gate=True, freeze_all_but_gate=True)
    with pytest.raises(ValueError, match='needs a gate'):
        build_tiny(freeze_gate=True, loss_resource=None,
                   backbone=dict(type='DynMMRGBDResNet', depth=18, block='BasicBlock', gate=None))


def test_expected_gate_loss_weights_each_branchs_own_per_image_loss_by_the_gate():
    """gate_loss='expected': the task term is sum_k w_k loss_k, each branch run on its own."""
    torch.manual_seed(0)
    model = build_tiny(freeze_all_but_gate=True, gate_loss='expected')
    model.train()
    batch = _batch(n=3)
    x = torch.stack(batch['inputs'])
    losses = model.loss(x, batch['data_samples'])
    assert 'loss_gate_task' in losses and 'loss_resource' in losses
    weights = model.last_gate_weights
    # the same term from the branches forced one by one, in eval mode (what inference runs)
    model.eval()
    per_branch = []
    for k in range(model.num_branches):
        with torch.no_grad(), model.gate_override('fixed', branch=k):
            seg = model.decode_head.forward(model.extract_feat(x))
        seg = torch.nn.functional.interpolate(seg, size=(H, W), mode='bilinear', align_corners=False)
        target = torch.stack([s.gt_sem_seg.data for s in batch['data_samples']]).squeeze(1)
        per_branch.append(torch.nn.functional.cross_entropy(seg, target, reduction='none').mean((1, 2)))
    expected = (weights * torch.stack(per_branch, 1)).sum(1).mean()
    assert torch.allclose(losses['loss_gate_task'], expected, atol=1e-5)
    model.train()
    losses['loss_gate_task'].backward()
    assert model.backbone.gate.fc.weight.grad.abs().sum() > 0  # the gate learns from it


def test_expected_gate_loss_needs_the_network_frozen():
    with pytest.raises(ValueError, match="needs freeze_all_but_gate"):
        build_tiny(gate_loss='expected')
    with pytest.raises(ValueError, match='gate_loss must be one of'):
        build_tiny(gate_loss='blend')
