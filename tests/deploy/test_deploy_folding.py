"""dynmm_plugins.deploy.folding, FoldBatchNormHook and the channels-last layout: PyTorch inference as deployed."""
import argparse
import json
import logging

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmseg')

from helpers.deploy_setup import randomise_batchnorm  # noqa: E402
from dynmm_plugins.deploy.folding import find_conv_bn_pairs, fold_batchnorm, fold_conv_bn_  # noqa: E402
from helpers.tiny_dynmm import build_tiny  # noqa: E402
from dynmm_plugins.utils.cli import add_inference_args, apply_inference_args  # noqa: E402

SIZE = (64, 96)
CL = torch.channels_last


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    model = build_tiny()
    randomise_batchnorm(model)
    return model.eval()


def _outputs(model, x):
    with torch.no_grad():
        outs = []
        for k in range(model.num_branches):
            with model.gate_override('fixed', branch=k):
                outs.append(model._forward(x))
        outs.append(model.backbone(x)[2])
    return outs


def test_folding_removes_every_batchnorm_and_keeps_every_branchs_outputs(tiny):
    x = torch.randn(2, 4, *SIZE)
    before = _outputs(tiny, x)
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in tiny.modules())
    assert fold_batchnorm(tiny) == norms
    assert not any(isinstance(m, nn.BatchNorm2d) for m in tiny.modules())
    for a, b in zip(before, _outputs(tiny, x)):
        assert (a - b).abs().max() < 1e-4 * max(1.0, float(a.abs().max()))


def test_folding_needs_eval_mode(tiny):
    tiny.train()
    with pytest.raises(ValueError, match='eval mode'):
        fold_batchnorm(tiny)



def test_the_fold_is_exact_in_float64_so_float32_differences_are_rounding(tiny):
    # a float64 network folds to the same function up to float64 rounding: what a
    # float32 export differs by is float32 arithmetic, not the fold
    tiny.double()
    x = torch.randn(2, 4, *SIZE, dtype=torch.float64)
    before = _outputs(tiny, x)
    fold_batchnorm(tiny)
    for a, b in zip(before, _outputs(tiny, x)):
        assert (a - b).abs().max() < 1e-10 * max(1.0, float(a.abs().max()))


def test_folded_float32_weights_are_the_float64_fold_rounded_once():
    conv, bn = nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4).eval()
    with torch.no_grad():  # badly conditioned statistics: tiny variances, large means
        bn.running_var.copy_(torch.tensor([1e-6, 3e-5, 0.7, 2e3]))
        bn.running_mean.copy_(torch.tensor([1e3, -5.0, 0.1, 7e2]))
        bn.weight.copy_(torch.tensor([0.3, 1.7, -2.0, 0.01]))
        bn.bias.copy_(torch.tensor([0.5, -0.25, 3.0, 1e-3]))
    w64 = conv.weight.detach().double()
    scale = bn.running_var.double().add(bn.eps).rsqrt() * bn.weight.detach().double()
    expected_w = (w64 * scale.reshape(-1, 1, 1, 1)).float()
    expected_b = (bn.bias.detach().double() - bn.running_mean.double() * scale).float()
    fold_conv_bn_(conv, bn)
    assert conv.weight.dtype == torch.float32 and conv.bias.dtype == torch.float32
    assert torch.equal(conv.weight, expected_w) and torch.equal(conv.bias, expected_b)

class _Reordered(nn.Module):
    """BatchNorm registered before its conv, plus a conv whose output no BatchNorm reads."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(4)
        self.lonely = nn.Conv2d(4, 4, 1)
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)

    def forward(self, x):
        return self.lonely(self.bn(self.conv(x)))


def test_pairs_follow_the_data_flow_not_the_registration_order():
    model = _Reordered().eval()
    randomise_batchnorm(model)
    x = torch.randn(2, 3, 8, 8)
    run = lambda m: m(x)  # noqa: E731
    assert find_conv_bn_pairs(model, run) == [('conv', 'bn')]
    expected = model(x).detach()
    assert fold_batchnorm(model, run) == 1
    assert isinstance(model.bn, nn.Identity) and model.conv.bias is not None
    assert torch.allclose(model(x), expected, atol=1e-5)


def test_fold_batchnorm_hook_folds_the_model_before_testing(tiny):
    from dynmm_plugins.engine.hooks import FoldBatchNormHook

    class Runner:
        model = tiny
        logger = logging.getLogger('test')
    x = torch.randn(1, 4, *SIZE)
    before = _outputs(tiny, x)
    FoldBatchNormHook().before_test(Runner())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in tiny.modules())
    assert all(torch.allclose(a, b, atol=1e-3) for a, b in zip(before, _outputs(tiny, x)))


def test_benchmark_latency_folds_batchnorm_and_converts_the_layout_on_request(tmp_path):
    from helpers.deploy_setup import DYNAMIC
    from dynmm_plugins.utils.cli import run_tool
    from helpers.tool_scripts import load_tool
    tool = load_tool('benchmark_latency')
    out = str(tmp_path / 'latency.json')
    argv = [DYNAMIC, '--shape', '64', '96', '--repeats', '1', '--warmup', '0', '--no-static',
            '--fuse-conv-bn', '--channels-last', '--device', 'cpu', '--no-progress', '--out', out]
    assert run_tool(tool.main, argv, prog=tool.PROG) == 0
    with open(out) as f:
        result = json.load(f)
    assert result['fuse_conv_bn'] is True and result['channels_last'] is True
    assert result['max_abs_diff_skip_vs_all'] < 1e-3


def _convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_flags_fold_then_convert_and_keep_every_branchs_logits(tiny):
    x = torch.randn(2, 4, *SIZE)
    before = _outputs(tiny, x)
    parser = argparse.ArgumentParser()
    add_inference_args(parser)
    apply_inference_args(parser.parse_args(['--fuse-conv-bn', '--channels-last']), [tiny, None])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in tiny.modules())
    # the folded weights (written by the fold) are the ones converted
    assert all(m.weight.is_contiguous(memory_format=CL) for m in _convs(tiny))
    after = _outputs(tiny, x)  # an NCHW input: the first convolution converts it
    for a, b in zip(before, after):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    assert all(b.is_contiguous(memory_format=CL) for b in after[:-1])  # the branches' logits


def test_hook_converts_the_model_after_the_fold_and_keeps_its_logits(tiny):
    from mmseg.registry import HOOKS

    from dynmm_plugins.engine.hooks import ChannelsLastHook, FoldBatchNormHook
    x = torch.randn(1, 4, *SIZE)
    before = _outputs(tiny, x)

    class Runner:
        model = tiny
        logger = logging.getLogger('test')
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    assert isinstance(hook, ChannelsLastHook)
    # mmengine sorts hooks by priority: the fold (VERY_LOW) runs before the conversion (LOWEST)
    assert hook.priority == 'LOWEST' and FoldBatchNormHook.priority == 'VERY_LOW'
    hook.before_test(Runner())
    assert all(m.weight.is_contiguous(memory_format=CL) for m in _convs(tiny))
    for a, b in zip(before, _outputs(tiny, x)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
