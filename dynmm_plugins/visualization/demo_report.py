"""Pieces of the built-in demo (``tools/run_demo.py``): data set-up, records, targets, tables.

The demo trains three models on the synthetic RGB-D set (static ESANet, DynMM
finetuned from it, and the same network without depth) and reports, per model,
the numbers ``summary.json`` promises under ``models.<key>``:

- ``miou`` and ``miou_by_scene_kind`` (``rgb``, ``depth``): test mIoU in %;
- ``gflops_per_image``: realised GFLOPs per test image (the branch each took);
- ``latency_ms``: median batch-1 latency per test image;
- ``depth_branch_fraction_by_scene_kind``: share of each kind's images that took a
  branch fusing depth in at least one encoder stage (branch >= 1);
- ``branch0_fraction_by_scene_kind``: share that took branch 0.

With several seeds every number is the mean over seeds, ``spread`` holds the
standard deviation, minimum and maximum, and ``per_seed`` every seed's record.
"""
import inspect
import json
import math
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence

from .report import markdown_table, text_table

#: summary.json keys and display names of the demo's models, in table order.
MODEL_NAMES = {
    'static': 'ESANet (static)',
    'dynmm': 'DynMM',
    'rgb_only': 'RGB-only',
    'dynmm_noise_aug': 'DynMM + depth-noise aug.',
}
SCENE_KINDS = ('rgb', 'depth')

#: The issue's targets: (name, what is compared, threshold) in plain words.
TARGET_TEXT = {
    'depth_gain_static': "'depth' scenes: static ESANet >= RGB-only + 20 mIoU points",
    'depth_gain_dynmm': "'depth' scenes: DynMM >= RGB-only + 20 mIoU points",
    'rgb_scenes_agree': "'rgb' scenes: the three models within 2 mIoU points",
    'depth_scenes_routed_to_depth': "DynMM sends >= 90% of 'depth' scenes to depth-using branches",
    'rgb_scenes_routed_to_branch0': "DynMM sends >= 60% of 'rgb' scenes to branch 0",
    'miou_close_to_static': 'DynMM within 1 mIoU point of static ESANet overall',
    'gflops_saved': "DynMM's realised GFLOPs <= 0.8x static ESANet's",
    'latency_saved': "DynMM's latency <= 0.8x static ESANet's",
}


#: The generator's scene options a demo set is made with (a set written before an
#: option existed was made with the generator's default).
SCENE_OPTION_NAMES = ('rgb_scene_depth', 'scene_classes', 'depth_scene_light', 'max_objects')


def ensure_synthetic_data(root: str, num_train: int, num_test: int, seed: int = 0,
                          height: int = 120, width: int = 160, progress: bool = True,
                          num_val: int = 0, **options) -> bool:
    """Write the synthetic RGB-D set to ``root`` unless an identical one is there.

    ``options`` are the generator's scene options (:data:`SCENE_OPTION_NAMES`, see
    :func:`~dynmm_plugins.datasets.synthetic_rgbd.make_synthetic_rgbd`), e.g.
    ``rgb_scene_depth='background'``: objects of 'rgb' scenes do not show in depth; ``'by_kind'``:
    'depth' scenes hold only the three classes of distinct depth bands. Returns
    True if it was (re)generated, False if the existing one was kept.
    """
    from dynmm_plugins.datasets.synthetic_rgbd import make_synthetic_rgbd
    unknown = sorted(set(options) - set(SCENE_OPTION_NAMES))
    if unknown:
        raise ValueError(f'unknown synthetic-set options {unknown}; known: {sorted(SCENE_OPTION_NAMES)}')
    signature = inspect.signature(make_synthetic_rgbd).parameters
    defaults = {name: signature[name].default for name in SCENE_OPTION_NAMES}
    options = dict(defaults, **options)
    params = osp.join(root, 'synthetic_rgbd.json')
    want = dict(num_train=num_train, num_test=num_test, num_val=num_val, seed=seed,
                height=height, width=width, **options)
    if osp.isfile(params) and osp.isfile(osp.join(root, 'scene_kinds.json')):
        with open(params) as f:
            have = dict(defaults, num_val=0)
            have.update(json.load(f))
        if all(have.get(k) == v for k, v in want.items()) and 'depth_mm' in str(have):
            return False
    # the demo's own data folder: regenerating a set of other parameters is intended
    make_synthetic_rgbd(root, num_train=num_train, num_test=num_test, num_val=num_val,
                        height=height, width=width, seed=seed, progress=progress, overwrite=True,
                        **options)
    return True


# ---------------------------------------------------------------------------- records
def model_record(clean: dict, latency_ms: Optional[float] = None) -> dict:
    """The summary record of one model from its clean robustness row.

    Args:
        clean (dict): A :func:`~dynmm_plugins.evaluation.robustness.robustness_eval`
            record on clean inputs, evaluated with a ``kind_evaluator``.
        latency_ms (float, optional): Median batch-1 latency per image.
    """
    routing = clean['routing']
    kinds = routing.get('by_scene_kind', {})
    by_kind = clean.get('miou_by_scene_kind', {})
    return dict(
        miou=float(clean['miou_mean']),
        miou_by_scene_kind={k: float(by_kind[k]) for k in SCENE_KINDS if k in by_kind},
        gflops_per_image=float(routing['gflops_per_image']),
        depth_gflops_per_image=float(routing['depth_gflops_per_image']),
        latency_ms=None if latency_ms is None else float(latency_ms),
        branch_histogram=list(routing['branch_histogram']),
        branch_histogram_by_scene_kind={k: list(kinds[k]['branch_histogram'])
                                        for k in SCENE_KINDS if k in kinds},
        depth_branch_fraction_by_scene_kind={k: float(kinds[k]['depth_branch_fraction'])
                                             for k in SCENE_KINDS if k in kinds},
        branch0_fraction_by_scene_kind={k: float(kinds[k]['branch_fractions'][0])
                                        for k in SCENE_KINDS if k in kinds},
        mean_branch_by_scene_kind={k: float(kinds[k]['mean_branch'])
                                   for k in SCENE_KINDS if k in kinds},
        gate=clean.get('gate'))


def _spread(values: Sequence[float]) -> dict:
    return dict(std=statistics.pstdev(values) if len(values) > 1 else 0.0,
                min=min(values), max=max(values))


def aggregate_records(records: Sequence[dict]) -> dict:
    """Mean over seeds of every number of :func:`model_record`; ``spread`` and ``per_seed`` too.

    Histograms are summed; nested per-kind numbers are averaged key by key.
    """
    if not records:
        raise ValueError('aggregate_records needs at least one record')
    first = records[0]
    out, spread = {}, {}
    for key, value in first.items():
        values = [r[key] for r in records]
        if key.startswith('branch_histogram'):
            if isinstance(value, dict):
                out[key] = {k: [sum(c) for c in zip(*(v[k] for v in values))] for k in value}
            else:
                out[key] = [sum(c) for c in zip(*values)]
        elif isinstance(value, dict):
            out[key] = {k: statistics.fmean(v[k] for v in values) for k in value}
            spread[key] = {k: _spread([v[k] for v in values]) for k in value}
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and None not in values:
            out[key] = statistics.fmean(values)
            spread[key] = _spread(values)
        else:
            out[key] = value
    out['spread'] = spread
    out['per_seed'] = list(records)
    return out


# ---------------------------------------------------------------------------- targets
def check_targets(models: Dict[str, dict]) -> List[dict]:
    """The issue's targets on one set of model records (one seed, or the means).

    Returns one dict per target: ``name``, ``text``, ``value``, ``threshold``,
    ``passed``. Targets whose models are missing are left out.
    """
    out = []

    def add(name, value, threshold, passed):
        out.append(dict(name=name, text=TARGET_TEXT[name], value=round(float(value), 4),
                        threshold=threshold, passed=bool(passed)))

    s, d, r = models.get('static'), models.get('dynmm'), models.get('rgb_only')
    if s and r:
        gain = s['miou_by_scene_kind']['depth'] - r['miou_by_scene_kind']['depth']
        add('depth_gain_static', gain, 20.0, gain >= 20.0)
    if d and r:
        gain = d['miou_by_scene_kind']['depth'] - r['miou_by_scene_kind']['depth']
        add('depth_gain_dynmm', gain, 20.0, gain >= 20.0)
    if s and d and r:
        rgb = [m['miou_by_scene_kind']['rgb'] for m in (s, d, r)]
        add('rgb_scenes_agree', max(rgb) - min(rgb), 2.0, max(rgb) - min(rgb) <= 2.0)
    if d:
        frac = d['depth_branch_fraction_by_scene_kind']
        add('depth_scenes_routed_to_depth', frac['depth'], 0.9, frac['depth'] >= 0.9)
        branch0 = d['branch0_fraction_by_scene_kind']['rgb']
        add('rgb_scenes_routed_to_branch0', branch0, 0.6, branch0 >= 0.6)
    if s and d:
        add('miou_close_to_static', d['miou'] - s['miou'], -1.0, d['miou'] - s['miou'] >= -1.0)
        ratio = d['gflops_per_image'] / s['gflops_per_image']
        add('gflops_saved', ratio, 0.8, ratio <= 0.8)
        if d.get('latency_ms') and s.get('latency_ms'):
            ratio = d['latency_ms'] / s['latency_ms']
            add('latency_saved', ratio, 0.8, ratio <= 0.8)
    return out


# ---------------------------------------------------------------------------- robustness
def robustness_drops(rows: Sequence[dict], reference: str = 'static') -> List[dict]:
    """mIoU drop (clean minus noisy) of every model at every noisy (mode, level).

    ``rows`` are robustness records whose ``model`` is a summary key (one seed or
    the seed means, see :func:`mean_robustness_rows`). Each result also holds the
    drop of ``reference`` and the difference (negative: more robust than it).
    """
    clean = {r['model']: r['miou_mean'] for r in rows if r['mode'] == -1}
    drops = {}
    for r in rows:
        if r['mode'] >= 0 and r['noise'] > 0:
            drops[(r['model'], r['mode'], r['noise'])] = (clean[r['model']] - r['miou_mean'], r)
    out = []
    for (model, mode, level), (drop, row) in drops.items():
        ref = drops.get((reference, mode, level))
        kinds = row['routing'].get('by_scene_kind', {})
        out.append(dict(model=model, mode=mode, mode_name=row['mode_name'], noise=level,
                        miou=row['miou_mean'], drop=drop,
                        reference_drop=None if ref is None else ref[0],
                        drop_minus_reference=None if ref is None else drop - ref[0],
                        miou_by_scene_kind=row.get('miou_by_scene_kind', {}),
                        depth_branch_fraction_by_scene_kind={
                            k: v['depth_branch_fraction'] for k, v in kinds.items()}))
    return out


def mean_robustness_rows(rows_per_seed: Sequence[Sequence[dict]]) -> List[dict]:
    """Robustness rows averaged over seeds (same models, modes and levels in each)."""
    first = rows_per_seed[0]
    out = []
    for i, row in enumerate(first):
        group = [rows[i] for rows in rows_per_seed]
        mean = dict(row)
        mean['miou_mean'] = statistics.fmean(r['miou_mean'] for r in group)
        mean['miou_std'] = statistics.pstdev([r['miou_mean'] for r in group]) if len(group) > 1 else row['miou_std']
        mean['miou_runs'] = [v for r in group for v in r['miou_runs']]
        kinds = row.get('miou_by_scene_kind', {})
        mean['miou_by_scene_kind'] = {k: statistics.fmean(r['miou_by_scene_kind'][k] for r in group)
                                      for k in kinds}
        routing = dict(row['routing'])
        routing['gflops_per_image'] = statistics.fmean(r['routing']['gflops_per_image'] for r in group)
        routing['depth_gflops_per_image'] = statistics.fmean(
            r['routing']['depth_gflops_per_image'] for r in group)
        routing['by_scene_kind'] = {
            k: dict(v, depth_branch_fraction=statistics.fmean(
                r['routing']['by_scene_kind'][k]['depth_branch_fraction'] for r in group),
                mean_branch=statistics.fmean(r['routing']['by_scene_kind'][k]['mean_branch'] for r in group))
            for k, v in row['routing'].get('by_scene_kind', {}).items()}
        mean['routing'] = routing
        mean['seeds_averaged'] = len(group)
        out.append(mean)
    return out


# ---------------------------------------------------------------------------- tables
def _pm(record: dict, key: str, fmt: str, sub: Optional[str] = None, scale: float = 1.0) -> str:
    value = record[key] if sub is None else record[key].get(sub)
    if value is None:
        return 'n/a'
    text = format(scale * value, fmt)
    spread = record.get('spread', {}).get(key)
    if spread is not None and sub is not None:
        spread = spread.get(sub)
    if spread and len(record.get('per_seed', [])) > 1:
        text += ' +- ' + format(scale * spread['std'], fmt)
    return text


SUMMARY_HEADER = ('model', 'mIoU', "mIoU 'rgb' scenes", "mIoU 'depth' scenes", 'GFLOPs/image',
                  'latency ms/image', "'depth' scenes on depth branches", "'rgb' scenes on branch 0",
                  'branch histogram (0..4)')


def summary_rows(models: Dict[str, dict]) -> List[List[str]]:
    """Rows of the summary table from ``{summary key: record}`` (one seed or aggregated)."""
    rows = []
    for key, m in models.items():
        rows.append([MODEL_NAMES.get(key, key), _pm(m, 'miou', '.2f'),
                     _pm(m, 'miou_by_scene_kind', '.2f', 'rgb'),
                     _pm(m, 'miou_by_scene_kind', '.2f', 'depth'),
                     _pm(m, 'gflops_per_image', '.3f'), _pm(m, 'latency_ms', '.1f'),
                     _pm(m, 'depth_branch_fraction_by_scene_kind', '.0f', 'depth', 100) + '%',
                     _pm(m, 'branch0_fraction_by_scene_kind', '.0f', 'rgb', 100) + '%',
                     ' '.join(str(c) for c in m['branch_histogram'])])
    return rows


ROBUSTNESS_HEADER = ('model', 'noise on', 'level', 'mIoU', 'drop', 'drop vs static',
                     "mIoU 'rgb' / 'depth'", "depth-branch share 'rgb' / 'depth'")


def robustness_rows(drops: Sequence[dict]) -> List[List[str]]:
    """Rows of the robustness table from :func:`robustness_drops`."""
    out = []
    for d in drops:
        kinds, frac = d['miou_by_scene_kind'], d['depth_branch_fraction_by_scene_kind']
        out.append([MODEL_NAMES.get(d['model'], d['model']), d['mode_name'], f'{d["noise"]:g}',
                    f'{d["miou"]:.2f}', f'{d["drop"]:.2f}',
                    'n/a' if d['drop_minus_reference'] is None else f'{d["drop_minus_reference"]:+.2f}',
                    ' / '.join(f'{kinds[k]:.1f}' if k in kinds else 'n/a' for k in SCENE_KINDS),
                    ' / '.join(f'{100 * frac[k]:.0f}%' if k in frac else 'n/a' for k in SCENE_KINDS)])
    return out


def format_summary(models: Dict[str, dict], targets: Sequence[dict], drops: Sequence[dict] = (),
                   markdown: bool = False, notes: Sequence[str] = ()) -> str:
    """The demo's report: summary table, targets, robustness table and notes."""
    table = markdown_table if markdown else text_table
    bullet = '- ' if markdown else '  '
    parts = [table(SUMMARY_HEADER, summary_rows(models)), '', 'Targets:']
    for t in targets:
        parts.append(f'{bullet}[{"x" if t["passed"] else " "}] {t["text"]}: {t["value"]:g} '
                     f'(threshold {t["threshold"]:g})')
    if drops:
        parts += ['', 'Robustness (DynMM protocol: noise on the normalised inputs of a third of '
                      'the images per noisy modality; drop = clean mIoU - noisy mIoU; '
                      'drop vs static < 0: more robust than static ESANet):', '',
                  table(ROBUSTNESS_HEADER, robustness_rows(drops))]
    if notes:
        parts += [''] + [bullet + n for n in notes]
    return '\n'.join(parts)


def all_finite(obj) -> bool:
    """Whether every number in a nested JSON-like object is finite (None counts as missing)."""
    if isinstance(obj, bool):
        return True
    if isinstance(obj, (int, float)):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(all_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(all_finite(v) for v in obj)
    return True
