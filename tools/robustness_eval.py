#!/usr/bin/env python
"""Robustness of an RGB-D segmentation checkpoint to noise on one modality (DynMM's protocol).

For every test batch a seeded u ~ U(0, 1) decides which normalised modality gets
``x + level * mean(|x|) * N(0, 1)``: mode -1 none, 0 RGB (u < 1/3), 1 depth
(u < 1/3), 2 RGB (u < 1/3) or depth (1/3 <= u < 2/3). Runs use seeds
0..num_runs-1; the tool reports the mean and (population) std of their mIoU, the
branch histogram and the realised GFLOPs per image. Works on static ESANet and
DynMM checkpoints of this project's configs.

Examples::

    # the reference's form: one mode, one level
    python tools/robustness_eval.py CONFIG CKPT --mode 1 --noise 0.5 --num-runs 5 --hard

    # a sweep, DynMM against static ESANet: CSV, JSON and the mIoU-vs-noise plot
    python tools/robustness_eval.py DYN_CONFIG DYN_CKPT --mode -1 0 1 2 \\
        --noise 0 0.25 0.5 0.75 1 --num-runs 3 --compare STATIC_CONFIG STATIC_CKPT \\
        --out-dir work_dirs/robustness

``--hard`` evaluates a dynamic model with hard gates (our configs already do at
inference); ``--baseline`` forces branch 4 (static ESANet) on a dynamic model and
changes nothing on a static one; ``--hard`` on a static model is an error.
"""
import os.path as osp
import sys
from typing import List, Optional, Sequence

from dynmm_plugins.evaluation.noise import NOISE_MODES, check_noise_level, check_noise_mode
from dynmm_plugins.utils.cli import (
    ArgumentParser,
    DynMMUserError,
    add_budget_arg,
    add_inference_args,
    add_model_args,
    add_run_args,
    apply_inference_args,
    argparse_type,
    check_common_args,
    check_device,
    check_output_dir,
    check_output_file,
    run_tool,
)

PROG = 'robustness_eval.py'


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_model_args(parser, checkpoint_required=True)
    parser.add_argument('--mode', nargs='+', type=argparse_type(check_noise_mode, 'mode'), default=[-1],
                        help='noise mode(s): ' + ', '.join(f'{k} {v}' for k, v in NOISE_MODES.items())
                        + ' (default: -1)')
    parser.add_argument('--noise', nargs='+', type=argparse_type(check_noise_level, 'noise'),
                        default=[0.0], help='noise level(s) in [0, 1] (default: 0)')
    parser.add_argument('--num-runs', type=int, default=1, help='runs, seeds 0..N-1 (default: 1)')
    gate = parser.add_mutually_exclusive_group()
    gate.add_argument('--hard', action='store_true', help='hard gates (dynamic models only)')
    gate.add_argument('--baseline', action='store_true',
                      help='force branch 4, i.e. static ESANet, on a dynamic model')
    add_budget_arg(parser, 'the gate runs with its bias (the compute knob)')
    parser.add_argument('--name', help='label of the model in tables and plots')
    parser.add_argument('--compare', nargs=2, action='append', default=[],
                        metavar=('CONFIG', 'CHECKPOINT'),
                        help='another model evaluated the same way, e.g. static ESANet '
                             '(with its config\'s own gate mode); may be repeated')
    parser.add_argument('--out', help='write the results to this file (.json: JSON, else CSV)')
    parser.add_argument('--out-dir', help='write robustness.csv, robustness.json and '
                                          'miou_vs_noise.png here')
    parser.add_argument('--per-kind-miou', action='store_true',
                        help="also the mIoU of each scene kind (needs 'scene_kind' in the "
                             'metainfo, as the synthetic set has)')
    add_inference_args(parser)  # applied to every model
    add_run_args(parser, 'no progress bars')
    args = check_common_args(parser, parser.parse_args(argv), at_least=dict(num_runs=1))
    noisy = [level for level in args.noise if level > 0]
    if set(args.mode) == {-1} and noisy:
        parser.error(f'--noise {noisy[0]:g} has no effect with --mode -1 (clean inputs); '
                     'add --mode 0, 1 or 2 to perturb RGB, depth or either')
    if args.budget and args.baseline:
        parser.error('--budget biases the gate; --baseline does not use it')
    return args


def check_scene_kinds(dataloader, config: str) -> None:
    """``--per-kind-miou`` needs a scene kind per image (the data root's scene_kinds.json)."""
    dataset = dataloader.dataset
    kinds = [dataset.get_data_info(i).get('scene_kind') for i in range(len(dataset))]
    if not any(kind is not None for kind in kinds):
        root = getattr(dataset, 'data_root', None) or '(no data_root)'
        raise DynMMUserError(f'--per-kind-miou: the test set of {config} has no scene kinds: '
                             f'{root}/scene_kinds.json is missing (the synthetic set writes it; '
                             'NYUv2 has none)')


def _label(model, args_name: Optional[str], baseline: bool) -> str:
    if args_name:
        return args_name
    if not model.has_gate:
        return 'ESANet (static)'
    return 'DynMM (branch 4)' if baseline else 'DynMM'


def _unique(labels: List[str], configs: List[str]) -> List[str]:
    out = []
    for label, config in zip(labels, configs):
        name = label
        if labels.count(label) > 1:
            name = f'{label} [{osp.splitext(osp.basename(config))[0]}]'
        while name in out:
            name += "'"
        out.append(name)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from dynmm_plugins.apis.model_loading import load_model
    from dynmm_plugins.evaluation.robustness import robustness_sweep
    from dynmm_plugins.evaluation.test_loop import build_evaluator, build_test_dataloader, configure_gate
    from dynmm_plugins.visualization.report import (
        format_robustness_table,
        plot_miou_vs_noise,
        write_json,
        write_robustness_csv,
    )
    device = check_device(args.device)
    check_output_file(args.out, '--out')  # before the work, not after it
    check_output_dir(args.out_dir, '--out-dir')
    specs = [(args.config, args.checkpoint)] + [tuple(c) for c in args.compare]
    for config, checkpoint in specs:  # fail fast, before any model is evaluated
        for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{what} file not found: {path}')

    models, labels, infos, cfg = [], [], [], None
    for i, (config, checkpoint) in enumerate(specs):
        model, model_cfg = load_model(config, checkpoint, args.cfg_options, device)
        apply_inference_args(args, [model])
        if i == 0:
            gate = configure_gate(model, hard=args.hard, baseline=args.baseline)
            cfg = model_cfg
            if args.budget:
                from dynmm_plugins.evaluation.budget import apply_budget
                apply_budget(model, args.budget, checkpoint)
        else:
            gate = configure_gate(model)
        models.append(model)
        labels.append(_label(model, args.name if i == 0 else None, args.baseline and i == 0))
        infos.append(dict(config=config, checkpoint=checkpoint, gate=gate, has_gate=model.has_gate,
                          gate_bias=model.gate_bias.tolist() if hasattr(model, 'gate_bias') else None,
                          budget=args.budget if i == 0 else None))
    labels = _unique(labels, [s[0] for s in specs])

    # one test set for every model: the first config's (with --cfg-options)
    dataloader = build_test_dataloader(cfg)
    if args.per_kind_miou:
        check_scene_kinds(dataloader, args.config)
    evaluator = build_evaluator(cfg, dataloader)
    kind_evaluator = (lambda: build_evaluator(cfg, dataloader)) if args.per_kind_miou else None
    rows = robustness_sweep(list(zip(labels, models)), dataloader, evaluator, args.mode, args.noise,
                            args.num_runs, progress=not args.no_progress,
                            kind_evaluator=kind_evaluator)

    for row in rows:
        runs = ' '.join(f'{v:.2f}' for v in row['miou_runs'])
        print(f'{row["model"]}: mode {row["mode"]} ({row["mode_name"]}) noise {row["noise"]:g}: '
              f'mIoU per run [{runs}] -> mean {row["miou_mean"]:.2f}, std {row["miou_std"]:.2f}'
              + (f' ({row["num_runs"]} runs identical: clean inputs)'
                 if row['runs_evaluated'] < row['num_runs'] else '')
              + ''.join(f'; {k!r} scenes {v:.2f}' for k, v in row.get('miou_by_scene_kind', {}).items()))
    print()
    print(format_robustness_table(rows))

    result = dict(models=[dict(name=n, **i) for n, i in zip(labels, infos)],
                  num_images=len(dataloader.dataset), modes=sorted(set(args.mode)),
                  levels=sorted(set(args.noise)), num_runs=args.num_runs, rows=rows)
    written = []
    if args.out:
        written.append(write_json(result, args.out) if args.out.endswith('.json')
                       else write_robustness_csv(rows, args.out))
    if args.out_dir:
        written.append(write_robustness_csv(rows, osp.join(args.out_dir, 'robustness.csv')))
        written.append(write_json(result, osp.join(args.out_dir, 'robustness.json')))
        plot = plot_miou_vs_noise(rows, osp.join(args.out_dir, 'miou_vs_noise.png'))
        if plot:
            written.append(plot)
    for path in written:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
