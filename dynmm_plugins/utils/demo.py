"""Pieces of the built-in demo (``tools/run_demo.py``): data set-up and the summary tables."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .report import markdown_table, text_table

#: Columns of the demo's summary table.
SUMMARY_HEADER = ('model', 'mIoU', 'GFLOPs/image', 'depth-enc. GFLOPs/image', 'latency ms/image',
                  'branch histogram (0..4)', "'depth' scenes on depth branches",
                  "'rgb' scenes on depth branches")


def ensure_synthetic_data(root: str, num_train: int, num_test: int, seed: int = 0,
                          height: int = 120, width: int = 160, progress: bool = True) -> bool:
    """Write the synthetic RGB-D set to ``root`` unless an identical one is there.

    Returns True if it was (re)generated, False if the existing one was kept.
    """
    params = osp.join(root, 'synthetic_rgbd.json')
    want = dict(num_train=num_train, num_test=num_test, seed=seed, height=height, width=width)
    if osp.isfile(params) and osp.isfile(osp.join(root, 'scene_kinds.json')):
        with open(params) as f:
            have = json.load(f)
        if all(have.get(k) == v for k, v in want.items()):
            return False
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    make_synthetic_rgbd(root, num_train=num_train, num_test=num_test, height=height, width=width,
                        seed=seed, progress=progress, overwrite=True)  # the demo owns its root
    return True


def _kind_cell(routing: dict, kind: str) -> str:
    stats = routing.get('by_scene_kind', {}).get(kind)
    if not stats:
        return 'n/a'
    return f'{100 * stats["depth_branch_fraction"]:.0f}% (mean branch {stats["mean_branch"]:.2f})'


def summary_rows(results: Dict[str, dict]) -> List[List[str]]:
    """Rows of the summary table from ``{model name: dict(mIoU, routing, latency_ms)}``."""
    rows = []
    for name, r in results.items():
        routing = r['routing']
        latency = r.get('latency_ms')
        rows.append([name, f'{r["mIoU"]:.2f}', f'{routing["gflops_per_image"]:.3f}',
                     f'{routing["depth_gflops_per_image"]:.3f}',
                     'n/a' if latency is None else f'{latency:.1f}',
                     ' '.join(str(c) for c in routing['branch_histogram']),
                     _kind_cell(routing, 'depth'), _kind_cell(routing, 'rgb')])
    return rows


def _change(new: float, old: float) -> str:
    return f'{100 * (new / old - 1):+.1f}%'


def comparison_lines(results: Dict[str, dict], static: str, dynamic: str) -> List[str]:
    """One-line statements comparing the dynamic model with the static one."""
    s, d = results[static], results[dynamic]
    sr, dr = s['routing'], d['routing']
    lines = [f'mIoU: {d["mIoU"]:.2f} vs {s["mIoU"]:.2f} ({d["mIoU"] - s["mIoU"]:+.2f} points)',
             f'GFLOPs per image: {dr["gflops_per_image"]:.3f} vs {sr["gflops_per_image"]:.3f} '
             f'({_change(dr["gflops_per_image"], sr["gflops_per_image"])}); depth encoder '
             f'{dr["depth_gflops_per_image"]:.3f} vs {sr["depth_gflops_per_image"]:.3f} '
             f'({_change(dr["depth_gflops_per_image"], sr["depth_gflops_per_image"])})']
    if d.get('latency_ms') and s.get('latency_ms'):
        lines.append(f'latency per image: {d["latency_ms"]:.1f} vs {s["latency_ms"]:.1f} ms '
                     f'({_change(d["latency_ms"], s["latency_ms"])})')
    for kind in sorted(set(s.get('mIoU_by_scene_kind', {})) & set(d.get('mIoU_by_scene_kind', {}))):
        a, b = d['mIoU_by_scene_kind'][kind], s['mIoU_by_scene_kind'][kind]
        lines.append(f'mIoU on {kind!r} scenes: {a:.2f} vs {b:.2f} ({a - b:+.2f} points)')
    kinds = dr.get('by_scene_kind', {})
    if 'depth' in kinds and 'rgb' in kinds:
        lines.append(f"routing: 'depth' scenes go to depth-using branches (>= 1) "
                     f"{100 * kinds['depth']['depth_branch_fraction']:.0f}% of the time (mean branch "
                     f"{kinds['depth']['mean_branch']:.2f}), 'rgb' scenes "
                     f"{100 * kinds['rgb']['depth_branch_fraction']:.0f}% (mean branch "
                     f"{kinds['rgb']['mean_branch']:.2f})")
    return lines


def robustness_rows(rows: Sequence[dict]) -> List[List[str]]:
    """Rows (model, noise mode, level, mIoU, GFLOPs/image, mean branch by kind) of a sweep."""
    out = []
    for r in rows:
        kinds = r['routing'].get('by_scene_kind', {})
        out.append([r['model'], f'{r["mode"]} ({r["mode_name"]})', f'{r["noise"]:g}',
                    f'{r["miou_mean"]:.2f}' + (f' +- {r["miou_std"]:.2f}' if r['runs_evaluated'] > 1 else ''),
                    f'{r["routing"]["gflops_per_image"]:.3f}',
                    ', '.join(f'{k} {v["mean_branch"]:.2f}' for k, v in kinds.items()) or 'n/a'])
    return out


ROBUSTNESS_HEADER = ('model', 'noise mode', 'level', 'mIoU', 'GFLOPs/image', 'mean branch by scene kind')


def format_summary(results: Dict[str, dict], sweep: Sequence[dict], static: str, dynamic: str,
                   markdown: bool = False, notes: Optional[Sequence[str]] = None) -> str:
    """The demo's report: summary table, comparison lines and the robustness table."""
    table = markdown_table if markdown else text_table
    parts = [table(SUMMARY_HEADER, summary_rows(results)), '']
    bullet = '- ' if markdown else '  '
    parts += [bullet + line for line in comparison_lines(results, static, dynamic)]
    if sweep:
        parts += ['', 'Robustness (noise on the normalised inputs, DynMM protocol):', '',
                  table(ROBUSTNESS_HEADER, robustness_rows(sweep))]
    if notes:
        parts += [''] + [bullet + n for n in notes]
    return '\n'.join(parts)
