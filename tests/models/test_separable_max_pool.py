"""SeparableMaxPool2d: exactly nn.MaxPool2d's output, and nn.MaxPool2d wherever it must be."""
import pytest
import torch
import torch.nn as nn

from dynmm_plugins.models.layers import ResNetEncoder, SeparableMaxPool2d


# (3, 1, 1): one window offset inside the map for every output; (2, 2, 1) on even
# sizes: none, so the map is padded
@pytest.mark.parametrize('kernel,stride,padding', [(3, 2, 1), (2, 2, 0), (3, 1, 1), (5, 3, 2), (2, 2, 1), (4, 3, 2)])
@pytest.mark.parametrize('size', [(240, 320), (15, 17), (7, 6), (6, 8)])
def test_equals_max_pool_exactly(kernel, stride, padding, size):
    torch.manual_seed(0)
    x = torch.randn(2, 5, *size)
    x[0, 0, :3, :3] = float('-inf')  # a window of -inf stays -inf, as in nn.MaxPool2d
    x = torch.relu(x)  # ties, as after the stem's ReLU
    before = x.clone()
    with torch.inference_mode():
        got = SeparableMaxPool2d(kernel, stride, padding)(x)
    assert torch.equal(x, before)  # the passes write into their own result only
    want = nn.MaxPool2d(kernel, stride, padding)(x)
    assert got.shape == want.shape
    assert torch.equal(got, want)


def test_a_map_smaller_than_the_window_is_max_pools_error():
    x = torch.randn(1, 1, 2, 2)
    with pytest.raises(RuntimeError) as want:
        nn.MaxPool2d(3, 2)(x)
    with torch.inference_mode(), pytest.raises(RuntimeError) as got:
        SeparableMaxPool2d(3, 2)(x)
    assert str(got.value) == str(want.value)


def test_gradients_are_max_pools():
    """With gradients the tie-breaking of nn.MaxPool2d (all to one input) is kept."""
    x = torch.zeros(1, 1, 4, 4, requires_grad=True)  # every window is a tie
    SeparableMaxPool2d(3, 2, 1)(x).sum().backward()
    y = torch.zeros(1, 1, 4, 4, requires_grad=True)
    nn.MaxPool2d(3, 2, 1)(y).sum().backward()
    assert torch.equal(x.grad, y.grad)


def test_resnet_stem_uses_it_without_changing_the_state_dict():
    encoder = ResNetEncoder(18)
    assert isinstance(encoder.maxpool, SeparableMaxPool2d)
    assert not any(key.startswith('maxpool') for key in encoder.state_dict())


def test_onnx_export_keeps_a_max_pool_node(tmp_path):
    onnx = pytest.importorskip('onnx')
    path = str(tmp_path / 'pool.onnx')
    with torch.no_grad():
        torch.onnx.export(SeparableMaxPool2d(3, 2, 1), (torch.randn(1, 2, 8, 8),), path,
                          opset_version=17, dynamo=False)
    assert [n.op_type for n in onnx.load(path).graph.node] == ['MaxPool']
