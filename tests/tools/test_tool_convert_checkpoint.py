"""tools/convert_dynmm_checkpoint.py: reference SkipGateESANet / ESANet names -> our modules.

The reference's key set is real: tests/data/skipgate_esanet_r34_nbt1d_state_dict_shapes.json
holds the names and shapes of ``SkipGateESANet(...).state_dict()`` (R34-NBt1D, SE-add,
40 classes, ESANet's 512/256/128 decoder), dumped once from the reference code outside
this repository (its provenance is in the file). No reference code is in the repository.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip('mmseg')
from dynmm_plugins.converters.reference_checkpoint import map_reference_key  # noqa: E402

from helpers import REPO as ROOT  # noqa: E402
TOOL = os.path.join(ROOT, 'tools', 'convert_dynmm_checkpoint.py')
R34 = os.path.join(ROOT, 'mmseg_configs/dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py')
with open(os.path.join(ROOT, 'tests/data/skipgate_esanet_r34_nbt1d_state_dict_shapes.json')) as f:
    REFERENCE = json.load(f)
REFERENCE_SHAPES = REFERENCE['state_dict_shapes']

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
    'decoder.upsample1.conv.weight': 'decode_head.upsample1.conv.weight',
    'gate_layer.conv.0.weight': 'backbone.gate.convs.0.conv.weight',
    'gate_layer.conv.1.running_var': 'backbone.gate.convs.0.bn.running_var',
    'gate_layer.conv.3.bias': 'backbone.gate.convs.1.conv.bias',
    'gate_layer.conv.4.running_mean': 'backbone.gate.convs.1.bn.running_mean',
    'gate_layer.fc.weight': 'backbone.gate.fc.weight',
}

def test_known_reference_names_map_to_ours():
    # same-shaped tensors (the gate's two BNs, the two final upsamplings) are told apart
    # only by their names: a strict load would not notice them swapped
    for reference, ours in KNOWN.items():
        assert reference in REFERENCE_SHAPES, reference
        assert map_reference_key(reference) == ours


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def _reference_checkpoint(path, keep=lambda key: True):
    """A reference checkpoint with the real key set: tensor i is filled with the value i."""
    state = {}
    for i, (key, shape) in enumerate(REFERENCE_SHAPES.items()):
        if keep(key):
            dtype = torch.long if key.endswith('num_batches_tracked') else torch.float32
            state['module.' + key] = torch.full(shape, i, dtype=dtype)  # DataParallel prefix
    torch.save(dict(state_dict=state, epoch=499), path)
    return state


def _r34_on_meta():
    """Our R34-NBt1D NYUv2 DynMM model, parameters on the meta device (no memory, no init)."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import dynmm_plugins  # noqa: F401
    register_all_modules()
    with torch.device('meta'):
        return MODELS.build(Config.fromfile(R34).model)


def test_every_reference_key_converts_and_loads_strictly_into_the_r34_config(tmp_path):
    src, dst = tmp_path / 'skipgate_esanet_r34.pth', tmp_path / 'converted.pth'
    reference = _reference_checkpoint(src)
    proc = _run(src, dst, '--config', R34)
    assert proc.returncode == 0, proc.stderr
    assert f'converted {len(REFERENCE_SHAPES)} tensors (dynamic model)' in proc.stdout
    converted = torch.load(dst)['state_dict']
    assert len(converted) == len(REFERENCE_SHAPES) == 913
    # every tensor kept its values under its new name (no two names collapsed into one)
    index = {int(v.flatten()[0]) for v in converted.values()}
    assert index == set(range(len(REFERENCE_SHAPES)))
    for ref_key, ours in KNOWN.items():
        assert torch.equal(converted[ours], reference['module.' + ref_key])
    # strict load into the config the README names (independent of the tool's own check)
    model = _r34_on_meta()
    result = model.load_state_dict(converted, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in model.parameters()) == REFERENCE['num_parameters'] == 46983128


def test_unmapped_keys_are_listed(tmp_path):
    src = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'classifier.weight': torch.zeros(2), 'encoder_rgb.conv1.weight': torch.zeros(1)}),
               src)
    proc = _run(src, tmp_path / 'out.pth')
    assert proc.returncode != 0
    assert "1 keys of" in proc.stderr and "'classifier.weight'" in proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_checkpoint_that_does_not_fit_the_config_is_refused(tmp_path):
    src = tmp_path / 'partial.pth'
    _reference_checkpoint(src, keep=lambda key: not key.startswith(('decoder.', 'context_module.')))
    proc = _run(src, tmp_path / 'out.pth', '--config', R34)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert 'error: converted checkpoint does not fit' in proc.stderr and 'decode_head' in proc.stderr
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.parametrize('content', [None, b'\x00' * 100])
def test_missing_or_corrupt_source_is_named(tmp_path, content):
    src = tmp_path / 'src.pth'
    if content is not None:
        src.write_bytes(content)
    proc = _run(src, tmp_path / 'out.pth')
    assert proc.returncode != 0 and str(src) in proc.stderr
