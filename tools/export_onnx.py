#!/usr/bin/env python
"""Export a DynMM (or static ESANet) checkpoint to ONNX graphs for deployment.

A dynamic model becomes a stems + gate graph (``gate.onnx``) and one graph per
branch (``branch_k.onnx``, only the depth stages that branch uses); a static
ESANet becomes one graph (``model.onnx``). BatchNorm is folded into the
convolutions first, the batch axis is dynamic, H and W are fixed. ``manifest.json``
records the classes, the input normalisation and size, the per-branch GFLOPs
measured on the graphs, the opset, the checkpoint's sha256 and how closely every
graph matches PyTorch. Run the export with
:class:`dynmm_plugins.deploy.OnnxDynMM` or evaluate it with tools/eval_onnx.py.

Example::

    python tools/export_onnx.py mmseg_configs/dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py \\
        work_dirs/dynmm/iter_40000.pth --out work_dirs/deploy/dynmm_r34
"""
import importlib.util
import sys
from typing import Optional, Sequence

from dynmm_plugins.utils.cli import ArgumentParser, add_cfg_options, run_tool

PROG = 'export_onnx.py'


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output directory (graphs + manifest.json)')
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                        help="input size of the graphs (default: the model's cost_input_size)")
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default: 17)')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if args.shape and (min(args.shape) <= 0 or args.shape[0] % 32 or args.shape[1] % 32):
        parser.error(f'--shape must be positive multiples of 32 (the encoder stride), got '
                     f'{args.shape[0]} {args.shape[1]}')
    if not 7 <= args.opset <= 21:
        parser.error(f'--opset must be in 7..21, got {args.opset}')
    missing = [m for m in ('onnx', 'onnxruntime') if importlib.util.find_spec(m) is None]
    if missing:
        parser.error(f'{" and ".join(missing)} not installed: pip install "dynmm[deploy]"')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from dynmm_plugins.apis.model_loading import load_model
    from dynmm_plugins.deploy.export import config_classes, export_model
    model, cfg = load_model(args.config, args.checkpoint, args.cfg_options, 'cpu')
    size = tuple(args.shape) if args.shape else tuple(model.cost_input_size)
    pre = cfg.model.get('data_preprocessor') or {}
    manifest = export_model(model, args.out, size, args.opset, classes=config_classes(cfg),
                            mean=pre.get('mean'), std=pre.get('std'), pad_val=pre.get('pad_val', 0),
                            checkpoint=args.checkpoint, config=args.config)
    gflops = manifest['gflops']
    checks = manifest['verification']
    print(f'exported {args.checkpoint} ({manifest["model"]}, {"dynamic" if manifest["dynamic"] else "static"}, '
          f'{manifest["batchnorm_folded"]} BatchNorms folded) for input 4x{size[0]}x{size[1]}, '
          f'opset {args.opset}, to {args.out}')
    if manifest['dynamic']:
        print(f'  gate.onnx: stems + gate, {gflops["gate_and_stems"]:.3f} GFLOPs of its own; '
              f'branch decisions equal PyTorch\'s on {100 * checks["gate"]["branch_agreement"]:.2f}% '
              f'of {checks["batch_size"]} random inputs')
        for k, check in enumerate(checks['branches']):
            print(f'  branch_{k}.onnx: {gflops["total"][k]:.3f} GFLOPs with the gate; max |diff| to '
                  f'PyTorch {check["max_abs_diff"]:.2e}, argmax equal on '
                  f'{100 * check["argmax_agreement"]:.3f}% of pixels')
    else:
        check = checks['static']
        print(f'  model.onnx: {gflops["total"][-1]:.3f} GFLOPs; max |diff| to PyTorch '
              f'{check["max_abs_diff"]:.2e}, argmax equal on {100 * check["argmax_agreement"]:.3f}%')
    print(f'wrote {args.out}/manifest.json')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
