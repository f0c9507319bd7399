#!/usr/bin/env python
"""Evaluate an exported (ONNX) DynMM directory on a test split, by the checkpoint's protocol.

The deployed graphs run on onnxruntime (:class:`dynmm_plugins.deploy.OnnxDynMM`)
inside the project's evaluation loop (``dynmm_plugins.evaluation.test_loop.evaluate``:
the config's data preprocessor, mmseg's IoUMetric, the routing recorder), so the
mIoU, the branch histogram and the realised GFLOPs per image (measured on the
graphs) are comparable to ``tools/robustness_eval.py``'s for the checkpoint.
With ``--checkpoint`` the tool checks that the graphs came from it (sha256),
evaluates the PyTorch model on the same batches and reports both, the mIoU
difference and how often the two gates chose the same branch.

Example::

    python tools/eval_onnx.py work_dirs/deploy/dynmm_r34 \\
        mmseg_configs/dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py --split test \\
        --checkpoint work_dirs/dynmm/iter_40000.pth --out work_dirs/deploy/eval.json
"""
import importlib.util
import sys
from typing import Optional, Sequence

from dynmm_plugins.evaluation.noise import NOISE_MODES, check_noise_level, check_noise_mode
from dynmm_plugins.utils.cli import ArgumentParser, add_cfg_options, argparse_type, run_tool

PROG = 'eval_onnx.py'


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('deploy_dir', help='directory written by tools/export_onnx.py')
    parser.add_argument('config', help='config file (its test set, preprocessor and metric)')
    parser.add_argument('--split', help="dataset split to evaluate (default: the config's test split)")
    parser.add_argument('--checkpoint', help='the exported checkpoint: check the graphs came from it '
                                             'and evaluate it in PyTorch alongside')
    knob = parser.add_mutually_exclusive_group()
    knob.add_argument('--gate-bias', nargs='+', type=float, metavar='B',
                      help='one bias per branch added to the gate logits (compute knob)')
    knob.add_argument('--budget', help='budget JSON file with a "gate_bias" list')
    parser.add_argument('--mode', type=argparse_type(check_noise_mode, 'mode'), default=-1,
                        help='noise mode: ' + ', '.join(f'{k} {v}' for k, v in NOISE_MODES.items())
                        + ' (default: -1)')
    parser.add_argument('--noise', type=argparse_type(check_noise_level, 'noise'), default=0.0,
                        help='noise level in [0, 1] (default: 0)')
    parser.add_argument('--seed', type=int, default=0, help='noise seed (default: 0)')
    parser.add_argument('--providers', nargs='+', help='onnxruntime execution providers (default: CPU)')
    parser.add_argument('--threads', type=int, help='onnxruntime (and torch) CPU threads')
    parser.add_argument('--out', help='write the results as JSON to this file')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    if importlib.util.find_spec('onnxruntime') is None:
        parser.error('onnxruntime not installed: pip install "dynmm[deploy]"')
    return args


def decision_recorder(num_branches: int):
    """A RoutingRecorder that also keeps each image's branch, in order."""
    from dynmm_plugins.evaluation.routing_recorder import RoutingRecorder

    class DecisionRecorder(RoutingRecorder):

        def __init__(self, nb):
            super().__init__(nb)
            self.branches = []

        def update(self, weights, *args, **kwargs):
            self.branches.extend(weights.argmax(dim=1).tolist())
            super().update(weights, *args, **kwargs)

    return DecisionRecorder(num_branches)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    from dynmm_plugins.apis.model_loading import build_model, load_config
    from dynmm_plugins.deploy import OnnxDynMM, OnnxSegmentor
    from dynmm_plugins.deploy.export import config_classes
    from dynmm_plugins.deploy.manifest import check_classes
    from dynmm_plugins.evaluation.noise import ModalityNoise
    from dynmm_plugins.evaluation.test_loop import build_evaluator, build_test_dataloader, evaluate
    from dynmm_plugins.visualization.report import write_json
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    if args.split:
        cfg.test_dataloader.dataset.split = args.split
    runtime = OnnxDynMM(args.deploy_dir, providers=args.providers, gate_bias=args.gate_bias,
                        budget=args.budget, checkpoint=args.checkpoint, threads=args.threads)
    check_classes(runtime.manifest, config_classes(cfg), f'the classes of config {args.config}')
    deployed = OnnxSegmentor(runtime, cfg.model.data_preprocessor,
                             cfg.model.decode_head.get('align_corners', False))
    models = [('ONNX', deployed)]
    if args.checkpoint:
        torch_model = build_model(cfg, args.checkpoint, 'cpu', f'config {args.config}')
        if runtime.gate_bias is not None:  # the same compute knob on both sides
            if not hasattr(torch_model, 'set_gate_bias'):
                raise ValueError('gate_bias: this PyTorch model has no compute knob '
                                 '(set_gate_bias) to compare with; evaluate without --checkpoint')
            torch_model.set_gate_bias(runtime.gate_bias)
        models.append(('PyTorch', torch_model))

    dataloader = build_test_dataloader(cfg)
    results = {}
    for name, model in models:
        evaluator = build_evaluator(cfg, dataloader)
        recorder = decision_recorder(runtime.num_branches)
        clean = args.mode == -1 or args.noise == 0
        noise = None if clean else ModalityNoise(args.mode, args.noise, args.seed)
        result = evaluate(model, dataloader, evaluator, noise, recorder,
                          progress=not args.no_progress, desc=name)
        result['branches'] = recorder.branches
        results[name] = result
        routing = result['routing']
        print(f'{name}: mIoU {result["mIoU"]:.2f}, branch histogram {routing["branch_histogram"]}, '
              f'{routing["gflops_per_image"]:.3f} GFLOPs per image '
              f'({routing["depth_gflops_per_image"]:.3f} in the depth encoder)')
    out = dict(deploy_dir=args.deploy_dir, config=args.config, split=cfg.test_dataloader.dataset.get('split'),
               checkpoint=args.checkpoint, gate_bias=runtime.gate_bias, mode=args.mode,
               noise=args.noise, num_images=len(dataloader.dataset), onnx=results['ONNX'])
    if 'PyTorch' in results:
        a, b = results['ONNX']['branches'], results['PyTorch']['branches']
        same = sum(x == y for x, y in zip(a, b)) / max(len(a), 1)
        diff = results['ONNX']['mIoU'] - results['PyTorch']['mIoU']
        out.update(pytorch=results['PyTorch'], miou_difference=diff, gate_agreement=same)
        print(f'ONNX - PyTorch mIoU: {diff:+.4f}; same branch chosen for {100 * same:.2f}% of '
              f'{len(a)} images')
    if args.out:
        print(f'wrote {write_json(out, args.out)}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
