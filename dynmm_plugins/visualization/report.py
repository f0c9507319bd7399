"""Write evaluation results: CSV, JSON, text/markdown tables and the mIoU-vs-noise plot."""
import csv
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from dynmm_plugins.utils.io import atomic_write

#: CSV columns of a robustness row, in order (branch fractions and scene kinds follow).
ROBUSTNESS_COLUMNS = ('model', 'gate', 'mode', 'mode_name', 'noise', 'num_runs', 'runs_evaluated',
                      'miou_mean', 'miou_std', 'gflops_per_image', 'depth_gflops_per_image',
                      'mean_branch', 'depth_branch_fraction')


def write_json(obj, path: str) -> str:
    """Write ``obj`` as indented JSON (atomically, its folder created); returns the path."""
    with atomic_write(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
    return path


def save_figure(fig, path: str, dpi: int = 120, rect: Optional[Sequence[float]] = None) -> str:
    """Lay ``fig`` out, write it to ``path`` atomically (format from the suffix), close it; returns the path."""
    import matplotlib.pyplot as plt
    fig.tight_layout(rect=rect)
    with atomic_write(path, 'wb') as f:
        fig.savefig(f, format=osp.splitext(path)[1][1:] or 'png', dpi=dpi)
    plt.close(fig)
    return path


def _label_axes(ax, xlabel: str, ylabel: str, title: str, title_size: Optional[int] = None) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=title_size)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def flatten_robustness_row(row: dict) -> Dict[str, object]:
    """One CSV row of a :func:`~dynmm_plugins.evaluation.robustness.robustness_eval` record."""
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
    with atomic_write(path, 'w') as f:  # no newline translation on POSIX: csv's '\r\n' stays
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
    _label_axes(ax, 'noise level', 'mIoU (%)', title or 'mIoU under modality noise')
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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


def plot_robustness_panels(rows: Sequence[dict], path: str, names: Optional[Dict[str, str]] = None,
                           title: Optional[str] = None) -> Optional[str]:
    """mIoU versus noise level: one panel per noisy modality, one line per model.

    Rows are robustness records (mode -1 gives each line its level-0 point); the
    error bars are ``miou_std`` (over runs, or over seeds for averaged rows).
    Returns the path, or None if there is nothing to plot.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    modes = sorted({r['mode'] for r in rows if r['mode'] >= 0})
    if not modes:
        return None
    names = names or {}
    models = list(dict.fromkeys(r['model'] for r in rows))
    fig, axes = plt.subplots(1, len(modes), figsize=(4.3 * len(modes), 3.6), squeeze=False,
                             sharey=True)
    for ax, mode in zip(axes[0], modes):
        for model in models:
            clean = [r for r in rows if r['model'] == model and r['mode'] == -1]
            pts = {r['noise']: (r['miou_mean'], r['miou_std'])
                   for r in rows if r['model'] == model and r['mode'] == mode}
            if clean and 0.0 not in pts:
                pts[0.0] = (clean[0]['miou_mean'], clean[0]['miou_std'])
            xs = sorted(pts)
            ax.errorbar(xs, [pts[x][0] for x in xs], yerr=[pts[x][1] for x in xs], marker='o',
                        capsize=3, label=names.get(model, model))
        ax.set_title(_mode_label(mode), fontsize=10)
        ax.set_xlabel('noise level')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('mIoU (%)')
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title or 'mIoU under modality noise', fontsize=11)
    return save_figure(fig, path)


def plot_segmentation_examples(examples: Sequence[dict], path: str, class_names: Sequence[str],
                               title: Optional[str] = None) -> Optional[str]:
    """A grid of example scenes: RGB, depth, ground truth and each model's prediction.

    Args:
        examples (Sequence[dict]): One per row: ``rgb`` (H, W, 3) uint8, ``depth``
            (H, W) in mm, ``gt`` (H, W) class indices (255 = ignore), ``label``
            (row title, e.g. the scene kind) and ``predictions``: a list of
            ``(column title, (H, W) class indices)``.
        path (str): PNG file to write.
        class_names (Sequence[str]): Names of the class indices (legend).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if not examples:
        return None
    num_classes = len(class_names)
    colours = plt.get_cmap('tab10')(np.arange(num_classes) % 10)
    cmap = ListedColormap(colours)
    cols = 3 + len(examples[0]['predictions'])
    fig, axes = plt.subplots(len(examples), cols, figsize=(2.3 * cols, 2.0 * len(examples) + 0.8),
                             squeeze=False)

    def show_labels(ax, labels):
        shown = np.ma.masked_where(labels >= num_classes, labels)
        ax.imshow(shown, cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5, interpolation='nearest')

    for row, ex in zip(axes, examples):
        row[0].imshow(ex['rgb'])
        row[0].set_ylabel(ex.get('label', ''), fontsize=8)
        row[1].imshow(ex['depth'], cmap='viridis')
        show_labels(row[2], ex['gt'])
        for ax, (_, pred) in zip(row[3:], ex['predictions']):
            show_labels(ax, pred)
        titles = ['RGB', 'depth', 'ground truth'] + [t for t, _ in ex['predictions']]
        for ax, t in zip(row, titles):
            ax.set_title(t, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.legend(handles=[Patch(color=colours[i], label=n) for i, n in enumerate(class_names)],
               loc='lower center', ncol=min(num_classes, 8), fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110, rect=(0, 0.05, 1, 1))


def plot_accuracy_compute(points: Dict[str, Sequence[tuple]], path: str,
                          title: Optional[str] = None) -> Optional[str]:
    """mIoU versus realised GFLOPs per image: one marker series per label.

    Args:
        points (dict): label -> list of ``(gflops, miou, annotation)``; series of
            more than one point are joined by a line.
        path (str): PNG file to write.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not points:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    for label, pts in points.items():
        pts = sorted(pts)
        style = '-o' if len(pts) > 1 else '*'
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label,
                markersize=6 if len(pts) > 1 else 12)
        for g, m, note in pts:
            if note:
                ax.annotate(str(note), (g, m), textcoords='offset points', xytext=(4, -10), fontsize=7)
    _label_axes(ax, 'realised GFLOPs per image', 'mIoU (%)', title or 'Accuracy versus compute', title_size=10)
    return save_figure(fig, path)
