"""Map state dicts of the reference DynMM ``SkipGateESANet`` / ESANet onto our modules.

The reference code (zihuixue/DynMM, TUI-NICR/ESANet) names parameters after its
own attributes; ours follow MMSeg's backbone / neck / decode_head split. Blocks
inside the encoders keep their names, so the map is a list of prefix rules.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

# (reference pattern, our replacement); the first matching rule wins.
_RULES: List[Tuple[str, str]] = [
    (r'^encoder_rgb\.', 'backbone.rgb_encoder.'),
    (r'^encoder_depth\.', 'backbone.depth_encoder.'),
    (r'^se_layer0\.', 'backbone.stem_fusion.'),
    (r'^se_layer([1-4])\.', lambda m: f'neck.fusions.{int(m.group(1)) - 1}.'),
    (r'^skip_layer([1-3])\.0\.', lambda m: f'neck.skip_projections.{int(m.group(1)) - 1}.'),
    (r'^gate_layer\.conv\.0\.', 'backbone.gate.convs.0.conv.'),
    (r'^gate_layer\.conv\.1\.', 'backbone.gate.convs.0.bn.'),
    (r'^gate_layer\.conv\.3\.', 'backbone.gate.convs.1.conv.'),
    (r'^gate_layer\.conv\.4\.', 'backbone.gate.convs.1.bn.'),
    (r'^gate_layer\.fc\.', 'backbone.gate.fc.'),
    (r'^context_module\.features\.(\d+)\.1\.', r'decode_head.context.pools.\1.1.'),
    (r'^context_module\.final_conv\.', 'decode_head.context.bottleneck.'),
    (r'^decoder\.decoder_module_([1-3])\.conv3x3\.',
     lambda m: f'decode_head.decoder_modules.{int(m.group(1)) - 1}.conv.'),
    (r'^decoder\.decoder_module_([1-3])\.decoder_blocks\.',
     lambda m: f'decode_head.decoder_modules.{int(m.group(1)) - 1}.blocks.'),
    (r'^decoder\.decoder_module_([1-3])\.(upsample|side_output)\.',
     lambda m: f'decode_head.decoder_modules.{int(m.group(1)) - 1}.{m.group(2)}.'),
    (r'^decoder\.conv_out\.', 'decode_head.conv_seg.'),
    (r'^decoder\.(upsample[12])\.', r'decode_head.\1.'),
]
_COMPILED = [(re.compile(pattern), repl) for pattern, repl in _RULES]


def map_reference_key(key: str):
    """Our name for reference parameter ``key``, or None if no rule applies."""
    for pattern, repl in _COMPILED:
        if pattern.match(key):
            return pattern.sub(repl, key, count=1)
    return None


def convert_reference_state_dict(state_dict: Dict) -> Tuple[OrderedDict, List[str]]:
    """Rename a reference state dict; returns (converted, unmapped reference keys).

    A ``module.`` prefix (from DataParallel) is stripped first.
    """
    converted, unmapped = OrderedDict(), []
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        new_key = map_reference_key(key)
        if new_key is None:
            unmapped.append(key)
        else:
            converted[new_key] = value
    return converted, unmapped
