"""Export a DynMM segmentor to ONNX: one graph for stems + gate, one static graph per branch.

A gated network in one graph needs control flow (an ONNX ``If``) that runtimes
handle badly; one static graph per path with the choice made in host code runs
everywhere. The graphs:

- ``gate.onnx``: input ``input`` (N, 4, H, W), the normalised RGB-D batch ->
  ``rgb_features``, ``depth_features`` (after the stem fusion and max-pools) and
  ``gate_logits`` (N, B); with a gated stem fusion (``gated_stem_fusion``) the RGB
  features are not fused yet;
- ``branch_k.onnx``: ``rgb_features``, ``depth_features`` -> ``logits``
  (N, C, H, W); it holds the RGB encoder, the first k depth stages, their
  fusions (and a gated stem fusion for k > 0) and the decoder, nothing else
  (branch 0 has no depth input at all);
- a static ESANet (no gate) exports ``model.onnx``: ``input`` -> ``logits``.

Before export BatchNorm is folded into the convolutions (:mod:`.folding`) and the
PPM's adaptive pooling, where the bins do not divide the feature map (which the
TorchScript exporter refuses), becomes two fixed matrix products. The batch axis
is dynamic, H and W are fixed. Each graph is checked against the unfolded
PyTorch model, and its GFLOPs are measured on the graph itself.
"""
import copy
import os
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from dynmm_plugins.utils.io import file_sha256

from .folding import fold_batchnorm
from .manifest import FORMAT, MANIFEST, VERSION, write_manifest

DEFAULT_OPSET = 17


class _GateGraph(nn.Module):
    """Stems, stem fusion (unless gated), max-pools and gate of a DynMM segmentor."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.backbone

    def forward(self, inputs):
        """(rgb features, depth features, gate logits)."""
        return self.backbone(inputs)


class _BranchGraph(nn.Module):
    """RGB stages, the first ``branch`` depth stages and fusions, neck and decoder."""

    def __init__(self, model, branch):
        super().__init__()
        self.model, self.branch = model, branch

    def forward(self, rgb, depth):
        """Logits (N, C, H, W) of branch ``self.branch``."""
        feats = self.model._encode_branch(self.branch, rgb, depth)
        return self.model.decode_head.forward(self.model.neck(feats))


class _StaticGraph(nn.Module):
    """The whole static ESANet (every depth stage fused), input to logits."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.backbone
        self.branch = _BranchGraph(model, model.num_branches - 1)

    def forward(self, inputs):
        """Logits (N, C, H, W)."""
        rgb, depth, _ = self.backbone(inputs)
        return self.branch(rgb, depth)


class MatrixAdaptiveAvgPool2d(nn.Module):
    """Adaptive average pooling as ``P_h @ x @ P_w^T`` for the input size seen at export.

    Exact (the same bins as ``nn.AdaptiveAvgPool2d``) and exportable for any
    size, also where the bins do not divide the input.

    Args:
        output_size (int | tuple): As ``nn.AdaptiveAvgPool2d``'s.
    """

    def __init__(self, output_size):
        super().__init__()
        size = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        self.output_size = tuple(size)

    @staticmethod
    def pool_matrix(size_in: int, size_out: int) -> torch.Tensor:
        """(size_out, size_in) averaging matrix of adaptive pooling's bins."""
        matrix = torch.zeros(size_out, size_in)
        for i in range(size_out):
            start, end = (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)
            matrix[i, start:end] = 1.0 / (end - start)
        return matrix

    def forward(self, x):
        """Pooled features (N, C, *output_size)."""
        h, w = int(x.shape[-2]), int(x.shape[-1])
        out_h, out_w = (o if o is not None else s for o, s in zip(self.output_size, (h, w)))
        rows = self.pool_matrix(h, out_h).to(x)
        cols = self.pool_matrix(w, out_w).to(x)
        return rows @ x @ cols.t()


def make_exportable(model: nn.Module, input_size: Tuple[int, int]) -> nn.Module:
    """Replace adaptive pools whose bins do not divide their input (at ``input_size``)."""
    sizes = {}
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.__setitem__(m, tuple(i[0].shape[-2:])))
             for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    try:
        with torch.no_grad(), model.gate_override('fixed', branch=model.num_branches - 1):
            model._forward(torch.zeros(1, 4, *input_size))
    finally:
        for hook in hooks:
            hook.remove()
    for name, module in list(model.named_modules()):
        if module not in sizes:
            continue
        out = module.output_size if isinstance(module.output_size, tuple) else (module.output_size,) * 2
        if all(o is None or s % o == 0 for s, o in zip(sizes[module], out)):
            continue
        parent_name, _, child = name.rpartition('.')
        setattr(model.get_submodule(parent_name) if parent_name else model, child,
                MatrixAdaptiveAvgPool2d(module.output_size))
    return model


def _export(module: nn.Module, args: tuple, path: str, input_names: Sequence[str],
            output_names: Sequence[str], opset: int) -> None:
    # the exporter restores the wrapper's training flag on every submodule afterwards
    assert not module.training, 'export wrappers must be in eval mode'
    axes = {name: {0: 'batch'} for name in list(input_names) + list(output_names)}
    tmp = path + '.tmp'
    with warnings.catch_warnings(), torch.no_grad():
        # the tracer warns about every shape it turns into a constant: H and W are
        # fixed on purpose, and about the deprecation of the TorchScript exporter
        warnings.simplefilter('ignore')
        torch.onnx.export(module, args, tmp, dynamo=False, opset_version=opset,
                          input_names=list(input_names), output_names=list(output_names),
                          dynamic_axes=axes, do_constant_folding=True)
    os.replace(tmp, path)


def _graph_io(path: str) -> Tuple[list, list]:
    import onnx
    graph = onnx.load(path, load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers], [o.name for o in graph.output]


def _session(path: str):
    import onnxruntime as ort
    return ort.InferenceSession(path, providers=['CPUExecutionProvider'])


def _compare(reference: torch.Tensor, got: np.ndarray, folded: Optional[torch.Tensor] = None) -> dict:
    ref = reference.detach().cpu().numpy()
    out = dict(max_abs_diff=float(np.abs(ref - got).max()),
               argmax_agreement=float((ref.argmax(1) == got.argmax(1)).mean()),
               max_abs_logit=float(np.abs(ref).max()))
    if folded is not None:  # the part of the difference that folding alone makes, in PyTorch
        out['max_abs_diff_folded_pytorch'] = float(np.abs(ref - folded.cpu().numpy()).max())
    return out


def export_model(model, out_dir: str, input_size: Tuple[int, int], opset: int = DEFAULT_OPSET,
                 classes: Sequence[str] = (), mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, pad_val: float = 0.0,
                 checkpoint: Optional[str] = None, config: Optional[str] = None,
                 verify_batch: int = 2, seed: int = 0) -> dict:
    """Export ``model`` (a :class:`DynMMEncoderDecoder`) to ``out_dir``; returns the manifest.

    Args:
        model: The segmentor with its weights loaded (it is not changed: a copy
            is folded and exported).
        out_dir (str): Output directory (created).
        input_size (tuple): (H, W) of the graphs, multiples of 32.
        opset (int): ONNX opset. Default: 17.
        classes (Sequence[str]): Class names, one per output channel.
        mean, std (Sequence[float]): Per-channel input normalisation (4 values:
            R, G, B in 0..255, depth in mm); default no normalisation.
        pad_val (float): Value of padded pixels after normalisation.
        checkpoint (str, optional): The weights' file, recorded by sha256.
        config (str, optional): The config file, recorded by name.
        verify_batch (int): Batch size of the equality check (a random normal
            input, like a normalised batch). Default: 2.
        seed (int): Seed of that input.
    """
    h, w = (int(v) for v in input_size)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(f'input size must be positive multiples of 32 (the encoder stride), '
                         f'got {(h, w)}')
    num_classes = model.decode_head.out_channels
    if classes and len(classes) != num_classes:
        raise ValueError(f'{len(classes)} class names for a model with {num_classes} output channels')
    nb = model.num_branches
    model = model.eval()
    deploy = copy.deepcopy(model).cpu().eval()
    folded = fold_batchnorm(deploy)
    make_exportable(deploy, (h, w))
    os.makedirs(out_dir, exist_ok=True)
    stale = osp.join(out_dir, MANIFEST)
    if osp.exists(stale):  # the directory is incomplete until the new manifest is written
        os.remove(stale)

    x = torch.randn(verify_batch, 4, h, w, generator=torch.Generator().manual_seed(seed))
    param = next(model.parameters())
    x_model = x.to(param)
    zeros = np.zeros((1, 4, h, w), np.float32)
    from .graph_costs import graph_gflops
    graphs, checks, gflops = {}, {}, {}
    with torch.no_grad():
        if model.has_gate:
            gate_file = 'gate.onnx'
            _export(_GateGraph(deploy).eval(), (x[:1],), osp.join(out_dir, gate_file), ['input'],
                    ['rgb_features', 'depth_features', 'gate_logits'], opset)
            gate = _session(osp.join(out_dir, gate_file))
            rgb, depth, logits = gate.run(None, {'input': x.numpy()})
            _, _, ref_logits = model.backbone(x_model)
            checks['gate'] = dict(_compare(ref_logits, logits), branch_agreement=float(
                (ref_logits.argmax(1).cpu().numpy() == logits.argmax(1)).mean()))
            feats0 = dict(zip(('rgb_features', 'depth_features'), gate.run(None, {'input': zeros})[:2]))
            gflops['gate'] = graph_gflops(osp.join(out_dir, gate_file), {'input': zeros},
                                          ['depth_encoder'])
            graphs['gate'] = _entry(out_dir, gate_file)
            graphs['branches'] = []
            gflops['branches'] = []
            checks['branches'] = []
            for k in range(nb):
                name = f'branch_{k}.onnx'
                _export(_BranchGraph(deploy, k).eval(), (torch.from_numpy(rgb[:1]), torch.from_numpy(depth[:1])),
                        osp.join(out_dir, name), ['rgb_features', 'depth_features'], ['logits'], opset)
                session = _session(osp.join(out_dir, name))
                feed = {'rgb_features': rgb, 'depth_features': depth}
                got = session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})[0]
                with model.gate_override('fixed', branch=k):
                    ref = model._forward(x_model)
                with deploy.gate_override('fixed', branch=k):
                    folded_ref = deploy._forward(x)
                checks['branches'].append(_compare(ref, got, folded_ref))
                gflops['branches'].append(graph_gflops(osp.join(out_dir, name), feats0,
                                                       ['depth_encoder']))
                graphs['branches'].append(_entry(out_dir, name))
        else:
            name = 'model.onnx'
            _export(_StaticGraph(deploy).eval(), (x[:1],), osp.join(out_dir, name), ['input'], ['logits'],
                    opset)
            got = _session(osp.join(out_dir, name)).run(None, {'input': x.numpy()})[0]
            checks['static'] = _compare(model._forward(x_model), got, deploy._forward(x))
            gflops['static'] = graph_gflops(osp.join(out_dir, name), {'input': zeros},
                                            ['depth_encoder'])
            graphs['static'] = _entry(out_dir, name)

    if model.has_gate:
        total = [round(gflops['gate']['total'] + b['total'], 6) for b in gflops['branches']]
        depth_gflops = [round(gflops['gate']['depth_encoder'] + b['depth_encoder'], 6)
                        for b in gflops['branches']]
        gate_only = round(gflops['gate']['total'] - gflops['gate']['depth_encoder'], 6)
    else:  # the static model is the last branch; the other branches do not exist
        total = [None] * (nb - 1) + [round(gflops['static']['total'], 6)]
        depth_gflops = [None] * (nb - 1) + [round(gflops['static']['depth_encoder'], 6)]
        gate_only = None
    # the compute knob set on the model (a gate_bias buffer, zeros when unset) travels along
    bias = getattr(model, 'gate_bias', None) if model.has_gate else None
    if isinstance(bias, torch.Tensor):
        bias = bias.detach().cpu().double().tolist()
    if bias is not None and not any(bias):
        bias = None
    manifest = dict(
        format=FORMAT, version=VERSION, model=type(model).__name__, dynamic=bool(model.has_gate),
        classes=list(classes) or [str(i) for i in range(num_classes)], num_classes=num_classes,
        input=dict(shape=[4, h, w], layout='NCHW', dtype='float32', batch='dynamic',
                   channels=['R (0..255)', 'G (0..255)', 'B (0..255)', 'depth (mm)'],
                   mean=[float(v) for v in (mean if mean is not None else [0.0] * 4)],
                   std=[float(v) for v in (std if std is not None else [1.0] * 4)],
                   pad_val=float(pad_val)),
        num_branches=nb, opset=int(opset), graphs=graphs,
        # GMACs per image (the thop/DynMM "GFLOPs"), counted on the exported graphs:
        # total[k] = gate graph + branch k graph; depth_encoder[k] = its depth part
        gflops=dict(total=total, depth_encoder=depth_gflops, gate_and_stems=gate_only,
                    graphs=gflops, input_size=[h, w]),
        gate_bias=bias,
        checkpoint=dict(path=checkpoint, sha256=file_sha256(checkpoint) if checkpoint else None),
        config=config, batchnorm_folded=folded,
        verification=dict(batch_size=verify_batch, seed=seed, input='standard normal', **checks),
        exporter=dict(torch=torch.__version__, exporter='torchscript (dynamo=False)'))
    write_manifest(manifest, out_dir)
    return manifest


def _entry(out_dir: str, name: str) -> dict:
    inputs, outputs = _graph_io(osp.join(out_dir, name))
    return dict(file=name, inputs=inputs, outputs=outputs, bytes=osp.getsize(osp.join(out_dir, name)))


def config_classes(cfg) -> list:
    """Class names of the config's test set (its ``metainfo`` or the dataset class's)."""
    from mmseg.registry import DATASETS
    dataset = cfg.test_dataloader.dataset
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None:
        dataset_cls = DATASETS.get(dataset.type)
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes', ())
    return list(classes)
