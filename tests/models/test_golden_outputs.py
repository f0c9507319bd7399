"""Our model's numerics against a committed golden output of our own model.

The tiny DynMM model of tests/helpers/tiny_dynmm.py gets fixed weights (every tensor drawn from a
generator seeded by its name, so neither the order modules are built in nor the init
scheme matters) and runs one fixed input through each of the 5 branches (gate forced with
``set_gate('fixed', branch=k)``, grouped by branch as at inference) and through the soft
gate. A sample of the logits, their per-class sums over the whole map and the gate's
softmax must equal tests/data/golden_tiny_dynmm.json (float32 CPU, torch 2.14.1) within
1e-5: any change in the model's numerics (an operation, an epsilon, an order of fusion)
fails here. Regenerate the file only for an intended change:

    PYTHONPATH=$PWD python tests/models/test_golden_outputs.py
"""
import json
import os.path as osp
import sys
import zlib

import pytest
import torch

pytest.importorskip('mmseg')

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tests/ (helpers), also when run as a script
from helpers import DATA  # noqa: E402
from helpers.tiny_dynmm import build_tiny  # noqa: E402

GOLDEN = osp.join(DATA, 'golden_tiny_dynmm.json')
SIZE = (64, 64)
STRIDE = 16  # the logits kept from each map: every 16th pixel in each direction
TOLERANCE = 1e-5


def fixed_weights(model):
    """Give every tensor of ``model`` values drawn from a generator seeded by its name.

    Convolutions get normals scaled by 1/sqrt(fan-in), norms a weight near 1, small
    biases and means, variances in [0.5, 1.5): the logits stay within +-5.
    """
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue  # num_batches_tracked
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            noise = torch.randn(tensor.shape, generator=g)
            if name.endswith('running_var'):
                value = 0.5 + torch.rand(tensor.shape, generator=g)
            elif name.endswith(('running_mean', 'bias')):
                value = 0.1 * noise
            elif tensor.dim() == 1:  # norm weight
                value = 1 + 0.1 * noise
            else:
                value = noise / tensor[0].numel() ** 0.5
            tensor.copy_(value)
    return model


def fixed_input():
    g = torch.Generator().manual_seed(2023)
    return torch.randn(2, 4, *SIZE, generator=g)


def _summary(logits):
    return dict(sample=logits[:, :, ::STRIDE, ::STRIDE].flatten().tolist(),
                class_sums=logits.sum(dim=(2, 3)).flatten().tolist())


def model_outputs():
    """The outputs the golden file holds, computed now."""
    torch.manual_seed(0)  # only the construction; every weight is overwritten
    model = fixed_weights(build_tiny(inference_gate=None)).eval()
    x = fixed_input()
    out = {}
    with torch.no_grad():
        for k in range(model.num_branches):
            model.set_gate('fixed', branch=k)
            out[f'branch_{k}'] = _summary(model(x, mode='tensor'))
        model.set_gate('soft', temperature=1.0)
        out['soft_gate'] = _summary(model(x, mode='tensor'))
        out['gate_softmax'] = model.last_gate_weights.flatten().tolist()
    return out


def test_outputs_equal_the_golden_file():
    with open(GOLDEN) as f:
        golden = json.load(f)
    ours = model_outputs()
    assert sorted(ours) == sorted(golden['outputs'])
    for name, expected in golden['outputs'].items():
        for part in (expected if isinstance(expected, dict) else {'': expected}):
            want = torch.tensor(expected[part] if part else expected)
            got = torch.tensor(ours[name][part] if part else ours[name])
            scale = max(1.0, want.abs().max().item())  # class sums run over 4096 pixels
            torch.testing.assert_close(got, want, rtol=TOLERANCE, atol=TOLERANCE * scale,
                                       msg=lambda m, n=name, p=part: f'{n} {p}: {m}')


def test_the_golden_outputs_tell_the_branches_apart():
    """The file is not degenerate: every branch, and the soft mixture, differ."""
    with open(GOLDEN) as f:
        outputs = json.load(f)['outputs']
    samples = [torch.tensor(outputs[f'branch_{k}']['sample']) for k in range(5)]
    samples.append(torch.tensor(outputs['soft_gate']['sample']))
    for i in range(len(samples)):
        for j in range(i):
            assert (samples[i] - samples[j]).abs().max() > 100 * TOLERANCE, (i, j)
    gate = torch.tensor(outputs['gate_softmax']).view(2, 5)
    assert torch.allclose(gate.sum(1), torch.ones(2)) and gate.min() > 0


if __name__ == '__main__':
    document = dict(
        what='tests/models/test_golden_outputs.py: tiny DynMM (tests/helpers/tiny_dynmm.py), fixed_weights(), '
             f'fixed_input() of shape (2, 4, {SIZE[0]}, {SIZE[1]}); per output: logits[:, :, '
             f'::{STRIDE}, ::{STRIDE}] flattened and per-class sums of the logits',
        torch=torch.__version__, outputs=model_outputs())
    with open(GOLDEN, 'w') as f:
        json.dump(document, f, indent=1)
        f.write('\n')
    print(f'wrote {GOLDEN}')
