"""The accuracy-compute curve: which points dominate, the CSV and the plot (segmentation and MultiBench).

Rows are dicts with ``name``, ``kind`` ('calibrated', 'fixed', 'trained' or
'static'), an accuracy metric, a cost and optionally ``latency_ms``;
``tools/pareto.py`` (mIoU, GFLOPs per image) and the MultiBench ``*_dyn`` scripts
(F1 / accuracy, MFLOPs per sample) write them.
"""
import csv
from typing import List, Optional, Sequence

from dynmm_plugins.utils.io import atomic_write

from .report import save_figure


def dominance(rows: List[dict], metric: str, cost: str) -> List[dict]:
    """For each fixed branch: the best calibrated point at no more cost, and whether it is as accurate."""
    calibrated = [r for r in rows if r['kind'] == 'calibrated']
    out = []
    for fixed in (r for r in rows if r['kind'] == 'fixed'):
        cheaper = [r for r in calibrated if r[cost] <= fixed[cost] * (1 + 1e-6)]
        best = max(cheaper, key=lambda r: r[metric], default=None)
        out.append(dict(fixed=fixed['name'], fixed_cost=fixed[cost], fixed_metric=fixed[metric],
                        best_calibrated=None if best is None else best['name'],
                        calibrated_metric=None if best is None else best[metric],
                        calibrated_cost=None if best is None else best[cost],
                        at_or_above=None if best is None else best[metric] >= fixed[metric]))
    return out


def dominance_lines(rows: List[dict], metric: str, cost: str, unit: str) -> List[str]:
    """One line per fixed branch saying whether the calibrated curve is at or above it."""
    lines = []
    for d in dominance(rows, metric, cost):
        verdict = ('no calibrated point at or below its cost' if d['at_or_above'] is None else
                   f'{d["best_calibrated"]}: {metric} {d["calibrated_metric"]:.4g} at {d["calibrated_cost"]:.4g} '
                   f'{unit} -> ' + ('at or above' if d['at_or_above'] else 'BELOW'))
        lines.append(f'  {d["fixed"]} ({metric} {d["fixed_metric"]:.4g} at {d["fixed_cost"]:.4g} {unit}): {verdict}')
    return lines


def target_summary(rows: List[dict], cost: str) -> dict:
    """Largest |realised - target| in % and whether the realised cost grows with the target."""
    calibrated = sorted((r for r in rows if r['kind'] == 'calibrated'), key=lambda r: r['target_fraction'])
    return dict(max_abs_target_error_pct=max(abs(r['target_error_pct']) for r in calibrated),
                realised_monotone_in_target=all(a[cost] <= b[cost] for a, b in zip(calibrated, calibrated[1:])))


def write_csv(rows: List[dict], path: str, columns: Sequence[str]) -> str:
    """One line per point; lists become space-separated numbers."""
    with atomic_write(path, 'w') as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction='ignore')
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (' '.join(f'{v:.6g}' for v in r[k]) if isinstance(r.get(k), list) else r.get(k))
                             for k in columns})
    return path


def plot_pareto(rows: List[dict], path: str, metric: str, cost: str, cost_label: str, title: str,
                metric_label: Optional[str] = None) -> str:
    """``metric`` against ``cost`` and, when every row has one, against ``latency_ms``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with_latency = all(r.get('latency_ms') is not None for r in rows)
    fig, axes = plt.subplots(1, 2 if with_latency else 1, figsize=(11 if with_latency else 6, 4.2), squeeze=False)
    for ax, key, label in zip(axes[0], (cost, 'latency_ms'), (cost_label, 'latency (ms)')):
        cal = sorted((r for r in rows if r['kind'] == 'calibrated'), key=lambda r: r[key])
        ax.plot([r[key] for r in cal], [r[metric] for r in cal], 'o-', color='C0', label='DynMM, calibrated bias')
        for r in cal:
            ax.annotate(f'{100 * r["target_fraction"]:.0f}%', (r[key], r[metric]), textcoords='offset points',
                        xytext=(4, -10), fontsize=7, color='C0')
        fixed = [r for r in rows if r['kind'] == 'fixed']
        ax.plot([r[key] for r in fixed], [r[metric] for r in fixed], 's--', color='C1',
                label='fixed branch (every sample)')
        for r in fixed:
            ax.annotate(r['name'], (r[key], r[metric]), textcoords='offset points', xytext=(4, 4), fontsize=7,
                        color='C1')
        for kind, style, colour, name in (('trained', 'D', 'C2', 'DynMM as trained (no bias)'),
                                          ('static', '*', 'C3', 'static model')):
            pts = [r for r in rows if r['kind'] == kind]
            if pts:
                ax.plot([r[key] for r in pts], [r[metric] for r in pts], style, color=colour, markersize=9,
                        label=name)
        ax.set_xlabel(label)
        ax.set_ylabel(metric_label or metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc='lower right')
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
