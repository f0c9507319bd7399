"""Per-branch compute of DynMM models, and its comparison with the reference's FLOP table.

Our counts come from :meth:`DynMMEncoderDecoder.branch_costs`: torch's FLOP counter
on the model's own modules, halved to multiply-accumulates (MACs), the unit of
thop tables. torch counts only matrix products and convolutions. thop (which the
reference used) hooks leaf modules and, in the version of the DynMM code's time,
also charges one op per output element of a convolution with a bias, two per
element of a BatchNorm in eval mode, and one per input element of an adaptive
average pool. :func:`thop_convention_extra` counts exactly those, so that our
numbers can be put on the reference's footing.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

# The reference DynMM code's cost tables (GMACs at 480x640, thop), with all the digits
# of its source (the README and the tests quote them rounded to 2 decimals). They are for
# comparison only: our models measure their own costs.
REFERENCE_TABLES = {
    'R34-NBt1D': dict(
        input_size=(480, 640),
        total=[22.37101509, 25.23166149, 29.06736069, 34.78465989, 37.65928389],
        depth_encoder=[0.2506752, 3.1113216, 6.9470208, 12.66432, 15.538944],
        # The reference measured it with SkipGateESANet's constructor defaults,
        # whose decoder is 128 channels wide in all three modules; its training
        # (build_model with --decoder_channels_mode decreasing) uses 512/256/128.
        decoder_channels=(128, 128, 128)),
    'R50': dict(
        input_size=(480, 640),
        total=[32.5854654, 36.728995928, 43.058611352, 52.050619672, 57.0138742],
        depth_encoder=[0.2506752, 4.39420573, 10.72382115, 19.71582947, 24.679084],
        decoder_channels=(128, 128, 128)),
}


def reference_key(cfg) -> Optional[str]:
    """Key of :data:`REFERENCE_TABLES` that a model config corresponds to, or None."""
    backbone = cfg.model.get('backbone', {})
    depth, block = backbone.get('depth'), backbone.get('block')
    num_classes = cfg.model.get('decode_head', {}).get('num_classes')
    if num_classes != 40:
        return None
    if depth == 34 and block == 'NonBottleneck1D':
        return 'R34-NBt1D'
    if depth == 50:
        return 'R50'
    return None


def reference_decoder_overrides(decoder_channels: Sequence[int]) -> dict:
    """Config overrides that give our model the reference FLOP table's decoder widths."""
    channels = tuple(int(c) for c in decoder_channels)
    return {'model.decode_head.decoder_channels': channels,
            'model.neck.skip_channels': channels}


def _extra_hooks(model: nn.Module, counts: Dict[str, int]) -> List:
    """Forward hooks that count the element-wise work thop charges on top of MACs."""

    def conv_bias(module, inputs, output):
        if module.bias is not None:
            counts['conv_bias'] += output.numel()

    def batch_norm(module, inputs, output):
        counts['batch_norm'] += 2 * output.numel()

    def avg_pool(module, inputs, output):
        counts['adaptive_avg_pool'] += inputs[0].numel() + output.numel()

    handles = []
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            handles.append(module.register_forward_hook(conv_bias))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_hook(batch_norm))
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            handles.append(module.register_forward_hook(avg_pool))
    return handles


def thop_convention_extra(model, input_size: Tuple[int, int]) -> Dict[str, list]:
    """Per branch, the G-ops thop adds to the MACs we count.

    One forward pass per branch in 'fixed' mode at ``input_size``. Returns
    ``dict(total=[...], depth_encoder=[...], breakdown=[...])``: the extra G-ops
    of the whole model and of the depth encoder per branch, and per branch a dict
    by kind (``conv_bias``, ``batch_norm``, ``adaptive_avg_pool``) for the model.
    """
    saved = (model.training, model.last_gate_weights)
    param = next(model.parameters())
    x = torch.zeros(1, 4, *input_size, device=param.device, dtype=param.dtype)
    out = dict(total=[], depth_encoder=[], breakdown=[])
    model.eval()
    try:
        for branch in range(model.num_branches):
            whole = dict(conv_bias=0, batch_norm=0, adaptive_avg_pool=0)
            depth = dict(conv_bias=0, batch_norm=0, adaptive_avg_pool=0)
            handles = _extra_hooks(model, whole) + _extra_hooks(model.backbone.depth_encoder, depth)
            try:
                with torch.no_grad(), model.gate_override('fixed', branch=branch):
                    model._forward(x)
            finally:
                for h in handles:
                    h.remove()
            out['total'].append(sum(whole.values()) / 1e9)
            out['depth_encoder'].append(sum(depth.values()) / 1e9)
            out['breakdown'].append({k: v / 1e9 for k, v in whole.items()})
    finally:
        model.train(saved[0])
        model.last_gate_weights = saved[1]
    return out


def percent_diff(ours: Sequence[float], reference: Sequence[float]) -> List[float]:
    """``100 * (ours - reference) / reference`` element-wise."""
    return [100.0 * (a - b) / b for a, b in zip(ours, reference)]
