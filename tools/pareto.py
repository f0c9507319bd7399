#!/usr/bin/env python
"""The accuracy-compute curve of one DynMM checkpoint: calibrated budgets vs fixed branches.

For each ``--fractions`` F the gate bias is calibrated on ``--calib-split`` (F x the
last branch's GFLOPs per image, see tools/calibrate_budget.py; the gate's logits are
computed once) and the model is evaluated on ``--split``: mIoU, realised GFLOPs per
image and the measured batch-1 latency per image. Next to them: the checkpoint as
trained (no bias), every fixed branch k (every image forced to branch k) and, with
``--static``, a static ESANet checkpoint. Latencies are timed on the first
``--latency-images`` images, all configurations interleaved image by image.

Writes ``pareto.csv``, ``pareto.json`` and ``pareto.png`` (mIoU against GFLOPs and
against latency) to ``--out-dir``.

Example::

    python tools/pareto.py CONFIG CKPT --fractions 0.6 0.7 0.8 0.9 1.0 --calib-split val \\
        --split test --static STATIC_CONFIG STATIC_CKPT --out-dir work_dirs/pareto
"""
import contextlib
import os.path as osp
import statistics
import sys
import time
from typing import List, Optional, Sequence

from dynmm_plugins.utils.cli import ArgumentParser, add_model_args, add_run_args, check_common_args, run_tool

PROG = 'pareto.py'
CSV_COLUMNS = ('name', 'kind', 'target_fraction', 'target_gflops', 'calib_realised_gflops', 'mIoU',
               'gflops_per_image', 'gflops_fraction', 'target_error_pct', 'latency_ms', 'tau', 'gate_bias',
               'branch_fractions')


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_model_args(parser, 'config file of a dynamic model', checkpoint_required=True)
    parser.add_argument('--fractions', nargs='+', type=float, required=True, metavar='F',
                        help="targets as fractions of the last branch's GFLOPs per image")
    parser.add_argument('--calib-split', choices=('val', 'test'), default='val',
                        help='split the bias is calibrated on (default: val)')
    parser.add_argument('--split', choices=('val', 'test'), default='test',
                        help='split the points are evaluated on (default: test)')
    parser.add_argument('--static', nargs=2, metavar=('CONFIG', 'CHECKPOINT'),
                        help='a static ESANet model to draw next to the curve')
    parser.add_argument('--latency-images', type=int, default=10,
                        help='images timed at batch 1 per configuration (default: 10; 0: no latency)')
    parser.add_argument('--out-dir', required=True, help='where pareto.csv/json/png go')
    add_run_args(parser, 'no progress bars')
    args = check_common_args(parser, parser.parse_args(argv), at_least=dict(latency_images=0),
                             finite_positive=('fractions',))
    if args.calib_split == args.split:
        print(f'{PROG}: note: calibrating and evaluating on the same split ({args.split}): the realised '
              'GFLOPs are then in-sample', file=sys.stderr)
    return args


@contextlib.contextmanager
def _bias(model, bias):
    saved = model.gate_bias.tolist()
    model.set_gate_bias(bias)
    try:
        yield
    finally:
        model.set_gate_bias(saved)


def latency_ms(points: List[dict], images: list, device, warmup: int = 2) -> None:
    """Median batch-1 latency per image of every point, interleaved image by image (in place)."""
    import torch

    from dynmm_plugins.analysis.latency import synchronize
    times = {p['name']: [] for p in points}
    with torch.inference_mode():
        for p in points:
            with p['context']():
                for _ in range(warmup):
                    p['model']._forward(images[0])
        for x in images:
            for p in points:
                with p['context']():
                    synchronize(device)
                    start = time.perf_counter()
                    p['model']._forward(x)
                    synchronize(device)
                    times[p['name']].append(time.perf_counter() - start)
    for p in points:
        p['latency_ms'] = 1e3 * statistics.median(times[p['name']])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from dynmm_plugins.apis.model_loading import load_model, load_tool_model
    from dynmm_plugins.evaluation.budget import (
        build_split_dataloader,
        calibrate,
        collect_gate_logits,
    )
    from dynmm_plugins.evaluation.test_loop import build_evaluator, evaluate
    from dynmm_plugins.utils.io import file_sha256
    from dynmm_plugins.visualization.pareto import (
        dominance,
        dominance_lines,
        plot_pareto,
        target_summary,
        write_csv,
    )
    from dynmm_plugins.visualization.report import text_table, write_json
    progress = not args.no_progress
    model, cfg, device, _ = load_tool_model(args, need_gate='it has no compute knob')
    static = None
    if args.static:
        static, _ = load_model(args.static[0], args.static[1], args.cfg_options, device)

    # calibrate every target on the cached logits of the calibration split
    logits, sample_costs = collect_gate_logits(model, build_split_dataloader(cfg, args.calib_split), progress)
    budgets = [calibrate(model, logits, sample_costs, target_fraction=f) for f in args.fractions]

    nb = model.num_branches
    points = [dict(name='DynMM as trained', kind='trained', model=model, context=lambda: _bias(model, None))]
    for f, b in zip(args.fractions, budgets):
        points.append(dict(name=f'DynMM @ {100 * f:g}%', kind='calibrated', model=model, target_fraction=f,
                           target_gflops=b['target_gflops'], calib_realised_gflops=b['realised_gflops'],
                           tau=b['tau'], gate_bias=b['gate_bias'],
                           context=(lambda bias: lambda: _bias(model, bias))(b['gate_bias'])))
    for k in range(nb):
        points.append(dict(name=f'branch {k}', kind='fixed', model=model,
                           context=(lambda k: lambda: model.gate_override('fixed', branch=k))(k)))
    if static is not None:
        points.append(dict(name='static ESANet', kind='static', model=static, context=contextlib.nullcontext))

    dataloader = build_split_dataloader(cfg, args.split)
    evaluator = build_evaluator(cfg, dataloader)
    for p in points:
        with p['context']():
            result = evaluate(p['model'], dataloader, evaluator, progress=progress, desc=p['name'])
        routing = result['routing']
        p.update(mIoU=result['mIoU'], gflops_per_image=routing['gflops_per_image'],
                 branch_fractions=routing['branch_fractions'])
        print(f'  {p["name"]}: mIoU {p["mIoU"]:.2f}, {p["gflops_per_image"]:.4f} GFLOPs/image', flush=True)
    full = next(p for p in points if p['name'] == f'branch {nb - 1}')['gflops_per_image']
    for p in points:
        p['gflops_fraction'] = p['gflops_per_image'] / full
        if p['kind'] == 'calibrated':
            p['target_error_pct'] = 100 * (p['gflops_per_image'] / p['target_gflops'] - 1)
    if args.latency_images:
        images = []
        for data in dataloader:
            images += list(model.data_preprocessor(data, False)['inputs'].split(1))
            if len(images) >= args.latency_images:
                break
        latency_ms(points, images[:args.latency_images], device)

    rows = [{k: v for k, v in p.items() if k not in ('model', 'context')} for p in points]
    summary = dict(target_summary(rows, 'gflops_per_image'),
                   dominance=dominance(rows, 'mIoU', 'gflops_per_image'))
    header = ['point', 'target', 'calib GFLOPs', 'mIoU', 'GFLOPs/image', '/ branch 4', 'error %', 'ms/image']
    table = [[r['name'], '' if r.get('target_gflops') is None else f'{r["target_gflops"]:.4f}',
              '' if r.get('calib_realised_gflops') is None else f'{r["calib_realised_gflops"]:.4f}',
              f'{r["mIoU"]:.2f}', f'{r["gflops_per_image"]:.4f}', f'{r["gflops_fraction"]:.3f}',
              '' if r.get('target_error_pct') is None else f'{r["target_error_pct"]:+.2f}',
              '' if r.get('latency_ms') is None else f'{r["latency_ms"]:.1f}'] for r in rows]
    print(f'\n{args.config}: calibrated on {args.calib_split}, evaluated on {args.split} '
          f'({len(dataloader.dataset)} images)')
    print(text_table(header, table))
    print(f'largest |realised - target| on {args.split}: {summary["max_abs_target_error_pct"]:.2f}%; realised '
          f'GFLOPs monotone in the target: {summary["realised_monotone_in_target"]}')
    print('\n'.join(dominance_lines(rows, 'mIoU', 'gflops_per_image', 'GFLOPs')))
    out = osp.abspath(args.out_dir)
    result = dict(config=args.config, checkpoint=args.checkpoint, checkpoint_sha256=file_sha256(args.checkpoint),
                  static=args.static, calib_split=args.calib_split, split=args.split,
                  num_images=len(dataloader.dataset), latency_images=args.latency_images, device=str(device),
                  points=rows, summary=summary)
    written = [write_csv(rows, osp.join(out, 'pareto.csv'), CSV_COLUMNS),
               write_json(result, osp.join(out, 'pareto.json')),
               plot_pareto(rows, osp.join(out, 'pareto.png'), 'mIoU', 'gflops_per_image',
                           'realised GFLOPs per image', f'{osp.basename(args.config)}: calibrated on '
                           f'{args.calib_split}, evaluated on {args.split}', 'mIoU (%)')]
    print('wrote ' + ', '.join(written))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
