"""--channels-last and ChannelsLastHook: PyTorch CPU inference in oneDNN's layout, same outputs."""
import argparse
import json
import logging

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmseg')

from helpers.deploy_setup import randomise_batchnorm  # noqa: E402
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


def _branch_logits(model, x):
    with torch.inference_mode():
        outs = []
        for k in range(model.num_branches):
            with model.gate_override('fixed', branch=k):
                outs.append(model._forward(x))
        return outs


def _convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_flags_fold_then_convert_and_keep_every_branchs_logits(tiny):
    x = torch.randn(2, 4, *SIZE)
    before = _branch_logits(tiny, x)
    parser = argparse.ArgumentParser()
    add_inference_args(parser)
    apply_inference_args(parser.parse_args(['--fuse-conv-bn', '--channels-last']), [tiny, None])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in tiny.modules())
    # the folded weights (written by the fold) are the ones converted
    assert all(m.weight.is_contiguous(memory_format=CL) for m in _convs(tiny))
    after = _branch_logits(tiny, x)  # an NCHW input: the first convolution converts it
    for a, b in zip(before, after):
        assert b.is_contiguous(memory_format=CL)
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_hook_converts_the_model_after_the_fold_and_keeps_its_logits(tiny):
    from mmseg.registry import HOOKS

    from dynmm_plugins.engine.hooks import ChannelsLastHook, FoldBatchNormHook
    x = torch.randn(1, 4, *SIZE)
    before = _branch_logits(tiny, x)

    class Runner:
        model = tiny
        logger = logging.getLogger('test')
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    assert isinstance(hook, ChannelsLastHook)
    # mmengine sorts hooks by priority: the fold (VERY_LOW) runs before the conversion (LOWEST)
    assert hook.priority == 'LOWEST' and FoldBatchNormHook.priority == 'VERY_LOW'
    hook.before_test(Runner())
    assert all(m.weight.is_contiguous(memory_format=CL) for m in _convs(tiny))
    for a, b in zip(before, _branch_logits(tiny, x)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_benchmark_latency_records_the_layout(tmp_path):
    from helpers.deploy_setup import DYNAMIC
    from helpers.tool_scripts import load_tool
    from dynmm_plugins.utils.cli import run_tool
    tool = load_tool('benchmark_latency')
    out = str(tmp_path / 'latency.json')
    argv = [DYNAMIC, '--shape', '64', '96', '--repeats', '1', '--warmup', '0', '--no-static',
            '--fuse-conv-bn', '--channels-last', '--device', 'cpu', '--no-progress', '--out', out]
    assert run_tool(tool.main, argv, prog=tool.PROG) == 0
    with open(out) as f:
        result = json.load(f)
    assert result['channels_last'] is True and result['fuse_conv_bn'] is True
    assert result['max_abs_diff_skip_vs_all'] < 1e-3  # the routed batch equals compute-all
