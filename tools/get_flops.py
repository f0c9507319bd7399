#!/usr/bin/env python
"""Per-branch GFLOPs of a DynMM / ESANet RGB-D model, counted on its real modules.

GFLOPs here are GMACs (the thop convention of DynMM's tables), measured with
torch's FLOP counter by ``model.branch_costs``: the whole network and the depth
encoder for each branch k (depth fused in the first k stages), and the static
model (branch 4 without the gate). For R34-NBt1D or R50 at 480x640 the numbers are
compared with the reference DynMM table, in our convention and in thop's.
With ``--checkpoint`` the model is also run over the config's test set and the
realised mean GFLOPs per image and the branch histogram are reported.

Examples::

    python tools/get_flops.py mmseg_configs/dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py
    python tools/get_flops.py CONFIG --shape 240 320
    python tools/get_flops.py CONFIG --checkpoint work_dirs/x/iter_400.pth \\
        --cfg-options test_dataloader.dataset.data_root=data/synthetic_rgbd
"""
import copy
import sys
from typing import Optional, Sequence

from dynmm_plugins.utils.cli import (
    ArgumentParser,
    add_budget_arg,
    add_model_args,
    add_run_args,
    add_shape_arg,
    check_common_args,
    check_output_file,
    run_tool,
)

PROG = 'get_flops.py'


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_model_args(parser, checkpoint_help='checkpoint: also report the realised GFLOPs and branch histogram '
                                           'over the test set')
    add_shape_arg(parser)
    add_budget_arg(parser, 'the test set runs with its gate bias')
    parser.add_argument('--no-reference', action='store_true',
                        help='skip the comparison with the reference table (saves 3 x 5 passes)')
    parser.add_argument('--out', help='write the numbers as JSON to this file')
    add_run_args(parser)
    return check_common_args(parser, parser.parse_args(argv))


def _fmt(values, digits=3):
    return '  '.join(f'{v:8.{digits}f}' for v in values)


def gate_gmacs(model, size) -> float:
    """GMACs of the gate alone at ``size`` (0 for a static model)."""
    import torch

    from dynmm_plugins.core import count_macs
    if not model.has_gate:
        return 0.0
    param = next(model.parameters())
    with torch.no_grad():
        rgb, depth, _ = model.backbone(torch.zeros(1, 4, *size, device=param.device))
    return count_macs(model.backbone.gate, rgb, depth) / 1e9


def branch_report(model, size) -> dict:
    """Per-branch costs, ratios to branch 4 and the static model's cost at ``size``."""
    costs = model.branch_costs(size)
    full = costs['total'][-1]
    gate = gate_gmacs(model, size)
    return dict(input_size=list(size), has_gate=model.has_gate, total=costs['total'],
                depth_encoder=costs['depth_encoder'],
                ratio_to_full=[c / full for c in costs['total']], gate=gate,
                static_total=full - gate)


def reference_comparison(model, cfg, size, device, ours: dict) -> Optional[dict]:
    """Our counts against the reference table, as counted and in thop's convention."""
    from dynmm_plugins.analysis.reference_costs import (
        REFERENCE_TABLES,
        percent_diff,
        reference_decoder_overrides,
        reference_key,
        thop_convention_extra,
    )
    from dynmm_plugins.apis.model_loading import build_model
    key = reference_key(cfg)
    if key is None or tuple(size) != REFERENCE_TABLES[key]['input_size']:
        return None
    ref = REFERENCE_TABLES[key]
    extra = thop_convention_extra(model, size)
    thop_total = [a + b for a, b in zip(ours['total'], extra['total'])]
    thop_depth = [a + b for a, b in zip(ours['depth_encoder'], extra['depth_encoder'])]
    # the same network with the decoder the reference measured its table with
    variant_cfg = copy.deepcopy(cfg)
    variant_cfg.merge_from_dict(reference_decoder_overrides(ref['decoder_channels']))
    variant = build_model(variant_cfg, None, device)
    variant_costs = variant.branch_costs(size)
    variant_extra = thop_convention_extra(variant, size)
    variant_thop = [a + b for a, b in zip(variant_costs['total'], variant_extra['total'])]
    out = dict(key=key, reference_total=ref['total'], reference_depth_encoder=ref['depth_encoder'],
               reference_decoder_channels=list(ref['decoder_channels']),
               total_diff_pct=percent_diff(ours['total'], ref['total']),
               thop_extra=extra, thop_total=thop_total,
               thop_total_diff_pct=percent_diff(thop_total, ref['total']),
               ref_decoder_total=variant_costs['total'], ref_decoder_thop_total=variant_thop,
               ref_decoder_thop_diff_pct=percent_diff(variant_thop, ref['total']))
    if ref['depth_encoder']:
        out.update(depth_diff_pct=percent_diff(ours['depth_encoder'], ref['depth_encoder']),
                   thop_depth_encoder=thop_depth,
                   thop_depth_diff_pct=percent_diff(thop_depth, ref['depth_encoder']))
    return out


def print_report(config, report: dict, comparison: Optional[dict]) -> None:
    h, w = report['input_size']
    kind = 'dynamic (gated)' if report['has_gate'] else 'static ESANet (no gate)'
    print(f'{config}\n{kind} model, input 1x4x{h}x{w}; GFLOPs = GMACs (thop convention), '
          "counted by torch's FLOP counter on the model's modules")
    branches = range(len(report['total']))
    print(f'{"branch":<34}' + '  '.join(f'{k:>8d}' for k in branches))
    stages = ['none' if k == 0 else '1' if k == 1 else f'1-{k}' for k in branches]
    print(f'{"  depth fused in stages":<34}' + '  '.join(f'{s:>8}' for s in stages))
    print(f'{"  total GFLOPs":<34}' + _fmt(report['total']))
    print(f'{"  depth encoder GFLOPs":<34}' + _fmt(report['depth_encoder']))
    print(f'{"  total / branch 4":<34}' + _fmt(report['ratio_to_full']))
    print(f'gate: {report["gate"]:.4f} GFLOPs; static ESANet (branch 4 without the gate): '
          f'{report["static_total"]:.3f} GFLOPs')
    if comparison is None:
        return
    c = comparison
    print(f'\nReference table (DynMM code, thop, {c["key"]} at {h}x{w}) versus ours:')
    print(f'{"  reference total":<34}' + _fmt(c['reference_total'], 2))
    print(f'{"  ours, total":<34}' + _fmt(report['total'], 2) + '   diff % ' + _fmt(c['total_diff_pct'], 1))
    if c['reference_depth_encoder']:
        print(f'{"  reference depth encoder":<34}' + _fmt(c['reference_depth_encoder'], 2))
        print(f'{"  ours, depth encoder":<34}' + _fmt(report['depth_encoder'], 2) + '   diff % '
              + _fmt(c['depth_diff_pct'], 1))
        print(f'{"  ours + thop extras, depth enc.":<34}' + _fmt(c['thop_depth_encoder'], 2)
              + '   diff % ' + _fmt(c['thop_depth_diff_pct'], 2))
    print(f'{"  ours + thop extras, total":<34}' + _fmt(c['thop_total'], 2) + '   diff % '
          + _fmt(c['thop_total_diff_pct'], 1))
    dec = '/'.join(str(v) for v in c['reference_decoder_channels'])
    print(f'{"  decoder " + dec + " + thop extras":<34}' + _fmt(c['ref_decoder_thop_total'], 2)
          + '   diff % ' + _fmt(c['ref_decoder_thop_diff_pct'], 2))
    extra = c['thop_extra']['breakdown'][-1]
    print('Why they differ: torch counts only convolution/matmul MACs; thop (as the reference used it) '
          'also charges 1 op per output of a biased conv, 2 per BatchNorm element and the adaptive '
          f'pools (branch 4: +{extra["conv_bias"]:.3f} / +{extra["batch_norm"]:.3f} / '
          f'+{extra["adaptive_avg_pool"]:.4f} G). The rest of the gap is the decoder: the reference '
          f'table was measured with SkipGateESANet\'s constructor default decoder ({dec} channels), '
          "not the 512/256/128 decoder of ESANet that its training (and this config) uses; with "
          'that decoder and thop\'s extras our counter reproduces the table (last row).')


def print_dataset_report(result: dict) -> None:
    routing = result['routing']
    print(f'\nOver the test set ({routing["num_images"]} images at '
          f'{" / ".join("x".join(map(str, s)) for s in routing["input_sizes"])}), gate '
          f'{result["gate"]}: mIoU {result["mIoU"]:.2f}')
    print(f'  realised GFLOPs per image {routing["gflops_per_image"]:.4f} (depth encoder '
          f'{routing["depth_gflops_per_image"]:.4f}); branch histogram {routing["branch_histogram"]}, '
          f'mean branch {routing["mean_branch"]:.2f}')
    for kind, stats in routing['by_scene_kind'].items():
        print(f'  {kind!r} scenes: histogram {stats["branch_histogram"]}, mean branch '
              f'{stats["mean_branch"]:.2f}, routed to depth-using branches (>= 1) '
              f'{100 * stats["depth_branch_fraction"]:.0f}%')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from dynmm_plugins.apis.model_loading import load_tool_model
    from dynmm_plugins.evaluation.test_loop import (
        build_evaluator,
        build_test_dataloader,
        evaluate,
        inference_gate_mode,
    )
    from dynmm_plugins.visualization.report import write_json
    check_output_file(args.out, '--out')  # before the work, not after it
    model, cfg, device, budget = load_tool_model(args)
    size = tuple(args.shape) if args.shape else tuple(model.cost_input_size)
    report = branch_report(model, size)
    comparison = None if args.no_reference else reference_comparison(model, cfg, size, device, report)
    print_report(args.config, report, comparison)
    result = dict(config=args.config, costs=report, reference=comparison)
    if args.checkpoint:
        dataloader = build_test_dataloader(cfg)
        evaluator = build_evaluator(cfg, dataloader)
        data = evaluate(model, dataloader, evaluator, progress=not args.no_progress, desc='test set')
        data['gate'] = inference_gate_mode(model)
        data['gate_bias'] = model.gate_bias.tolist()
        if budget is not None:
            data['budget'] = dict(file=args.budget, target_gflops=budget['target_gflops'],
                                  realised_gflops_on_calibration=budget['realised_gflops'],
                                  calibration_split=budget['split'])
            print(f'\nbudget {args.budget}: gate bias {[round(b, 4) for b in budget["gate_bias"]]}, target '
                  f'{budget["target_gflops"]:.4f} GFLOPs/image (calibrated on {budget["split"]})')
        print_dataset_report(data)
        result.update(checkpoint=args.checkpoint, dataset=data)
    if args.out:
        print(f'wrote {write_json(result, args.out)}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
