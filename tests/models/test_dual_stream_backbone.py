"""DynMMDualStreamBackbone: MMSeg backbones (ResNetV1c, MiT) run stage by stage, fused, gated."""
import copy
import os.path as osp

import pytest
import torch

pytest.importorskip('mmseg')
import dynmm_plugins  # noqa: E402,F401
from mmseg.registry import MODELS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=True)

from helpers import REPO  # noqa: E402
H, W = 64, 96
RESNET = dict(type='ResNetV1c', depth=18, stem_channels=16, base_channels=16, in_channels=3,
              out_indices=(0, 1, 2, 3))
MIT = dict(type='MixVisionTransformer', in_channels=3, embed_dims=16, num_layers=[1, 1, 1, 1],
           num_heads=[1, 2, 4, 8], sr_ratios=[8, 4, 2, 1])
HEADS = {
    'ResNetV1c': dict(type='UPerHead', in_channels=[16, 32, 64, 128], in_index=[0, 1, 2, 3],
                      pool_scales=(1, 2), channels=16, num_classes=5),
    'MixVisionTransformer': dict(type='SegformerHead', in_channels=[16, 32, 64, 128],
                                 in_index=[0, 1, 2, 3], channels=16, num_classes=5),
}


def segmentor_cfg(rgb, depth=None, gate=True, decode_head=None):
    """A small DynMM segmentor around two MMSeg backbones."""
    return dict(
        type='DynMMEncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 4, std=[1.0] * 4,
                               bgr_to_rgb=False, size_divisor=32),
        backbone=dict(type='DynMMDualStreamBackbone', rgb_backbone=rgb, depth_backbone=depth,
                      gate=dict(type='DynMMGlobalGate') if gate else None),
        decode_head=decode_head or HEADS[rgb['type']],
        loss_resource=dict(type='DynMMResourceLoss', loss_weight=0.01) if gate else None,
        cost_input_size=(H, W),
        test_cfg=dict(mode='whole'))


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    return model.eval()


def inputs(n=2, seed=0):
    return torch.randn(n, 4, H, W, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('cfg', [RESNET, MIT], ids=['ResNetV1c', 'MiT'])
def test_stage_adapters_reproduce_the_backbones_own_forward(cfg):
    model = build(segmentor_cfg(cfg, gate=False))
    backbone = model.backbone
    x = inputs()[:, :3]
    with torch.no_grad():
        expected = backbone.rgb_backbone(x)
        feat = backbone.rgb_stages.stem(x)
        for i in range(backbone.num_stages):
            feat = backbone.rgb_stage(i, feat)
            assert torch.equal(feat, expected[i]), f'stage {i}'


@pytest.mark.parametrize('cfg', [RESNET, MIT], ids=['ResNetV1c', 'MiT'])
def test_branch_0_is_the_rgb_backbone_and_head_alone(cfg):
    model = build(segmentor_cfg(cfg))
    model.set_gate('fixed', branch=0)
    x = inputs()
    with torch.no_grad():
        expected = model.decode_head(list(model.backbone.rgb_backbone(x[:, :3])))
        assert torch.allclose(model(x, mode='tensor'), expected, atol=1e-6)


def _depth_stage_calls(model):
    """Names of the depth backbone's modules that run, recorded by forward hooks."""
    called = []
    handles = [m.register_forward_hook(lambda mod, i, o, n=name: called.append(n))
               for name, m in model.backbone.depth_backbone.named_modules() if name]
    return called, handles


# the module that runs once at the end of depth stage i, and the prefix of stage i's modules
STAGE_MARKERS = {
    'ResNetV1c': (('stem', 'maxpool'), lambda i: f'layer{i + 1}', lambda i: f'layer{i + 1}'),
    'MiT': (('layers.0.0',), lambda i: f'layers.{i}.2', lambda i: f'layers.{i}.1' if i == 0 else f'layers.{i}.'),
}


@pytest.mark.parametrize('cfg,kind', [(RESNET, 'ResNetV1c'), (MIT, 'MiT')], ids=['ResNetV1c', 'MiT'])
def test_hard_gate_on_branch_0_runs_no_depth_stage_after_the_stem(cfg, kind):
    stem_prefixes, marker, prefix = STAGE_MARKERS[kind]
    model = build(segmentor_cfg(cfg))
    model.set_gate('hard')
    # equal logits: the hard (straight-through one-hot) gate picks branch 0
    torch.nn.init.zeros_(model.backbone.gate.fc.weight)
    called, handles = _depth_stage_calls(model)
    try:
        with torch.no_grad():
            model(inputs(), mode='tensor')
        assert model.last_gate_weights.argmax(1).tolist() == [0, 0]
        assert called and all(n.startswith(stem_prefixes) for n in called), called
        # branch 2 runs exactly the first two depth stages, once each for the batch
        called.clear()
        model.set_gate('fixed', branch=2)
        with torch.no_grad():
            model(inputs(), mode='tensor')
        assert called.count(marker(0)) == 1 and called.count(marker(1)) == 1
        assert not any(n.startswith((prefix(2), prefix(3))) for n in called)
    finally:
        for h in handles:
            h.remove()


@pytest.mark.parametrize('cfg', [RESNET, MIT], ids=['ResNetV1c', 'MiT'])
def test_per_branch_gflops_are_measured_and_increase(cfg):
    model = build(segmentor_cfg(cfg))
    costs = model.branch_costs((H, W))
    depth, total = costs['depth_encoder'], costs['total']
    assert len(depth) == len(total) == 5
    assert depth[0] > 0  # the depth stem runs for the gate
    assert all(b > a for a, b in zip(depth, depth[1:]))
    assert all(b > a for a, b in zip(total, total[1:]))
    # what branch 4 adds over branch 0 is the depth stages plus the fusions
    assert total[4] - total[0] >= depth[4] - depth[0]


def test_training_step_mixes_branches_and_reaches_the_gate():
    from mmengine.optim import OptimWrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    model = build(segmentor_cfg(MIT)).train()
    model.set_gate('soft', 1.0)
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, H, W)))
        s.set_metainfo(dict(img_shape=(H, W), ori_shape=(H, W), pad_shape=(H, W)))
        samples.append(s)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    gate_before = model.backbone.gate.fc.weight.detach().clone()
    log_vars = model.train_step(dict(inputs=list(inputs() * 50 + 100), data_samples=samples), optim)
    assert {'decode.loss_ce', 'loss_resource', 'gflops_expected', 'branch_frac_4'} <= set(log_vars)
    assert not torch.equal(model.backbone.gate.fc.weight, gate_before)  # the gate was trained


def test_one_channel_depth_is_repeated_for_a_three_channel_depth_stream():
    model = build(segmentor_cfg(MIT, depth=dict(MIT, in_channels=3)))
    x = inputs()
    repeated = torch.cat([x[:, :3], x[:, 3:].expand(-1, 3, -1, -1)], dim=1)
    with torch.no_grad():
        assert torch.equal(model(x, mode='tensor'), model(repeated, mode='tensor'))
    with pytest.raises(ValueError, match='3 \\+ 3'):
        model(torch.zeros(1, 5, H, W), mode='tensor')


def test_unsupported_backbone_type_lists_the_supported_families():
    cfg = segmentor_cfg(dict(type='MobileNetV2', widen_factor=0.25), gate=False,
                        decode_head=HEADS['ResNetV1c'])
    with pytest.raises(TypeError, match=r"rgb_backbone type 'MobileNetV2'.*ResNet.*MixVisionTransformer"):
        MODELS.build(cfg)


@pytest.mark.parametrize('depth_cfg,what', [
    (dict(RESNET, depth=50, in_channels=1), 'stage_channels'),
    (dict(RESNET, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(0, 1, 2),
          in_channels=1), 'num_stages'),
    (dict(RESNET, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), in_channels=1), 'stage_strides'),
    (dict(MIT, embed_dims=8, in_channels=1), 'stage_channels'),
], ids=['widths', 'stage-count', 'strides', 'other-family'])
def test_mismatched_depth_stream_is_one_error_at_build_time(depth_cfg, what):
    with pytest.raises(ValueError, match=f'differ in {what}') as info:
        MODELS.build(segmentor_cfg(RESNET, depth=depth_cfg))
    assert '\n' not in str(info.value) and 'depth_backbone' in str(info.value)


@pytest.mark.parametrize('cfg,first', [(RESNET, 'stem.0.weight'), (MIT, 'layers.0.0.projection.weight')],
                         ids=['ResNetV1c', 'MiT'])
def test_depth_stream_imagenet_init_sums_the_rgb_input_convolution(cfg, first, tmp_path):
    """A Pretrained init_cfg loads into both streams; depth's first conv is summed over RGB."""
    torch.manual_seed(1)
    source = MODELS.build(dict(cfg))
    ckpt = str(tmp_path / 'imagenet.pth')
    torch.save(dict(state_dict=source.state_dict()), ckpt)
    pretrained = dict(cfg, init_cfg=dict(type='Pretrained', checkpoint=ckpt))
    model = build(segmentor_cfg(pretrained, depth=dict(pretrained, in_channels=1)), seed=2)
    rgb, depth = model.backbone.rgb_backbone.state_dict(), model.backbone.depth_backbone.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(rgb[key], value), key
        if key != first:
            assert torch.equal(depth[key], value), key
    assert depth[first].shape[1] == 1
    assert torch.allclose(depth[first], source.state_dict()[first].sum(1, keepdim=True))


@pytest.mark.parametrize('name', ['segformer_mit-b0-rgbd', 'upernet_r50-v1c-rgbd'])
def test_gate_fixed_at_last_branch_equals_the_static_twin(name):
    """The synthetic DynMM config with its gate fixed at branch 4 is its static twin."""
    from mmengine.config import Config
    static_cfg = Config.fromfile(osp.join(
        REPO, f'mmseg_configs/dual_stream/{name}_1xb4-400it_synthetic-120x160.py'))
    dynamic_cfg = Config.fromfile(osp.join(
        REPO, f'mmseg_configs/dual_stream/dynmm-{name}_1xb4-400it_synthetic-120x160.py'))
    static = build(static_cfg.model, seed=0)
    dynamic = build(dynamic_cfg.model, seed=1)
    missing, unexpected = dynamic.load_state_dict(static.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith('backbone.gate.') for k in missing)
    dynamic.set_gate('fixed', branch=dynamic.num_branches - 1)
    x = inputs(seed=3) * 50 + 100
    with torch.no_grad():
        expected, got = static(x, mode='tensor'), dynamic(x, mode='tensor')
    assert (got - expected).abs().max() <= 1e-5
    # and the gate routes: another branch gives other outputs
    dynamic.set_gate('fixed', branch=0)
    with torch.no_grad():
        assert (dynamic(x, mode='tensor') - expected).abs().max() > 1e-3


def test_flops_and_latency_tools_run_on_a_dual_stream_config(tmp_path):
    """tools/get_flops.py and tools/benchmark_latency.py, unchanged, on the DynMM MiT-B0 config."""
    import json

    from dynmm_plugins.utils.cli import run_tool
    from helpers.tool_scripts import load_tool
    config = osp.join(REPO, 'mmseg_configs/dual_stream/'
                            'dynmm-segformer_mit-b0-rgbd_1xb4-400it_synthetic-120x160.py')
    flops, latency = load_tool('get_flops'), load_tool('benchmark_latency')
    assert run_tool(flops.main, [config, '--shape', '64', '96', '--device', 'cpu', '--no-reference',
                                 '--out', str(tmp_path / 'flops.json')], prog=flops.PROG) == 0
    report = json.loads((tmp_path / 'flops.json').read_text())['costs']
    assert all(b > a for a, b in zip(report['total'], report['total'][1:]))
    assert run_tool(latency.main, [config, '--shape', '64', '96', '--device', 'cpu', '--repeats', '1',
                                   '--warmup', '0', '--no-static', '--no-progress',
                                   '--out', str(tmp_path / 'latency.json')], prog=latency.PROG) == 0
    result = json.loads((tmp_path / 'latency.json').read_text())
    # the skipping path and the reference's compute-everything path give the same outputs
    assert result['max_abs_diff_skip_vs_all'] < 1e-4
    # the latency target is read off this: branch 0 against the full branch
    rows = {r['name']: r for r in result['rows']}
    b0 = result['branch_0_vs_full']
    assert b0['gflops_ratio'] == rows['branch 0']['gflops_ratio'] == pytest.approx(
        report['total'][0] / report['total'][-1], rel=1e-3)
    assert b0['gflops_ratio'] < 1
    assert b0['latency_over_gflops_ratio'] == pytest.approx(
        rows['branch 0']['latency_ratio'] / b0['gflops_ratio'])
    assert rows['branch 0']['latency_ratio'] == pytest.approx(
        rows['branch 0']['per_image_ms'] / rows['branch 4']['per_image_ms'])
