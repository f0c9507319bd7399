"""Count the multiply-accumulates (MACs) a module spends on given inputs."""
from typing import Any, Callable, Dict, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _shape(t: torch.Tensor) -> Sequence[int]:
    return tuple(t.shape)


def _lengths(t: torch.Tensor) -> Sequence[int]:
    """Sequence length of every batch item of a (batch, seq, embed) tensor, nested or not."""
    if t.is_nested:  # the encoder packs padded batches into nested tensors in eval mode
        return [piece.shape[0] for piece in t.unbind()]
    return [t.shape[1]] * t.shape[0]


def _attention_macs(queries: Sequence[int], keys: Sequence[int], embed_dim: int) -> int:
    """QK^T and (softmax)V summed over heads: 2 * L_q * L_k * E per batch item."""
    return sum(2 * lq * lk * embed_dim for lq, lk in zip(queries, keys))


def _sdpa_cpu_flops(query, key, value, *args, out_val=None, **kwargs) -> int:
    # q, k: (B, H, L, E_head), v: (B, H, S, E_v); QK^T then AV, 2 FLOPs per MAC
    b, h, lq, e = _shape(query)
    lk, ev = key.shape[-2], value.shape[-1]
    return 2 * b * h * (lq * lk * e + lq * lk * ev)


def _native_mha_flops(query, key, value, embed_dim, num_heads, *args, out_val=None, **kwargs) -> int:
    # batch-first (B, L, E): Q, K, V and output projections plus the attention products
    lq, lk = _lengths(query), _lengths(key)
    projections = sum(lq) * embed_dim * embed_dim * 2 + sum(lk) * embed_dim * embed_dim * 2
    return 2 * (projections + _attention_macs(lq, lk, embed_dim))


def _encoder_layer_flops(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu,
                         norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1,
                         *args, out_val=None, **kwargs) -> int:
    # nn.TransformerEncoderLayer's fused path: QKV projection, attention, output
    # projection and the two feed-forward linears, in one kernel.
    lengths = _lengths(src)
    tokens = sum(lengths)
    ffn = ffn_weight_1.shape[0]
    macs = tokens * embed_dim * 3 * embed_dim + tokens * embed_dim * embed_dim
    macs += _attention_macs(lengths, lengths, embed_dim) + 2 * tokens * embed_dim * ffn
    return 2 * macs


def _raw(formula: Callable[..., int]) -> Callable[..., int]:
    # FlopCounterMode hands formulas shapes unless they are marked raw; ours need the
    # tensors themselves (nested tensors have no single shape).
    formula._get_raw = True
    return formula


# Fused attention kernels torch's counter has no formula for: without them the
# attention products (QK^T, AV) of every Transformer on the CPU were not counted.
ATTENTION_FORMULAS: Dict[Any, Callable[..., int]] = {
    aten._scaled_dot_product_flash_attention_for_cpu: _raw(_sdpa_cpu_flops),
    aten._native_multi_head_attention: _raw(_native_mha_flops),
    aten._transformer_encoder_layer_fwd: _raw(_encoder_layer_flops),
}


def count_macs(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """MACs of one call ``fn(*args, **kwargs)``, counted by torch's own FLOP counter.

    torch counts 2 FLOPs per multiply-accumulate of every matmul (``mm``, ``bmm``,
    ``addmm``, ``matmul``), convolution and attention kernel actually executed; we
    add the fused kernels it does not know (CPU scaled-dot-product attention,
    ``nn.MultiheadAttention``'s and ``nn.TransformerEncoderLayer``'s fast paths),
    so attention's QK^T and AV products are counted on every device. We return half
    of the FLOPs, i.e. MACs, the unit of thop tables (DynMM's cost tables).
    Element-wise work (BN, ReLU, softmax, adds) is not counted, so totals sit a few
    percent below thop, which adds BN. The call runs under ``torch.no_grad``.
    """
    counter = FlopCounterMode(display=False, custom_mapping=ATTENTION_FORMULAS)
    with torch.no_grad(), counter:
        fn(*args, **kwargs)
    return counter.get_total_flops() // 2
