"""tools/export_onnx.py and dynmm_plugins.deploy.export on the synthetic DynMM (64x96, random weights)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')
onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from helpers.deploy_setup import DYNAMIC, REPO, SIZE, STATIC, write_case  # noqa: E402
from dynmm_plugins.utils.cli import run_tool  # noqa: E402
from helpers.tool_scripts import error_line, load_tool  # noqa: E402

TOOL = load_tool('export_onnx')
SYNTHETIC_CLASSES = ['wall', 'floor', 'bed', 'chair', 'sofa', 'table', 'books', 'television']


def _run(argv):
    return run_tool(TOOL.main, argv, prog=TOOL.PROG)


@pytest.fixture(scope='module')
def exported(module_mktemp):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread is faster and steadier
    root = str(module_mktemp('export'))
    case = write_case(root, DYNAMIC, 'dynamic', osp.join(root, 'data'))
    case['dir'] = osp.join(root, 'deploy')
    assert _run([case['config'], case['checkpoint'], '--out', case['dir']]) == 0
    with open(osp.join(case['dir'], 'manifest.json')) as f:
        case['manifest'] = json.load(f)
    yield case
    torch.set_num_threads(threads)


def _conv_weights(path):
    return [n.input[1] for n in onnx.load(path).graph.node if n.op_type == 'Conv']


def test_manifest_records_what_a_deployment_needs(exported):
    import hashlib
    m = exported['manifest']
    assert m['dynamic'] and m['num_branches'] == 5 and m['opset'] == 17
    assert m['classes'] == SYNTHETIC_CLASSES and m['num_classes'] == 8
    assert m['input']['shape'] == [4, *SIZE] and m['input']['batch'] == 'dynamic'
    # the config's normalisation: ImageNet RGB statistics, the synthetic set's depth statistics
    from mmengine.config import Config
    base = Config.fromfile(osp.join(REPO, 'mmseg_configs/_base_/datasets/synthetic_rgbd-120x160.py'))
    assert m['input']['mean'] == [123.675, 116.28, 103.53, base.depth_mean]
    assert m['input']['std'] == [58.395, 57.12, 57.375, base.depth_std]
    with open(exported['checkpoint'], 'rb') as f:
        assert m['checkpoint']['sha256'] == hashlib.sha256(f.read()).hexdigest()
    files = [m['graphs']['gate']['file']] + [b['file'] for b in m['graphs']['branches']]
    assert files == ['gate.onnx'] + [f'branch_{k}.onnx' for k in range(5)]
    assert all(osp.isfile(osp.join(exported['dir'], f)) for f in files)
    assert m['batchnorm_folded'] > 50


def test_each_branch_graph_holds_only_the_depth_stages_it_uses(exported):
    for k in range(5):
        path = osp.join(exported['dir'], f'branch_{k}.onnx')
        weights = _conv_weights(path)
        stages = [i for i in range(4) if any(f'depth_encoder.layer{i + 1}.' in n for n in weights)]
        assert stages == list(range(k))
        inputs = [i.name for i in onnx.load(path).graph.input]
        # branch 0 never reads depth features: its graph has no such input
        assert inputs == (['rgb_features'] if k == 0 else ['rgb_features', 'depth_features'])
    gate_weights = _conv_weights(osp.join(exported['dir'], 'gate.onnx'))
    assert any('.gate.' in n for n in gate_weights)
    assert not any('.layer' in n for n in gate_weights)  # stems only, no residual stage


def test_batchnorm_is_folded_into_the_convolutions(exported):
    for name in ['gate.onnx'] + [f'branch_{k}.onnx' for k in range(5)]:
        ops = {n.op_type for n in onnx.load(osp.join(exported['dir'], name)).graph.node}
        assert 'BatchNormalization' not in ops and 'Conv' in ops


def test_graph_gflops_grow_with_the_branch_and_match_pytorchs_count(exported):
    m = exported['manifest']['gflops']
    costs = exported['model'].branch_costs(SIZE)
    assert all(a < b for a, b in zip(m['total'], m['total'][1:]))
    # the graphs hold the same convolutions as the model (adaptive pooling as a matmul adds a trace)
    np.testing.assert_allclose(m['total'], costs['total'], rtol=2e-3)
    np.testing.assert_allclose(m['depth_encoder'], costs['depth_encoder'], atol=2e-6)


def test_every_branch_equals_pytorch_with_a_dynamic_batch(exported):
    from dynmm_plugins.deploy import OnnxDynMM
    runtime = OnnxDynMM(exported['dir'])
    model = exported['model']
    x = torch.randn(3, 4, *SIZE, generator=torch.Generator().manual_seed(1))
    for k in range(5):
        logits, branches = runtime.predict(x.numpy(), branch=k)
        with torch.no_grad(), model.gate_override('fixed', branch=k):
            ref = model._forward(x).numpy()
        assert logits.shape == (3, 8, *SIZE) and branches.tolist() == [k] * 3
        assert np.abs(logits - ref).max() < 1e-3
        assert (logits.argmax(1) == ref.argmax(1)).mean() >= 0.9999
    checks = exported['manifest']['verification']['branches']
    assert all(c['max_abs_diff'] < 1e-3 and c['argmax_agreement'] >= 0.9999 for c in checks)


def test_gated_stem_fusion_exports_with_the_fusion_in_the_depth_branches(tmp_path):
    from dynmm_plugins.apis.model_loading import load_model
    from dynmm_plugins.deploy import OnnxDynMM
    from dynmm_plugins.deploy.export import export_model
    from helpers.deploy_setup import randomise_batchnorm
    torch.manual_seed(0)
    model, _ = load_model(DYNAMIC, None, {'model.backbone.gated_stem_fusion': True})
    randomise_batchnorm(model)
    model.eval()
    out = str(tmp_path / 'deploy')
    manifest = export_model(model, out, SIZE)
    checks = manifest['verification']['branches']
    assert all(c['max_abs_diff'] < 1e-3 and c['argmax_agreement'] >= 0.9999 for c in checks)
    for k in range(5):
        graph = onnx.load(osp.join(out, f'branch_{k}.onnx')).graph
        # branch 0 is RGB alone, no stem fusion; every other branch fuses the stems itself
        assert [i.name for i in graph.input] == (
            ['rgb_features'] if k == 0 else ['rgb_features', 'depth_features'])
        assert any('stem_fusion' in n for n in _conv_weights(osp.join(out, f'branch_{k}.onnx'))) == (k > 0)
    assert not any('stem_fusion' in n for n in _conv_weights(osp.join(out, 'gate.onnx')))
    x = torch.randn(2, 4, *SIZE, generator=torch.Generator().manual_seed(1))
    logits, _ = OnnxDynMM(out).predict(x.numpy(), branch=1)
    with torch.no_grad(), model.gate_override('fixed', branch=1):
        assert np.abs(logits - model._forward(x).numpy()).max() < 1e-3


def test_static_esanet_exports_one_graph(tmp_path):
    case = write_case(str(tmp_path), STATIC, 'static', str(tmp_path / 'data'))
    out = str(tmp_path / 'deploy')
    assert _run([case['config'], case['checkpoint'], '--out', out, '--opset', '13']) == 0
    from dynmm_plugins.deploy import OnnxDynMM
    runtime = OnnxDynMM(out)
    assert not runtime.is_dynamic and runtime.manifest['graphs']['static']['file'] == 'model.onnx'
    assert runtime.manifest['opset'] == 13
    assert sorted(p.name for p in tmp_path.joinpath('deploy').iterdir()) == ['manifest.json', 'model.onnx']
    x = np.random.default_rng(0).standard_normal((2, 4, *SIZE), dtype=np.float32)
    logits, branches = runtime.predict(x)
    with torch.no_grad():
        ref = case['model']._forward(torch.from_numpy(x)).numpy()
    assert branches.tolist() == [4, 4] and np.abs(logits - ref).max() < 1e-3


def test_adaptive_pooling_as_matrices_equals_torch():
    from dynmm_plugins.deploy import MatrixAdaptiveAvgPool2d
    x = torch.randn(2, 3, 4, 7)
    for size in (1, 5, (3, 2), (4, None)):
        expected = torch.nn.AdaptiveAvgPool2d(size)(x)
        assert torch.allclose(MatrixAdaptiveAvgPool2d(size)(x), expected, atol=1e-6)


def test_export_refuses_bad_shapes_and_files(exported, tmp_path, capsys):
    config, ckpt = exported['config'], exported['checkpoint']
    with pytest.raises(SystemExit) as exit_info:
        _run([config, ckpt, '--out', str(tmp_path), '--shape', '60', '96'])
    assert exit_info.value.code == 2
    assert '--shape must be positive multiples of 32' in error_line(capsys)
    assert _run([config, str(tmp_path / 'nope.pth'), '--out', str(tmp_path / 'd')]) == 2
    assert 'nope.pth' in error_line(capsys)
    assert not (tmp_path / 'd' / 'manifest.json').exists()
