#!/usr/bin/env python
"""The built-in DynMM demo: synthetic RGB-D data, static ESANet vs DynMM, on the CPU.

1. writes the synthetic RGB-D set (half of its scenes hide their objects in RGB,
   so only depth reveals them) unless it is already there;
2. trains static ESANet (R18-NBt1D), then finetunes it twice for the same number
   of iterations with the same schedule: as DynMM (with the gate: random branches
   first, then a soft gate whose temperature decays, then hard gates; the resource
   loss charges the depth encoder's GFLOPs) and, as the fair baseline, as static
   ESANet again; in-process with mmengine's Runner;
3. evaluates both on the test set: mIoU, realised GFLOPs per image, the branch
   histogram and where 'depth' and 'rgb' scenes were sent;
4. runs a short robustness sweep (noise on depth, DynMM's protocol);
5. measures the latency per image (batch 1, test images);
6. prints the table and writes a report folder (summary.json, summary.md,
   robustness.csv/json, miou_vs_noise.png, routing.png).

Example::

    python tools/run_demo.py                      # ~10 min on 2 CPU cores
    python tools/run_demo.py --iters 60 --finetune-iters 40 --out work_dirs/demo_quick
    python tools/run_demo.py --quick --out work_dirs/demo_smoke   # every step, tiny: ~1 min
"""
import os
import os.path as osp
import sys
import time
from typing import Optional, Sequence

from dynmm_plugins.utils.cli import ArgumentParser, argparse_type, check_output_dir, run_tool
from dynmm_plugins.utils.noise import check_noise_level, check_noise_mode

PROG = 'run_demo.py'
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STATIC_CONFIG = 'esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py'
DYNAMIC_CONFIG = 'dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py'
STATIC, DYNAMIC = 'ESANet (static)', 'DynMM'

# Defaults: the three trainings together take about as long as the rest of the
# demo allows on 2 cores (see the README for measured times).
DEFAULT_ITERS = 300
DEFAULT_FINETUNE_ITERS = 200
# --quick: every step of the demo on a tiny schedule (a smoke test; its numbers mean nothing)
QUICK = dict(iters=2, finetune_iters=2, num_train=4, num_test=2, levels=[0.0, 1.0], num_runs=1,
             latency_images=1)


def config_path(name: str) -> str:
    """A config of this project: from the checkout, else from the installed package."""
    local = osp.join(REPO, 'mmseg_configs', name)
    if osp.isfile(local):
        return local
    import mmseg_configs
    return osp.join(osp.dirname(mmseg_configs.__file__), name)


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='work_dirs/demo', help='work folder (default: work_dirs/demo)')
    parser.add_argument('--data', default=None, help='synthetic data folder (default: OUT/data)')
    parser.add_argument('--iters', type=int, default=DEFAULT_ITERS,
                        help=f'training iterations of static ESANet (default: {DEFAULT_ITERS})')
    parser.add_argument('--finetune-iters', type=int, default=None,
                        help='finetuning iterations of DynMM and of the static baseline '
                             f'(default: {DEFAULT_FINETUNE_ITERS / DEFAULT_ITERS:.2g} x --iters)')
    parser.add_argument('--num-train', type=int, default=200, help='training images (default: 200)')
    parser.add_argument('--num-test', type=int, default=50, help='test images (default: 50)')
    parser.add_argument('--modes', nargs='+', type=argparse_type(check_noise_mode, 'mode'),
                        default=[-1, 1], help='robustness noise modes (default: -1 1)')
    parser.add_argument('--levels', nargs='+', type=argparse_type(check_noise_level, 'level'),
                        default=[0.0, 0.5, 1.0], help='robustness noise levels (default: 0 0.5 1)')
    parser.add_argument('--num-runs', type=int, default=1, help='robustness runs (default: 1)')
    parser.add_argument('--latency-images', type=int, default=20,
                        help='test images timed at batch 1 (default: 20)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument('--reuse', action='store_true',
                        help='keep checkpoints of an earlier run with the same settings')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: every step on a tiny schedule (overrides '
                             + ', '.join(f'--{k.replace("_", "-")} '
                                         + (' '.join(map(str, v)) if isinstance(v, list) else str(v))
                                         for k, v in QUICK.items())
                             + '); the numbers mean nothing')
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    if args.finetune_iters is None:
        args.finetune_iters = max(1, round(args.iters * DEFAULT_FINETUNE_ITERS / DEFAULT_ITERS))
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    for name in ('iters', 'finetune_iters', 'num_train', 'num_test', 'num_runs', 'latency_images'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def _step(number: int, text: str) -> None:
    print(f'\n[{number}/6] {text}', flush=True)


def _train(config: str, data: str, work_dir: str, iters: int, seed: int, reuse: bool,
           load_from: Optional[str] = None, label: str = '') -> str:
    from dynmm_plugins.utils.training import synthetic_train_config, train
    checkpoint = osp.join(work_dir, f'iter_{iters}.pth')
    if reuse and osp.isfile(checkpoint):
        print(f'  reusing {checkpoint}')
        return checkpoint
    cfg = synthetic_train_config(config, data, work_dir, iters, load_from=load_from, seed=seed)
    start = time.time()
    checkpoint = train(cfg, progress=label)
    print(f'  {label}: {iters} iterations in {time.time() - start:.0f} s -> {checkpoint}')
    return checkpoint


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    check_output_dir(args.out, '--out')  # before minutes of training, not after
    start = time.time()
    import torch

    from dynmm_plugins.utils.benchmark import latency_per_image, load_average
    from dynmm_plugins.utils.demo import ensure_synthetic_data, format_summary
    from dynmm_plugins.utils.evaluation import (build_evaluator, build_test_dataloader, load_model,
                                                robustness_sweep)
    from dynmm_plugins.utils.report import (plot_branch_histograms, plot_miou_vs_noise, write_json,
                                            write_robustness_csv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = osp.abspath(args.out)
    data = osp.abspath(args.data or osp.join(out, 'data'))
    report_dir = osp.join(out, 'report')
    os.makedirs(report_dir, exist_ok=True)
    static_cfg, dynamic_cfg = config_path(STATIC_CONFIG), config_path(DYNAMIC_CONFIG)
    times = {}

    _step(1, f'synthetic RGB-D data in {data}')
    t = time.time()
    made = ensure_synthetic_data(data, args.num_train, args.num_test, seed=args.seed)
    print(f'  {"generated" if made else "found"} {args.num_train} train / {args.num_test} test images')
    times['data_s'] = time.time() - t

    _step(2, f'training static ESANet ({args.iters} it.), then finetuning it '
             f'({args.finetune_iters} it.) as DynMM and as static ESANet')
    t = time.time()
    pretrained = _train(static_cfg, data, osp.join(out, 'esanet_pretrain'), args.iters, args.seed,
                        args.reuse, label='ESANet (pretrain)')
    times['train_pretrain_s'] = time.time() - t
    t = time.time()
    static_ckpt = _train(static_cfg, data, osp.join(out, 'esanet_static'), args.finetune_iters,
                         args.seed, args.reuse, load_from=pretrained, label='ESANet (finetune)')
    times['train_static_s'] = time.time() - t
    t = time.time()
    print('  (DynMM\'s gate is new: mmengine reports its weights as missing from the static '
          'checkpoint, as expected)')
    dynamic_ckpt = _train(dynamic_cfg, data, osp.join(out, 'dynmm'), args.finetune_iters, args.seed,
                          args.reuse, load_from=pretrained, label='DynMM (finetune)')
    times['train_dynamic_s'] = time.time() - t

    _step(3, 'evaluating both models on the test set, and 4. the robustness sweep')
    t = time.time()
    options = {'test_dataloader.dataset.data_root': data, 'test_dataloader.num_workers': 0}
    static_model, cfg = load_model(static_cfg, static_ckpt, options)
    dynamic_model, _ = load_model(dynamic_cfg, dynamic_ckpt, options)
    dataloader = build_test_dataloader(cfg)
    evaluator = build_evaluator(cfg, dataloader)
    models = {STATIC: static_model, DYNAMIC: dynamic_model}
    modes = sorted(set(args.modes) | {-1})  # the clean numbers are the summary's
    sweep = robustness_sweep(list(models.items()), dataloader, evaluator, modes, args.levels,
                             args.num_runs, progress=True,
                             kind_evaluator=lambda: build_evaluator(cfg, dataloader))
    results = {}
    for row in sweep:
        if row['mode'] == -1:
            results[row['model']] = dict(mIoU=row['miou_mean'], routing=row['routing'],
                                         gate=row['gate'],
                                         mIoU_by_scene_kind=row.get('miou_by_scene_kind', {}))
    times['evaluate_s'] = time.time() - t

    _step(5, f'latency per image (batch 1, {args.latency_images} test images, '
             f'{torch.get_num_threads()} threads)')
    t = time.time()
    inputs = []
    for batch in dataloader:
        x = static_model.data_preprocessor(batch, False)['inputs']
        inputs += list(x.split(1))
        if len(inputs) >= args.latency_images:
            break
    load_before = load_average()
    latency = latency_per_image(models, inputs[:args.latency_images])
    for name, lat in latency.items():
        results[name]['latency_ms'] = lat['median_ms']
        print(f'  {name}: median {lat["median_ms"]:.1f} ms, mean {lat["mean_ms"]:.1f} ms per image')
    times['latency_s'] = time.time() - t

    _step(6, f'report in {report_dir}')
    sweep_shown = [r for r in sweep if r['mode'] != -1]
    files = dict(
        robustness_csv=write_robustness_csv(sweep, osp.join(report_dir, 'robustness.csv')),
        robustness_json=write_json(sweep, osp.join(report_dir, 'robustness.json')),
        miou_vs_noise=plot_miou_vs_noise(sweep, osp.join(report_dir, 'miou_vs_noise.png'),
                                         'Synthetic RGB-D: mIoU under noise'),
        routing=plot_branch_histograms({n: r['routing'] for n, r in results.items()},
                                       osp.join(report_dir, 'routing.png')))
    times['total_s'] = time.time() - start
    notes = [f'both models: {args.iters} iterations of static ESANet, then {args.finetune_iters} '
             'of finetuning (DynMM with its gate schedule and resource loss; static ESANet as is)',
             f'wall time {times["total_s"]:.0f} s (data {times["data_s"]:.0f}, training '
             f'{times["train_pretrain_s"]:.0f} + {times["train_static_s"]:.0f} + '
             f'{times["train_dynamic_s"]:.0f}, evaluation and sweep '
             f'{times["evaluate_s"]:.0f}, latency {times["latency_s"]:.0f}); torch threads '
             f'{torch.get_num_threads()}, load average {load_before}',
             f'GFLOPs are realised per image at the padded test input '
             f'{"x".join(map(str, results[DYNAMIC]["routing"]["input_sizes"][0]))}: the cost of the '
             'branch each image took']
    text = format_summary(results, sweep_shown, STATIC, DYNAMIC, notes=notes)
    md = format_summary(results, sweep_shown, STATIC, DYNAMIC, markdown=True, notes=notes)
    with open(osp.join(report_dir, 'summary.md'), 'w') as f:
        f.write('# DynMM demo on the synthetic RGB-D set\n\n' + md + '\n\n'
                '![mIoU vs noise](miou_vs_noise.png)\n\n![routing](routing.png)\n')
    files['summary_md'] = osp.join(report_dir, 'summary.md')
    summary = dict(settings=vars(args), data=data,
                   checkpoints={'pretrain': pretrained, STATIC: static_ckpt, DYNAMIC: dynamic_ckpt},
                   configs={STATIC: static_cfg, DYNAMIC: dynamic_cfg}, results=results,
                   robustness=sweep, latency=latency, times=times, load_average=load_before,
                   torch_threads=torch.get_num_threads(), files=files)
    files['summary_json'] = write_json(summary, osp.join(report_dir, 'summary.json'))
    print('\n' + text)
    print('\nwrote ' + ', '.join(osp.relpath(p) for p in files.values() if p))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
