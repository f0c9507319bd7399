#!/usr/bin/env python
"""Latency and throughput of each DynMM branch, of mixed batches, and of computing everything.

On the current device (CPU or GPU), median over ``--repeats`` timed runs after
``--warmup`` untimed ones; the configurations are interleaved round by round so
that load changes on a shared machine hit them alike. Printed next to each
branch's GFLOPs ratio to branch 4:

- branch k for the whole batch (gate mode 'fixed': depth stages after k are not run);
- static ESANet (the same config without the gate: branch 4, no gate);
- a mixed batch (round-robin branches 0..4, through the hard-gate path that groups
  the batch by branch), per image;
- the reference DynMM's inference ("compute all and select": both encoders and all
  fusions run for every sample, the branch is picked by mixing) on the same batches.

Example (the README's numbers)::

    python tools/benchmark_latency.py mmseg_configs/dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py \\
        --shape 480 640 --batch-size 1 --repeats 10 --warmup 2
"""
import copy
import platform
import sys
from typing import Optional, Sequence

from dynmm_plugins.utils.cli import (
    ArgumentParser,
    add_budget_arg,
    add_inference_args,
    add_model_args,
    add_pause_arg,
    add_run_args,
    add_shape_arg,
    apply_inference_args,
    check_common_args,
    check_output_file,
    run_tool,
)

PROG = 'benchmark_latency.py'


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_model_args(parser, 'config file of a dynamic (or static) model',
                   'load these weights (latency does not depend on them)')
    add_shape_arg(parser)
    parser.add_argument('--batch-size', type=int, default=1, help='batch size (default: 1)')
    parser.add_argument('--mixed-batch-size', type=int, default=None,
                        help='batch of the mixed-branch runs (default: max(batch size, branches))')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs (default: 10)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs first (default: 2)')
    add_pause_arg(parser)
    add_budget_arg(parser, 'adds its operating point, the per-branch latencies weighted by its calibrated '
                           'branch fractions')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--no-static', action='store_true', help='skip the static ESANet model')
    add_inference_args(parser)
    parser.add_argument('--out', help='write the numbers as JSON to this file')
    add_run_args(parser)
    return check_common_args(parser, parser.parse_args(argv),
                             at_least=dict(batch_size=1, repeats=1, warmup=0, mixed_batch_size=2, threads=1,
                                           pause=0))


def static_variant(cfg, device):
    """The config's model without the gate (static ESANet), in eval mode."""
    from dynmm_plugins.apis.model_loading import build_model
    static_cfg = copy.deepcopy(cfg)
    static_cfg.merge_from_dict({'model.backbone.gate': None, 'model.loss_resource': None,
                                'model.gate_mode': None, 'model.freeze_all_but_gate': False})
    return build_model(static_cfg, None, device)


def run_benchmark(model, size, batch_size, mixed_batch_size, repeats, warmup, device,
                  static=None, progress=False, budget=None, pause_s=0.0) -> dict:
    """Time every configuration; returns latencies, throughputs and GFLOPs ratios.

    With a ``budget`` (a budget file's content) a row for its operating point is
    added: the branch rows weighted by the budget's calibrated branch fractions.
    """
    import torch

    from dynmm_plugins.analysis.latency import (
        compute_all_and_select,
        forced_branches,
        mixed_assignment,
        time_interleaved,
    )
    costs = model.branch_costs(size)
    full = costs['total'][-1]
    nb = model.num_branches
    x = torch.randn(batch_size, 4, *size, device=device)
    mixed = mixed_assignment(mixed_batch_size, nb)
    xm = torch.randn(mixed_batch_size, 4, *size, device=device)

    def fixed(k):
        def run():
            with model.gate_override('fixed', branch=k):
                return model._forward(x)
        return run

    def grouped_mixed():
        with forced_branches(model, mixed):
            return model._forward(xm)

    fns = {f'branch {k}': fixed(k) for k in range(nb)}
    if static is not None:
        fns['static ESANet'] = lambda: static._forward(x)
    fns['compute all + select'] = lambda: compute_all_and_select(model, x, [0] * batch_size)
    fns['mixed, skipping'] = grouped_mixed
    fns['mixed, compute all + select'] = lambda: compute_all_and_select(model, xm, mixed)
    with torch.inference_mode():  # the two paths agree (to float tolerance)
        with forced_branches(model, mixed):
            skip_out = model._forward(xm)
        max_diff = float((skip_out - compute_all_and_select(model, xm, mixed)).abs().max())
    timings = time_interleaved(fns, repeats, warmup, device, progress, pause_s)
    mixed_gflops = sum(costs['total'][k] for k in mixed) / len(mixed)
    rows = []
    for name, t in timings.items():
        n = mixed_batch_size if name.startswith('mixed') else batch_size
        if name.startswith('branch'):
            gflops = costs['total'][int(name.split()[1])]
        elif name == 'static ESANet':
            gflops = static.branch_costs(size)['total'][-1]
        elif name == 'mixed, skipping':
            gflops = mixed_gflops
        else:  # everything computed, whatever the branch
            gflops = full
        rows.append(dict(name=name, batch_size=n, median_ms=1e3 * t['median_s'],
                         per_image_ms=1e3 * t['median_s'] / n, images_per_s=n / t['median_s'],
                         gflops_per_image=gflops, gflops_ratio=gflops / full,
                         times_ms=[1e3 * v for v in t['times_s']]))
    b4 = next(r for r in rows if r['name'] == f'branch {nb - 1}')['per_image_ms']
    for r in rows:
        r['latency_ratio'] = r['per_image_ms'] / b4
    if budget is not None:
        rows.append(budget_row(rows, budget, costs, full, b4))
    b0 = rows[0]  # the cheapest branch against the full one: does skipping pay off in time?
    branch_0 = dict(latency_ratio=b0['latency_ratio'], gflops_ratio=b0['gflops_ratio'],
                    latency_over_gflops_ratio=b0['latency_ratio'] / b0['gflops_ratio'])
    return dict(rows=rows, mixed_assignment=mixed, max_abs_diff_skip_vs_all=max_diff,
                costs=costs, branch_0_vs_full=branch_0)


def skipping_summary(skip_ms: float, every_ms: float, gflops_ratio: float) -> str:
    """Skipping against computing everything, worded by the sign of the difference."""
    flops = f'{100 * (1 - gflops_ratio):.1f}% fewer GFLOPs'
    change = 1 - skip_ms / every_ms
    if change >= 0:
        return (f'skipping saves {100 * change:.1f}% of the per-image latency of computing '
                f'everything ({flops})')
    return (f'skipping is {-100 * change:.1f}% SLOWER per image than computing everything '
            f'despite {flops} (timing noise or per-branch overhead at this size)')


def budget_fractions(budget: dict, num_branches: int) -> list:
    """The calibrated branch fractions of a budget file; ValueError if absent or malformed."""
    fractions = budget.get('branch_fractions')
    if not (isinstance(fractions, list) and len(fractions) == num_branches
            and all(isinstance(f, (int, float)) and 0 <= f <= 1 for f in fractions)):
        raise ValueError(f'the budget file has no branch_fractions of {num_branches} values in [0, 1]; '
                         'rewrite it with tools/calibrate_budget.py')
    return fractions


def budget_row(rows, budget: dict, costs: dict, full: float, b4_ms: float) -> dict:
    """The budget's operating point from the branch rows: sum_k fraction_k * (ms, GFLOPs) of branch k.

    The mean per-image latency of batches whose images take branch k with the
    calibrated fraction f_k (a batch of one branch takes that branch's time), at
    this input size and batch size.
    """
    fractions = budget_fractions(budget, len(costs['total']))
    by_name = {r['name']: r for r in rows}
    ms = sum(f * by_name[f'branch {k}']['per_image_ms'] for k, f in enumerate(fractions))
    gflops = sum(f * c for f, c in zip(fractions, costs['total']))
    batch = by_name['branch 0']['batch_size']
    return dict(name='budget (branch mix)', batch_size=batch, median_ms=ms * batch, per_image_ms=ms,
                images_per_s=1e3 / ms, gflops_per_image=gflops, gflops_ratio=gflops / full, latency_ratio=ms / b4_ms,
                branch_fractions=fractions, times_ms=[])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    from dynmm_plugins.analysis.latency import load_average
    from dynmm_plugins.apis.model_loading import load_tool_model
    from dynmm_plugins.visualization.report import text_table, write_json
    if args.threads:
        torch.set_num_threads(args.threads)
    check_output_file(args.out, '--out')  # before the work, not after it
    model, cfg, device, budget = load_tool_model(args)
    if budget is not None:
        budget_fractions(budget, model.num_branches)  # before minutes of timing
    size = tuple(args.shape) if args.shape else tuple(model.cost_input_size)
    mixed_bs = args.mixed_batch_size or max(args.batch_size, model.num_branches)
    static = None if args.no_static else static_variant(cfg, device)
    apply_inference_args(args, (model, static))
    load_before = load_average()
    result = run_benchmark(model, size, args.batch_size, mixed_bs, args.repeats, args.warmup,
                           device, static, progress=not args.no_progress, budget=budget,
                           pause_s=args.pause)
    load_after = load_average()
    dev = torch.cuda.get_device_name(device) if torch.device(device).type == 'cuda' else \
        f'CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)'
    print(f'{args.config}\ndevice: {dev}; input {args.batch_size}x4x{size[0]}x{size[1]} '
          f'(mixed batches: {mixed_bs}, branches {result["mixed_assignment"]}); median of '
          f'{args.repeats} runs after {args.warmup} warm-up, interleaved'
          f'{"; BatchNorm folded" if args.fuse_conv_bn else ""}'
          f'{"; freed memory kept" if args.keep_freed_memory else ""}'
          f'{"; channels-last" if args.channels_last else ""}; load average '
          f'before {load_before}, after {load_after}')
    header = ['run', 'batch', 'ms/batch', 'ms/image', 'images/s', 'GFLOPs/image',
              'GFLOPs / branch 4', 'latency / branch 4']
    table = [[r['name'], r['batch_size'], f'{r["median_ms"]:.1f}', f'{r["per_image_ms"]:.1f}',
              f'{r["images_per_s"]:.2f}', f'{r["gflops_per_image"]:.3f}', f'{r["gflops_ratio"]:.3f}',
              f'{r["latency_ratio"]:.3f}'] for r in result['rows']]
    print(text_table(header, table))
    rows = {r['name']: r for r in result['rows']}
    skip, every = rows['mixed, skipping'], rows['mixed, compute all + select']
    print(f'mixed batch: {skipping_summary(skip["per_image_ms"], every["per_image_ms"], skip["gflops_ratio"])}; '
          f'outputs agree to {result["max_abs_diff_skip_vs_all"]:.2e}')
    b0 = result['branch_0_vs_full']
    print(f'branch 0 / branch {model.num_branches - 1}: latency ratio {b0["latency_ratio"]:.3f} for a '
          f'GFLOPs ratio of {b0["gflops_ratio"]:.3f} ({b0["latency_over_gflops_ratio"]:.2f}x)')
    if args.out:
        result.update(config=args.config, device=dev, input_size=list(size),
                      batch_size=args.batch_size, repeats=args.repeats, warmup=args.warmup,
                      pause_s=args.pause, fuse_conv_bn=args.fuse_conv_bn, keep_freed_memory=args.keep_freed_memory,
                      channels_last=args.channels_last,
                      load_average_before=load_before, load_average_after=load_after)
        print(f'wrote {write_json(result, args.out)}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
