"""tools/convert_dynmm_checkpoint.py: reference SkipGateESANet / ESANet names -> our modules."""
import os
import re
import subprocess
import sys

import pytest
import torch

pytest.importorskip('mmseg')
from dynmm_plugins.utils.reference_checkpoint import map_reference_key  # noqa: E402
from tiny_dynmm import TINY_MODEL, build_tiny  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, 'tools', 'convert_dynmm_checkpoint.py')

# Names as the reference code spells them (attribute names of SkipGateESANet, ESANet's
# Decoder, ConvBNAct, PyramidPoolingModule and GlobalGate), with ours beside them.
KNOWN = {
    'encoder_rgb.layer1.0.conv3x1_1.weight': 'backbone.rgb_encoder.layer1.0.conv3x1_1.weight',
    'encoder_depth.conv1.weight': 'backbone.depth_encoder.conv1.weight',
    'se_layer0.se_rgb.fc.0.weight': 'backbone.stem_fusion.se_rgb.fc.0.weight',
    'se_layer4.se_depth.fc.2.bias': 'neck.fusions.3.se_depth.fc.2.bias',
    'skip_layer1.0.conv.weight': 'neck.skip_projections.0.conv.weight',
    'skip_layer3.0.bn.running_var': 'neck.skip_projections.2.bn.running_var',
    'context_module.features.1.1.conv.weight': 'decode_head.context.pools.1.1.conv.weight',
    'context_module.final_conv.bn.weight': 'decode_head.context.bottleneck.bn.weight',
    'decoder.decoder_module_1.conv3x3.conv.weight': 'decode_head.decoder_modules.0.conv.conv.weight',
    'decoder.decoder_module_3.decoder_blocks.2.bn2.bias':
        'decode_head.decoder_modules.2.blocks.2.bn2.bias',
    'decoder.decoder_module_2.upsample.conv.weight': 'decode_head.decoder_modules.1.upsample.conv.weight',
    'decoder.decoder_module_2.side_output.bias': 'decode_head.decoder_modules.1.side_output.bias',
    'decoder.conv_out.weight': 'decode_head.conv_seg.weight',
    'decoder.upsample2.conv.bias': 'decode_head.upsample2.conv.bias',
    'gate_layer.conv.0.weight': 'backbone.gate.convs.0.conv.weight',
    'gate_layer.conv.4.running_mean': 'backbone.gate.convs.1.bn.running_mean',
    'gate_layer.fc.weight': 'backbone.gate.fc.weight',
}

# Our name -> the reference's, written independently of the converter's rules.
_TO_REFERENCE = [
    (r'^backbone\.rgb_encoder\.', 'encoder_rgb.'),
    (r'^backbone\.depth_encoder\.', 'encoder_depth.'),
    (r'^backbone\.stem_fusion\.', 'se_layer0.'),
    (r'^neck\.fusions\.(\d)\.', lambda m: f'se_layer{int(m.group(1)) + 1}.'),
    (r'^neck\.skip_projections\.(\d)\.', lambda m: f'skip_layer{int(m.group(1)) + 1}.0.'),
    (r'^backbone\.gate\.convs\.(\d)\.(conv|bn)\.',
     lambda m: f'gate_layer.conv.{3 * int(m.group(1)) + (0 if m.group(2) == "conv" else 1)}.'),
    (r'^backbone\.gate\.fc\.', 'gate_layer.fc.'),
    (r'^decode_head\.context\.pools\.', 'context_module.features.'),
    (r'^decode_head\.context\.bottleneck\.', 'context_module.final_conv.'),
    (r'^decode_head\.decoder_modules\.(\d)\.conv\.',
     lambda m: f'decoder.decoder_module_{int(m.group(1)) + 1}.conv3x3.'),
    (r'^decode_head\.decoder_modules\.(\d)\.blocks\.',
     lambda m: f'decoder.decoder_module_{int(m.group(1)) + 1}.decoder_blocks.'),
    (r'^decode_head\.decoder_modules\.(\d)\.',
     lambda m: f'decoder.decoder_module_{int(m.group(1)) + 1}.'),
    (r'^decode_head\.conv_seg\.', 'decoder.conv_out.'),
    (r'^decode_head\.(upsample[12])\.', r'decoder.\1.'),
]


def _to_reference(key):
    for pattern, repl in _TO_REFERENCE:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key, count=1)
    raise AssertionError(f'test has no reference name for {key}')


def test_known_reference_names_map_to_ours():
    for reference, ours in KNOWN.items():
        assert map_reference_key(reference) == ours


def _config_file(tmp_path):
    path = tmp_path / 'tiny_config.py'
    path.write_text(f'custom_imports = dict(imports=["dynmm_plugins"])\nmodel = {TINY_MODEL!r}\n')
    return str(path)


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_reference_checkpoint_round_trips_and_loads_strictly(tmp_path):
    torch.manual_seed(0)
    model = build_tiny()
    ours = model.state_dict()
    reference = {'module.' + _to_reference(k): v for k, v in ours.items()}  # DataParallel prefix
    src, dst = tmp_path / 'skipgate_esanet.pth', tmp_path / 'converted.pth'
    torch.save(dict(state_dict=reference, epoch=499), src)

    proc = _run(src, dst, '--config', _config_file(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert 'dynamic model' in proc.stdout
    converted = torch.load(dst)['state_dict']
    assert list(converted) == list(ours)
    assert all(torch.equal(converted[k], ours[k]) for k in ours)
    fresh = build_tiny()
    assert not fresh.load_state_dict(converted, strict=True).missing_keys


def test_unmapped_keys_are_listed(tmp_path):
    src = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'classifier.weight': torch.zeros(2), 'encoder_rgb.conv1.weight': torch.zeros(1)}),
               src)
    proc = _run(src, tmp_path / 'out.pth')
    assert proc.returncode != 0
    assert "1 keys of" in proc.stderr and "'classifier.weight'" in proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_checkpoint_that_does_not_fit_the_config_is_refused(tmp_path):
    model = build_tiny()
    reference = {_to_reference(k): v for k, v in model.state_dict().items()
                 if not k.startswith('decode_head.')}
    src = tmp_path / 'partial.pth'
    torch.save(dict(state_dict=reference), src)
    proc = _run(src, tmp_path / 'out.pth', '--config', _config_file(tmp_path))
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert 'error: converted checkpoint does not fit' in proc.stderr and 'decode_head' in proc.stderr


@pytest.mark.parametrize('content', [None, b'\x00' * 100])
def test_missing_or_corrupt_source_is_named(tmp_path, content):
    src = tmp_path / 'src.pth'
    if content is not None:
        src.write_bytes(content)
    proc = _run(src, tmp_path / 'out.pth')
    assert proc.returncode != 0 and str(src) in proc.stderr
