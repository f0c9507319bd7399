"""The demo end to end on its --quick schedule, its reporting helpers and its arguments."""
import csv
import importlib.util
import json
import math
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

pytest.importorskip('mmseg')

from dynmm_plugins.utils.demo import (comparison_lines, ensure_synthetic_data, format_summary,  # noqa: E402
                                      summary_rows)
from dynmm_plugins.utils.report import (plot_branch_histograms, plot_miou_vs_noise,  # noqa: E402
                                        write_robustness_csv)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


REPORT_FILES = ('summary.json', 'summary.md', 'robustness.csv', 'robustness.json',
                'miou_vs_noise.png', 'routing.png')


def _numbers(value):
    """Every number in a JSON document."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def test_quick_demo_runs_end_to_end_and_writes_a_finite_report(tmp_path):
    out = tmp_path / 'demo'
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'run_demo.py'), '--quick',
                           '--out', str(out), '--threads', '1'],
                          capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out / 'report'
    for name in REPORT_FILES:
        assert (report / name).is_file() and (report / name).stat().st_size > 0, name
    for name in ('miou_vs_noise.png', 'routing.png'):
        assert (report / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    summary = json.loads((report / 'summary.json').read_text())
    # the summary lists the other report files (it is written last)
    assert {osp.basename(path) for path in summary['files'].values()} == set(REPORT_FILES) - {'summary.json'}
    assert all(osp.isfile(path) for path in summary['files'].values())
    assert summary['settings']['quick'] is True and summary['settings']['iters'] == 2
    numbers = _numbers(summary) + _numbers(json.loads((report / 'robustness.json').read_text()))
    assert numbers and all(math.isfinite(n) for n in numbers)
    results = summary['results']
    assert set(results) == {'ESANet (static)', 'DynMM'}
    for name, result in results.items():
        assert 0 <= result['mIoU'] <= 100 and result['latency_ms'] > 0, name
        routing = result['routing']
        assert sum(routing['branch_histogram']) == summary['settings']['num_test'], name
        assert routing['gflops_per_image'] > 0, name
    assert results['ESANet (static)']['routing']['branch_histogram'][:4] == [0, 0, 0, 0]
    # the robustness sweep: per model, clean and depth noise at levels 0 and 1
    rows = list(csv.DictReader(open(report / 'robustness.csv')))
    assert len(rows) == 2 * 3
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except ValueError:
                continue
            assert math.isfinite(number), (key, value)
    # the tables say no 'nan' or 'inf' either
    for text in ((report / 'summary.md').read_text(), proc.stdout):
        assert not re.search(r'\b(nan|inf)\b', text, re.IGNORECASE)
    assert 'DynMM' in proc.stdout and 'wrote ' in proc.stdout


def _routing(histogram, gflops, depth_gflops, kinds):
    n = sum(histogram)
    fractions = [c / n for c in histogram]
    return dict(num_images=n, branch_histogram=histogram, branch_fractions=fractions,
                mean_branch=sum(k * f for k, f in enumerate(fractions)),
                depth_branch_fraction=1 - fractions[0], gflops_per_image=gflops,
                depth_gflops_per_image=depth_gflops, input_sizes=[[128, 160]],
                by_scene_kind={k: dict(num_images=sum(h), branch_histogram=h,
                                       branch_fractions=[c / sum(h) for c in h],
                                       mean_branch=sum(i * c for i, c in enumerate(h)) / sum(h),
                                       depth_branch_fraction=1 - h[0] / sum(h))
                               for k, h in kinds.items()})


RESULTS = {
    'ESANet (static)': dict(mIoU=50.0, latency_ms=20.0,
                            routing=_routing([0, 0, 0, 0, 4], 1.2, 0.5, {'rgb': [0, 0, 0, 0, 2],
                                                                       'depth': [0, 0, 0, 0, 2]})),
    'DynMM': dict(mIoU=49.0, latency_ms=15.0,
                  routing=_routing([2, 0, 1, 1, 0], 0.9, 0.2, {'rgb': [2, 0, 0, 0, 0],
                                                             'depth': [0, 0, 1, 1, 0]})),
}
SWEEP = [dict(model=m, gate='hard', mode=mode, mode_name=name, noise=level, num_runs=1, runs_evaluated=1,
              miou_runs=[v], miou_mean=v, miou_std=0.0, routing=RESULTS[m]['routing'])
         for m in RESULTS for mode, name, level, v in ((-1, 'clean', 0.0, 50.0), (1, 'depth', 0.5, 45.0),
                                                       (1, 'depth', 1.0, 40.0))]


def test_summary_rows_show_what_the_demo_promises():
    static, dynamic = summary_rows(RESULTS)
    assert static[:5] == ['ESANet (static)', '50.00', '1.200', '0.500', '20.0']
    assert dynamic[5] == '2 0 1 1 0'
    assert dynamic[6] == '100% (mean branch 2.50)' and dynamic[7] == '0% (mean branch 0.00)'


def test_comparison_lines_quantify_savings_and_routing():
    lines = comparison_lines(RESULTS, 'ESANet (static)', 'DynMM')
    assert lines[0] == 'mIoU: 49.00 vs 50.00 (-1.00 points)'
    assert '(-25.0%)' in lines[1] and '(-60.0%)' in lines[1]
    assert '(-25.0%)' in lines[2]
    assert "'depth' scenes go to depth-using branches (>= 1) 100%" in lines[3]


def test_format_summary_as_text_and_markdown():
    text = format_summary(RESULTS, SWEEP[1:3], 'ESANet (static)', 'DynMM', notes=['wall time 1 s'])
    assert 'mIoU' in text and '1 (depth)' in text and 'wall time 1 s' in text
    md = format_summary(RESULTS, SWEEP, 'ESANet (static)', 'DynMM', markdown=True)
    assert md.splitlines()[0].startswith('| model | mIoU |') and md.splitlines()[1].startswith('|---')


def test_report_files_are_written(tmp_path):
    png = plot_miou_vs_noise(SWEEP, str(tmp_path / 'a' / 'miou.png'))
    bars = plot_branch_histograms({k: v['routing'] for k, v in RESULTS.items()}, str(tmp_path / 'r.png'))
    for path in (png, bars):
        assert open(path, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    csv_path = write_robustness_csv(SWEEP, str(tmp_path / 'r.csv'))
    lines = open(csv_path).read().splitlines()
    assert len(lines) == 1 + len(SWEEP) and 'depth_scenes_mean_branch' in lines[0]


def test_synthetic_data_is_generated_once(tmp_path):
    root = str(tmp_path / 'data')
    assert ensure_synthetic_data(root, 2, 2, height=32, width=32, progress=False) is True
    assert ensure_synthetic_data(root, 2, 2, height=32, width=32, progress=False) is False
    assert ensure_synthetic_data(root, 3, 2, height=32, width=32, progress=False) is True
    assert len(json.load(open(osp.join(root, 'scene_kinds.json')))['train']) == 3


def test_demo_arguments():
    spec = importlib.util.spec_from_file_location('run_demo', osp.join(REPO, 'tools', 'run_demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    args = demo.parse_args(['--iters', '30'])
    assert args.out == 'work_dirs/demo' and args.data is None and args.finetune_iters == 20
    assert osp.isfile(demo.config_path(demo.STATIC_CONFIG)) and osp.isfile(demo.config_path(demo.DYNAMIC_CONFIG))
    with pytest.raises(SystemExit):
        demo.parse_args(['--iters', '0'])
    with pytest.raises(SystemExit):
        demo.parse_args(['--levels', '2'])
    quick = demo.parse_args(['--quick'])
    assert (quick.iters, quick.finetune_iters, quick.num_test) == (2, 2, 2)
