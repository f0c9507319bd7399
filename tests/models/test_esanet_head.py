"""ESANetHead's CPU inference layout: channels-last logits, the same values as NCHW."""
import pytest
import torch

pytest.importorskip('mmseg')
from dynmm_plugins.models.decode_heads.esanet_head import ESANetHead  # noqa: E402

CL = torch.channels_last


def _head():
    torch.manual_seed(0)
    head = ESANetHead(in_channels=32, channels=8, decoder_channels=(16, 12, 8), num_decoder_blocks=(1, 1, 1),
                      num_classes=5).eval()
    for m in head.modules():  # BatchNorm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    inputs = [torch.randn(2, 32, 3, 4), torch.randn(2, 16, 6, 8), torch.randn(2, 12, 12, 16),
              torch.randn(2, 8, 24, 32)]
    return head, inputs


def test_inference_logits_are_channels_last_with_the_nchw_values(monkeypatch):
    head, inputs = _head()
    with torch.inference_mode():
        fast = head(inputs)
        monkeypatch.setattr(ESANetHead, '_upsample_channels_last', staticmethod(lambda logits: False))
        nchw = head(inputs)
    assert fast.shape == nchw.shape == (2, 5, 96, 128)
    assert fast.is_contiguous(memory_format=CL) and not fast.is_contiguous()
    assert nchw.is_contiguous()
    torch.testing.assert_close(fast, nchw, rtol=1e-5, atol=1e-5)
    assert torch.equal(fast.argmax(1), nchw.argmax(1))


def test_training_export_and_other_devices_keep_nchw(monkeypatch):
    head, inputs = _head()
    out = head(inputs)  # eval mode, gradients on: the weights require them
    assert out.requires_grad and out.is_contiguous()
    head.train()
    logits, *sides = head(inputs)
    assert logits.is_contiguous() and len(sides) == 3
    head.eval()
    logits = torch.zeros(1, 5, 4, 4)
    with torch.inference_mode():
        assert ESANetHead._upsample_channels_last(logits)
        assert not ESANetHead._upsample_channels_last(logits.to('meta'))  # measured on the CPU only
        monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
        assert not ESANetHead._upsample_channels_last(logits)  # the exported graphs stay NCHW
