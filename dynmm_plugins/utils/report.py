"""Write evaluation results: CSV, JSON, text/markdown tables and the mIoU-vs-noise plot."""
import csv
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

#: CSV columns of a robustness row, in order (branch fractions and scene kinds follow).
ROBUSTNESS_COLUMNS = ('model', 'gate', 'mode', 'mode_name', 'noise', 'num_runs', 'runs_evaluated',
                      'miou_mean', 'miou_std', 'gflops_per_image', 'depth_gflops_per_image',
                      'mean_branch', 'depth_branch_fraction')


def _ensure_parent(path: str) -> None:
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)


def write_json(obj, path: str) -> str:
    """Write ``obj`` as indented JSON; returns the path."""
    _ensure_parent(path)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
    return path


def flatten_robustness_row(row: dict) -> Dict[str, object]:
    """One CSV row of a :func:`~dynmm_plugins.utils.evaluation.robustness_eval` record."""
    routing = row['routing']
    flat = {k: row.get(k, routing.get(k)) for k in ROBUSTNESS_COLUMNS}
    for b, frac in enumerate(routing['branch_fractions']):
        flat[f'branch_{b}_fraction'] = frac
    for kind, value in row.get('miou_by_scene_kind', {}).items():
        flat[f'{kind}_scenes_miou'] = value
    for kind, stats in routing.get('by_scene_kind', {}).items():
        flat[f'{kind}_scenes_mean_branch'] = stats['mean_branch']
        flat[f'{kind}_scenes_depth_branch_fraction'] = stats['depth_branch_fraction']
    flat['miou_runs'] = ' '.join(f'{v:.2f}' for v in row['miou_runs'])
    return {k: csv_cell(v) for k, v in flat.items()}


def csv_cell(value):
    """Floats with 6 significant digits (``10.47``, not ``10.470000267028809``); others as they are."""
    if isinstance(value, float):
        return float(f'{value:.6g}')
    return value


def write_robustness_csv(rows: Sequence[dict], path: str) -> str:
    """Write robustness records as CSV (one line per model, mode and level); returns the path."""
    flat = [flatten_robustness_row(r) for r in rows]
    columns: List[str] = []
    for record in flat:
        columns += [k for k in record if k not in columns]
    _ensure_parent(path)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(flat)
    return path


def format_robustness_table(rows: Sequence[dict]) -> str:
    """A plain-text table of robustness records for the console."""
    lines = [f'{"model":<24} {"mode":>4} {"noise":>6} {"runs":>4} {"mIoU mean":>9} {"std":>6} '
             f'{"GFLOPs/img":>10} {"branch histogram":<24} kinds (mean branch)']
    for r in rows:
        routing = r['routing']
        kinds = ', '.join(f'{k} {v["mean_branch"]:.2f}' for k, v in routing['by_scene_kind'].items())
        lines.append(f'{r["model"][:24]:<24} {r["mode"]:>4} {r["noise"]:>6.2f} {r["num_runs"]:>4} '
                     f'{r["miou_mean"]:>9.2f} {r["miou_std"]:>6.2f} '
                     f'{routing["gflops_per_image"]:>10.4f} {str(routing["branch_histogram"]):<24} '
                     f'{kinds}')
    return '\n'.join(lines)


def plot_miou_vs_noise(rows: Sequence[dict], path: str, title: Optional[str] = None) -> Optional[str]:
    """mIoU (mean +- std over runs) versus noise level, one line per model and noise mode.

    The form of the DynMM paper's Fig. 6-7. Clean results (mode -1) are drawn as
    a dashed horizontal line per model. Returns the path, or None if nothing to plot.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not rows:
        return None
    models = list(dict.fromkeys(r['model'] for r in rows))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    styles = {0: ('o', '-'), 1: ('s', '--'), 2: ('^', '-.')}
    levels = sorted({r['noise'] for r in rows}) or [0.0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for m, model in enumerate(models):
        colour = colours[m % len(colours)]
        mine = [r for r in rows if r['model'] == model]
        for r in mine:
            if r['mode'] == -1:
                ax.hlines(r['miou_mean'], min(levels), max(max(levels), 1e-3), colors=colour,
                          linestyles=':', label=f'{model}, clean')
        for mode in sorted({r['mode'] for r in mine if r['mode'] >= 0}):
            pts = sorted((r['noise'], r['miou_mean'], r['miou_std']) for r in mine if r['mode'] == mode)
            marker, line = styles[mode]
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                        color=colour, marker=marker, linestyle=line, capsize=3,
                        label=f'{model}, {_mode_label(mode)}')
    ax.set_xlabel('noise level')
    ax.set_ylabel('mIoU (%)')
    ax.set_title(title or 'mIoU under modality noise')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _ensure_parent(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _mode_label(mode: int) -> str:
    return {0: 'RGB noise (mode 0)', 1: 'depth noise (mode 1)',
            2: 'RGB or depth noise (mode 2)'}.get(mode, f'mode {mode}')


def plot_branch_histograms(routing: Dict[str, dict], path: str,
                           title: Optional[str] = None) -> Optional[str]:
    """Bar chart of the branch fractions per scene kind (and overall) for each model.

    Args:
        routing (dict): model name -> :meth:`RoutingRecorder.summary` output.
        path (str): PNG file to write.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not routing:
        return None
    fig, axes = plt.subplots(1, len(routing), figsize=(4.2 * len(routing), 3.4), squeeze=False)
    for ax, (name, summary) in zip(axes[0], routing.items()):
        groups = {'all': summary}
        groups.update({f'{k!r} scenes': v for k, v in summary.get('by_scene_kind', {}).items()})
        num_branches = len(summary['branch_fractions'])
        width = 0.8 / len(groups)
        for g, (label, stats) in enumerate(groups.items()):
            xs = [b - 0.4 + width * (g + 0.5) for b in range(num_branches)]
            ax.bar(xs, stats['branch_fractions'], width=width,
                   label=f'{label} (mean branch {stats["mean_branch"]:.2f})')
        ax.set_xticks(range(num_branches))
        ax.set_xlabel('branch (depth fused in the first k stages)')
        ax.set_ylabel('fraction of images')
        ax.set_ylim(0, 1.05)
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(title or 'Where the gate sends each image', fontsize=11)
    fig.tight_layout()
    _ensure_parent(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    out = ['| ' + ' | '.join(str(h) for h in header) + ' |',
           '|' + '|'.join('---' for _ in header) + '|']
    out += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(out)


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned plain-text table with columns as wide as their contents."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)
