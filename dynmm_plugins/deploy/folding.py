"""Fold inference BatchNorm into the convolution that feeds it.

At inference a BatchNorm is a per-channel affine map, so ``bn(conv(x))`` equals
one convolution with rescaled weights and a shifted bias. Folding removes one
pass over every feature map per BatchNorm, which is most of the per-op overhead
of ESANet's encoders on the CPU, and it is what the ONNX export ships.

Pairs are found by running the model once with hooks (a BatchNorm is folded into
the convolution whose output tensor it receives), not by the order in which the
modules were registered, and the folded model is checked against the original on
the same input before it is returned.
"""
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

_NORMS = (nn.modules.batchnorm._BatchNorm, )


def _parent_and_name(model: nn.Module, name: str) -> Tuple[nn.Module, str]:
    parent_name, _, child = name.rpartition('.')
    return (model.get_submodule(parent_name) if parent_name else model), child


def find_conv_bn_pairs(model: nn.Module, run: Callable[[nn.Module], object]) -> List[Tuple[str, str]]:
    """(conv name, BatchNorm name) pairs where the BatchNorm's input is the conv's output.

    Args:
        model (nn.Module): The model, in eval mode.
        run (Callable): ``run(model)`` runs one forward pass that reaches every
            module to fold (e.g. the full branch of a DynMM model).
    """
    produced: Dict[int, str] = {}
    keep_alive: List[Tensor] = []  # ids stay unique only while the tensors live
    consumed: Dict[str, List[str]] = {}
    handles = []

    def record_output(name):
        def hook(module, inputs, output):
            if isinstance(output, Tensor):
                produced[id(output)] = name
                keep_alive.append(output)
        return hook

    def record_input(name):
        def hook(module, inputs):
            source = produced.get(id(inputs[0])) if inputs and isinstance(inputs[0], Tensor) else None
            if source is not None:
                consumed.setdefault(source, []).append(name)
        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(record_output(name)))
        elif isinstance(module, _NORMS):
            handles.append(module.register_forward_pre_hook(record_input(name)))
    try:
        with torch.no_grad():
            run(model)
    finally:
        for handle in handles:
            handle.remove()
    # a conv whose output feeds one BatchNorm, always the same one
    return sorted((conv, norms[0]) for conv, norms in consumed.items() if len(set(norms)) == 1)


def fold_conv_bn_(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Fold ``bn`` (running statistics) into ``conv`` in place; ``conv`` gains a bias.

    The folded weights are computed in float64 and rounded once to the conv's
    dtype, so the fold adds a single rounding per weight (the folded float64
    network equals the unfolded one to ~1e-14 relative).
    """
    dtype = conv.weight.dtype
    with torch.no_grad():
        stats = [t.detach().double() for t in (bn.running_mean, bn.running_var)]
        scale = stats[1].add(bn.eps).rsqrt()
        if bn.affine:
            scale = scale * bn.weight.detach().double()
        bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(stats[0])
        shift = (bias - stats[0]) * scale
        if bn.affine:
            shift = shift + bn.bias.detach().double()
        conv.weight.copy_((conv.weight.double() * scale.reshape(-1, 1, 1, 1)).to(dtype))
    conv.bias = nn.Parameter(shift.to(dtype), requires_grad=conv.weight.requires_grad)


def fold_batchnorm(model: nn.Module, run: Optional[Callable[[nn.Module], Tensor]] = None,
                   atol: float = 1e-3) -> int:
    """Fold every inference BatchNorm that directly follows a convolution; returns how many.

    The BatchNorms become ``nn.Identity``. The model must be in eval mode (the
    running statistics are folded); training it afterwards would train a
    different network, so fold only copies used for inference.

    Args:
        model (nn.Module): Model in eval mode, changed in place.
        run (Callable, optional): ``run(model) -> Tensor``: a forward pass that
            reaches every module; its outputs before and after folding must agree
            within ``atol`` (else ValueError). Default: for a DynMM segmentor, the
            full branch and the gate on a random 2x4x64x64 input.
        atol (float): Tolerance of that check, relative to the output's scale.
    """
    if model.training:
        raise ValueError('fold_batchnorm needs a model in eval mode (it folds the running '
                         'statistics); call model.eval() first')
    run = run or _dynmm_full_pass
    with torch.no_grad():
        before = run(model)
    pairs = find_conv_bn_pairs(model, run)
    for conv_name, bn_name in pairs:
        fold_conv_bn_(model.get_submodule(conv_name), model.get_submodule(bn_name))
        parent, child = _parent_and_name(model, bn_name)
        setattr(parent, child, nn.Identity())
    with torch.no_grad():
        after = run(model)
    scale = max(float(before.abs().max()), 1.0)
    diff = float((after - before).abs().max())
    if not diff <= atol * scale:
        raise ValueError(f'folding BatchNorm changed the outputs by {diff:.3g} (> {atol * scale:.3g}); '
                         'a BatchNorm input is probably also used elsewhere')
    return len(pairs)


def _dynmm_full_pass(model: nn.Module) -> Tensor:
    """Gate logits and full-branch logits of a DynMM segmentor, flattened into one tensor."""
    if not hasattr(model, 'gate_override'):
        raise ValueError(f'fold_batchnorm: pass run= for a {type(model).__name__} '
                         '(the default pass needs a DynMM segmentor)')
    param = next(model.parameters())
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 64, 64, generator=generator).to(param)
    with model.gate_override('fixed', branch=model.num_branches - 1):
        logits = model._forward(x)
    _, _, gate_logits = model.backbone(x)
    parts = [logits.flatten()] + ([] if gate_logits is None else [gate_logits.flatten()])
    return torch.cat(parts)
