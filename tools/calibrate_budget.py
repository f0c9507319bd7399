#!/usr/bin/env python
"""Calibrate the compute knob of a DynMM checkpoint: the gate bias that meets a GFLOPs budget.

The bias added to the gate logits at inference is ``-tau * cost_k`` (cost_k: branch
k's measured GFLOPs, ``model.branch_costs()``). The network runs up to the gate once
per image of SPLIT (the config's ``{val,test}_dataloader``) and the logits are cached;
a bisection on tau over them finds the mean realised GFLOPs per image closest to the
target without exceeding it. tau < 0 (spend more than the gate was trained to) is
allowed. The budget file is bound to the checkpoint by its SHA-256.

Examples::

    python tools/calibrate_budget.py CONFIG CKPT --target-fraction 0.7 --split val --out budget.json
    python tools/calibrate_budget.py CONFIG CKPT --target-gflops 1.2 --split val --out budget.json \\
        --cfg-options val_dataloader.dataset.data_root=data/synthetic_rgbd

Then: ``mim test mmsegmentation CONFIG --checkpoint CKPT --cfg-options model.gate_bias="[...]"``,
or ``--budget budget.json`` of tools/robustness_eval.py, get_flops.py and benchmark_latency.py.
"""
import os.path as osp
import sys
from typing import Optional, Sequence

from dynmm_plugins.utils.cli import ArgumentParser, add_model_args, add_run_args, check_common_args, run_tool

PROG = 'calibrate_budget.py'


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_model_args(parser, 'config file of a dynamic model', checkpoint_required=True)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument('--target-gflops', type=float, metavar='G', help='mean GFLOPs per image to reach')
    target.add_argument('--target-fraction', type=float, metavar='F',
                        help="fraction of the last branch's GFLOPs per image, e.g. 0.7")
    parser.add_argument('--split', choices=('val', 'test'), required=True,
                        help='calibrate on the config\'s val_dataloader or test_dataloader')
    parser.add_argument('--out', required=True, help='budget file to write (JSON)')
    add_run_args(parser)
    return check_common_args(parser, parser.parse_args(argv), finite_positive=('target_gflops', 'target_fraction'))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from dynmm_plugins.apis.model_loading import load_tool_model
    from dynmm_plugins.evaluation.budget import (
        build_split_dataloader,
        calibrate,
        collect_gate_logits,
        write_budget,
    )
    from dynmm_plugins.utils.io import file_sha256
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    model, cfg, _, _ = load_tool_model(args, need_gate='there is nothing to calibrate')
    dataloader = build_split_dataloader(cfg, args.split)
    logits, sample_costs = collect_gate_logits(model, dataloader, progress=not args.no_progress)
    result = calibrate(model, logits, sample_costs, args.target_gflops, args.target_fraction)
    budget = dict(gate_bias=result.pop('gate_bias'), tau=result.pop('tau'),
                  target_gflops=result.pop('target_gflops'), realised_gflops=result.pop('realised_gflops'),
                  split=args.split, checkpoint_sha256=file_sha256(args.checkpoint),
                  config=args.config, checkpoint=args.checkpoint, **result)
    write_budget(budget, args.out)
    low, high = budget['reachable_gflops']
    print(f'{args.split} split, {budget["num_images"]} images: target {budget["target_gflops"]:.4f} GFLOPs/image '
          f'(reachable {low:.4f} .. {high:.4f}); tau {budget["tau"]:.6g} -> realised '
          f'{budget["realised_gflops"]:.4f} GFLOPs/image ({100 * budget["realised_fraction"]:.1f}% of the last '
          f'branch), branch fractions {[round(f, 3) for f in budget["branch_fractions"]]}')
    print(f'gate_bias {[round(b, 6) for b in budget["gate_bias"]]}\nwrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
