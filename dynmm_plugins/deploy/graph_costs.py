"""Multiply-accumulates of an exported ONNX graph, measured by running it once.

The same convention as :func:`dynmm_plugins.core.count_macs` (torch's FLOP
counter, halved): every convolution and matrix product actually in the graph,
nothing element-wise. Shapes come from one batch-1 run of the graph itself with
every intermediate tensor exposed, so no shape inference has to see through the
exporter's shape arithmetic. The weights keep their PyTorch parameter names
(``backbone.depth_encoder.layer1.0.conv1.weight``), which splits the cost by module.
"""
from typing import Dict, Optional, Sequence

import numpy as np

_COUNTED = ('Conv', 'MatMul', 'Gemm')


def _constant_shapes(graph) -> Dict[str, tuple]:
    from onnx import numpy_helper
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant':
            for attr in node.attribute:
                if attr.name == 'value':
                    shapes[node.output[0]] = tuple(numpy_helper.to_array(attr.t).shape)
    return shapes


def _node_macs(node, shape) -> int:
    if node.op_type == 'Conv':
        out, weight = shape(node.output[0]), shape(node.input[1])
        # out (N, Co, *spatial), weight (Co, Ci / groups, *kernel)
        return int(np.prod(out, dtype=np.int64) * np.prod(weight[1:], dtype=np.int64))
    a, b = shape(node.input[0]), shape(node.input[1])
    if node.op_type == 'Gemm':
        trans_a = any(x.name == 'transA' and x.i for x in node.attribute)
        m, k = (a[1], a[0]) if trans_a else (a[0], a[1])
        trans_b = any(x.name == 'transB' and x.i for x in node.attribute)
        n = b[0] if trans_b else b[1]
        return int(m * k * n)
    out = shape(node.output[0])  # MatMul: broadcast batch dims x M x N, times K
    return int(np.prod(out, dtype=np.int64) * a[-1])


def graph_macs(path: str, inputs: Dict[str, np.ndarray],
               scopes: Sequence[str] = ()) -> Dict[str, int]:
    """MACs of one run of the ONNX graph at ``path`` on ``inputs`` (batch 1).

    Args:
        path (str): ``.onnx`` file.
        inputs (dict): Graph inputs by name (unused ones are ignored).
        scopes (Sequence[str]): Module names, e.g. ``'depth_encoder'``; the MACs of
            nodes whose weight is a parameter of such a module are also reported
            under it.

    Returns:
        dict: ``total`` and one entry per scope.
    """
    import onnx
    import onnxruntime as ort
    model = onnx.load(path)
    graph = model.graph
    known = _constant_shapes(graph)
    counted = [n for n in graph.node if n.op_type in _COUNTED]
    wanted = {name for n in counted for name in list(n.input[:2]) + [n.output[0]]
              if name and name not in known}
    existing = {o.name for o in graph.output}
    graph_inputs = {i.name for i in graph.input}
    for name in sorted(wanted - existing - graph_inputs):
        graph.output.append(onnx.ValueInfoProto(name=name))
    session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    feed = {i.name: inputs[i.name] for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, feed)
    shapes = dict(known)
    shapes.update({n: tuple(v.shape) for n, v in zip(names, values)})
    shapes.update({n: tuple(v.shape) for n, v in inputs.items()})
    shape = shapes.__getitem__
    out = dict(total=0, **{scope: 0 for scope in scopes})
    for node in counted:
        macs = _node_macs(node, shape)
        out['total'] += macs
        params = [name for name in node.input[1:2] if name in known]
        for scope in scopes:
            if any(f'.{scope}.' in f'.{name}' for name in params):
                out[scope] += macs
    return out


def graph_gflops(path: str, inputs: Dict[str, np.ndarray],
                 scopes: Optional[Sequence[str]] = ()) -> Dict[str, float]:
    """:func:`graph_macs` in GMACs ("GFLOPs" in the thop/DynMM convention)."""
    return {k: v / 1e9 for k, v in graph_macs(path, inputs, scopes).items()}
