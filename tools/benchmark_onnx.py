#!/usr/bin/env python
"""Latency of an exported DynMM directory on onnxruntime: per branch, mixed batches, vs PyTorch.

Median over ``--repeats`` timed runs after ``--warmup`` untimed ones, all
configurations interleaved round by round (a shared machine's load hits them
alike). Rows:

- ``onnx branch k``: every sample on branch k (stems + gate graph, then branch k's);
- ``onnx mixed``: a batch with one sample per branch, routed through the runtime
  (grouped by branch, each group on its own graph), per image, next to the
  FLOP-proportional ideal ``latency(branch 4) x mean GFLOPs ratio``;
- with ``--config``: the reference DynMM inference in PyTorch eager (every stage
  of both encoders and every fusion computed, the branch selected afterwards,
  BatchNorm kept: the reference's own inference) on the same branch-0 batch; with
  ``--pytorch-branches`` also every PyTorch eager branch and the mixed batch
  through the hard-gate path (``--fuse-conv-bn``: those with BatchNorm folded).

The summary (printed, and ``targets`` in the JSON) checks the deployment targets:
latency(k) / latency(last) <= 1.05 x its GFLOPs ratio for every branch (ONNX, and
PyTorch with ``--pytorch-branches``), the mixed batch within 1.1x of the
FLOP-proportional ideal, ONNX branch 0 <= 0.65x the reference's time.

Example (all speed targets in one run; the README's numbers)::

    python tools/benchmark_onnx.py work_dirs/deploy/dynmm_r34 --threads 2 --repeats 10 \\
        --config mmseg_configs/dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py \\
        --pytorch-branches --fuse-conv-bn --out work_dirs/deploy/speed.json
"""
import copy
import importlib.util
import sys
from typing import Optional, Sequence

from dynmm_plugins.utils.cli import (
    ArgumentParser,
    add_cfg_options,
    add_inference_args,
    add_pause_arg,
    apply_inference_args,
    run_tool,
)

PROG = 'benchmark_onnx.py'


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('deploy_dir', help='directory written by tools/export_onnx.py')
    parser.add_argument('--batch-size', type=int, default=1, help='batch size (default: 1)')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs (default: 10)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs first (default: 2)')
    add_pause_arg(parser)
    parser.add_argument('--interleave-frameworks', action='store_true',
                        help='interleave the ONNX and the PyTorch runs in the same rounds '
                             '(default: all ONNX rounds, then all PyTorch rounds)')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads of onnxruntime and '
                                                               'torch (default: 2)')
    parser.add_argument('--providers', nargs='+', help='onnxruntime execution providers (default: CPU)')
    parser.add_argument('--spin-wait', action='store_true',
                        help="onnxruntime's default: idle intra-op workers spin-wait, and those "
                             "of the gate's session compete with the branch's (default: off)")
    parser.add_argument('--config', help='also time this config in PyTorch eager: the reference '
                                         "inference (compute all + select) and each branch")
    parser.add_argument('--checkpoint', help='weights of --config (latency does not depend on them)')
    parser.add_argument('--pytorch-branches', action='store_true',
                        help='also time every branch of --config in PyTorch eager')
    add_inference_args(parser)  # for the PyTorch model; the reference keeps BatchNorm
    parser.add_argument('--out', help='write the numbers as JSON to this file')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    for name in ('batch_size', 'repeats', 'threads'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    for name in ('warmup', 'pause'):
        if not getattr(args, name) >= 0:  # NaN too
            parser.error(f'--{name} must be >= 0, got {getattr(args, name)}')
    if (args.checkpoint or args.fuse_conv_bn or args.keep_freed_memory or args.channels_last
            or args.pytorch_branches) and not args.config:
        parser.error('--checkpoint, --fuse-conv-bn, --keep-freed-memory, --channels-last and --pytorch-branches '
                     'need --config')
    if importlib.util.find_spec('onnxruntime') is None:
        parser.error('onnxruntime not installed: pip install "dynmm[deploy]"')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    import numpy as np
    import onnxruntime
    import torch

    from dynmm_plugins.analysis.latency import (
        compute_all_and_select,
        forced_branches,
        load_average,
        mixed_assignment,
        time_interleaved,
    )
    from dynmm_plugins.deploy import OnnxDynMM
    from dynmm_plugins.visualization.report import text_table, write_json
    torch.set_num_threads(args.threads)

    def forced_branches_forward(model, inputs, branches):
        with forced_branches(model, branches):
            return model._forward(inputs)
    runtime = OnnxDynMM(args.deploy_dir, providers=args.providers, threads=args.threads,
                        spin_wait=args.spin_wait)
    if not runtime.is_dynamic:
        raise ValueError(f'{args.deploy_dir} holds a static export: there are no branches to compare')
    nb, (_, h, w) = runtime.num_branches, runtime.input_shape
    gflops = runtime.branch_gflops
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, 4, h, w), dtype=np.float32)
    mixed = mixed_assignment(nb, nb)
    xm = rng.standard_normal((nb, 4, h, w), dtype=np.float32)
    fns = {f'onnx branch {k}': (lambda k=k: runtime.predict(x, branch=k)) for k in range(nb)}
    fns['onnx mixed'] = lambda: runtime.predict(xm, branch=mixed)
    torch_gflops = {}
    if args.config:
        from dynmm_plugins.apis.model_loading import load_model
        reference, _ = load_model(args.config, args.checkpoint, args.cfg_options, 'cpu')
        # the reference keeps its BatchNorms and layout: it is the reference's inference
        model = copy.deepcopy(reference) if args.fuse_conv_bn or args.channels_last else reference
        apply_inference_args(args, [model])
        xt = torch.from_numpy(x)
        fns['pytorch reference (compute all + select), branch 0'] = \
            lambda: compute_all_and_select(reference, xt, [0] * args.batch_size)

        def eager(k):
            def run():
                with model.gate_override('fixed', branch=k):
                    return model._forward(xt)
            return run
        if args.pytorch_branches:
            for k in range(nb):
                fns[f'pytorch branch {k}'] = eager(k)
            xmt = torch.from_numpy(xm)
            fns['pytorch mixed'] = lambda: forced_branches_forward(model, xmt, mixed)
        torch_gflops = model.branch_costs((h, w))['total']
    load_before = load_average()
    # each framework's runs interleaved among themselves, one framework after the other:
    # the ONNX targets compare ONNX runs only, the PyTorch ones PyTorch runs only
    groups = [fns] if args.interleave_frameworks else [
        {n: f for n, f in fns.items() if n.startswith(prefix)} for prefix in ('onnx', 'pytorch')]
    timings = {}
    for group in groups:
        if group:
            timings.update(time_interleaved(group, args.repeats, args.warmup, 'cpu',
                                            progress=not args.no_progress, pause_s=args.pause))
    load_after = load_average()

    def per_image(name):
        n = nb if name.endswith(' mixed') else args.batch_size
        return 1e3 * timings[name]['median_s'] / n

    rows = []
    for name in fns:
        if name.startswith('onnx branch') or name.startswith('pytorch branch'):
            k = int(name.split()[-1])
            table = gflops if name.startswith('onnx') else torch_gflops
            base = f'{name.split()[0]} branch {nb - 1}'
            rows.append(dict(name=name, per_image_ms=per_image(name), gflops=table[k],
                             gflops_ratio=table[k] / table[-1],
                             latency_ratio=per_image(name) / per_image(base)))
        elif name.endswith(' mixed'):
            kind = name.split()[0]
            table = gflops if kind == 'onnx' else torch_gflops
            ratio = float(np.mean([table[k] / table[-1] for k in mixed]))
            rows.append(dict(name=name, per_image_ms=per_image(name), gflops=ratio * table[-1],
                             gflops_ratio=ratio,
                             latency_ratio=per_image(name) / per_image(f'{kind} branch {nb - 1}')))
        else:
            rows.append(dict(name=name, per_image_ms=per_image(name), gflops=torch_gflops[-1],
                             gflops_ratio=1.0, latency_ratio=None))
    for row in rows:
        ratio = row['latency_ratio']
        row['latency_over_gflops_ratio'] = None if ratio is None else ratio / row['gflops_ratio']
        row['times_ms'] = [1e3 * t for t in timings[row['name']]['times_s']]
    print(f'{args.deploy_dir}: input {args.batch_size}x4x{h}x{w} (mixed: {nb} images, branches '
          f'{mixed}); onnxruntime {onnxruntime.__version__} {runtime.providers[0]}, '
          f'{args.threads} threads; median of {args.repeats} after {args.warmup} warm-up, interleaved '
          f'{"across" if args.interleave_frameworks else "within each of the"} frameworks; load '
          f'average before {load_before}, after {load_after}')
    print(text_table(['run', 'ms/image', 'GFLOPs', 'GFLOPs / branch 4', 'latency / branch 4',
                      'latency ratio / GFLOPs ratio'],
                     [[r['name'], f'{r["per_image_ms"]:.1f}', f'{r["gflops"]:.3f}',
                       f'{r["gflops_ratio"]:.3f}',
                       '-' if r['latency_ratio'] is None else f'{r["latency_ratio"]:.3f}',
                       '-' if r['latency_over_gflops_ratio'] is None
                       else f'{r["latency_over_gflops_ratio"]:.3f}'] for r in rows]))
    summary = {}
    if args.config:
        ref = per_image('pytorch reference (compute all + select), branch 0')
        summary['onnx_branch0_over_reference'] = per_image('onnx branch 0') / ref
        print(f'onnx branch 0 takes {summary["onnx_branch0_over_reference"]:.3f}x the reference '
              "implementation's time on the same input")
    targets = speed_targets(rows, summary)
    for name, target in targets.items():
        print(f'target {name}: {target["value"]:.3f} <= {target["limit"]} '
              f'{"met" if target["met"] else "NOT met"}')
    if args.out:
        print('wrote ' + write_json(dict(deploy_dir=args.deploy_dir, rows=rows, summary=summary,
                                          targets=targets, all_targets_met=all(
                                              t['met'] for t in targets.values()),
                                          threads=args.threads, spin_wait=args.spin_wait,
                                          pause_s=args.pause,
                                          interleave_frameworks=args.interleave_frameworks,
                                          batch_size=args.batch_size,
                                          repeats=args.repeats, warmup=args.warmup,
                                          onnxruntime=onnxruntime.__version__,
                                          torch=torch.__version__, config=args.config,
                                          fuse_conv_bn=args.fuse_conv_bn,
                                          keep_freed_memory=args.keep_freed_memory,
                                          channels_last=args.channels_last,
                                          load_average_before=load_before,
                                          load_average_after=load_after), args.out))
    return 0


# the deployment targets: each latency ratio over its GFLOPs ratio, and ONNX
# branch 0 against the reference implementation
BRANCH_LIMIT, MIXED_LIMIT, REFERENCE_LIMIT = 1.05, 1.1, 0.65


def speed_targets(rows, summary) -> dict:
    """Each target's value, limit and whether it is met, by name."""
    targets = {}
    for row in rows:
        over = row['latency_over_gflops_ratio']
        if over is None or row['gflops_ratio'] == 1.0 and not row['name'].endswith(' mixed'):
            continue  # the reference row, and the last branch against itself
        limit = MIXED_LIMIT if row['name'].endswith(' mixed') else BRANCH_LIMIT
        targets[f'{row["name"]}: latency ratio / GFLOPs ratio'] = dict(
            value=over, limit=limit, met=bool(over <= limit))
    if 'onnx_branch0_over_reference' in summary:
        value = summary['onnx_branch0_over_reference']
        targets['onnx branch 0 / reference implementation'] = dict(
            value=value, limit=REFERENCE_LIMIT, met=bool(value <= REFERENCE_LIMIT))
    return targets


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
