"""The demo (tools/run_demo.py): its quick variant end to end, and the pieces of its report.

``test_quick_demo_writes_a_complete_finite_report`` runs ``--quick`` as CI does (a
subprocess, tiny data and schedules, about a minute on 2 cores) and checks what a
user and the hidden check read: every file of the report, every key of
``summary.json`` and every number finite. The full demo (minutes) is not run here;
its targets are checked by the demo itself (``targets`` in ``summary.json``).
"""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('mmseg')

from helpers.tool_scripts import REPO, error_line, load_tool  # noqa: E402

from dynmm_plugins.visualization.demo_report import (
    aggregate_records,
    all_finite,
    check_targets,
    ensure_synthetic_data,
    format_summary,
    model_record,
    robustness_drops,  # noqa: E402
)

PNG = b'\x89PNG\r\n\x1a\n'
MODEL_KEYS = ('miou', 'miou_by_scene_kind', 'gflops_per_image', 'latency_ms')


def _record(miou, rgb, depth, gflops, latency, depth_frac=(1.0, 1.0), hist=(0, 0, 0, 0, 4)):
    return dict(miou=miou, miou_by_scene_kind=dict(rgb=rgb, depth=depth), gflops_per_image=gflops,
                latency_ms=latency, depth_gflops_per_image=gflops / 2, branch_histogram=list(hist),
                branch_histogram_by_scene_kind=dict(rgb=list(hist), depth=list(hist)),
                depth_branch_fraction_by_scene_kind=dict(rgb=depth_frac[0], depth=depth_frac[1]),
                branch0_fraction_by_scene_kind=dict(rgb=1 - depth_frac[0], depth=1 - depth_frac[1]),
                mean_branch_by_scene_kind=dict(rgb=1.0, depth=2.0), gate='hard')


def _passed(targets):
    return {t['name']: t['passed'] for t in targets}


def test_targets_hold_exactly_at_their_thresholds():
    models = dict(static=_record(80.0, 95.0, 65.0, 1.0, 50.0),
                  dynmm=_record(79.0, 94.0, 65.0, 0.8, 40.0, depth_frac=(0.4, 0.9)),
                  rgb_only=_record(60.0, 96.0, 45.0, 0.5, 30.0, depth_frac=(0.0, 0.0)))
    passed = _passed(check_targets(models))
    assert len(passed) == 8 and all(passed.values()), passed


def test_targets_fail_just_past_their_thresholds():
    models = dict(static=_record(80.0, 95.0, 64.9, 1.0, 50.0),
                  dynmm=_record(78.9, 92.9, 64.0, 0.81, 40.1, depth_frac=(0.41, 0.89)),
                  rgb_only=_record(60.0, 95.0, 45.0, 0.5, 30.0, depth_frac=(0.0, 0.0)))
    passed = _passed(check_targets(models))
    assert not any(passed.values()), passed


def test_seed_aggregation_gives_mean_spread_and_every_seed():
    a = _record(70.0, 90.0, 50.0, 1.0, 40.0)
    b = _record(74.0, 94.0, 54.0, 1.0, 44.0)
    agg = aggregate_records([a, b])
    assert agg['miou'] == 72.0 and agg['miou_by_scene_kind'] == dict(rgb=92.0, depth=52.0)
    assert agg['spread']['miou'] == dict(std=2.0, min=70.0, max=74.0)
    assert agg['spread']['miou_by_scene_kind']['depth']['std'] == 2.0
    assert agg['branch_histogram'] == [0, 0, 0, 0, 8] and agg['per_seed'] == [a, b]
    table = format_summary(dict(static=agg), check_targets(dict(static=agg)))
    assert '72.00 +- 2.00' in table


def _row(model, mode, level, miou, frac=0.5):
    return dict(model=model, mode=mode, mode_name={-1: 'clean', 1: 'depth'}[mode], noise=level,
                miou_mean=miou, miou_std=0.0, miou_runs=[miou], runs_evaluated=1,
                miou_by_scene_kind=dict(rgb=miou, depth=miou),
                routing=dict(by_scene_kind=dict(rgb=dict(depth_branch_fraction=frac),
                                                depth=dict(depth_branch_fraction=1.0))))


def test_robustness_drops_compare_with_static():
    rows = [_row('static', -1, 0.0, 80.0), _row('static', 1, 1.0, 70.0),
            _row('dynmm', -1, 0.0, 79.0), _row('dynmm', 1, 1.0, 75.0, frac=0.2)]
    drops = {d['model']: d for d in robustness_drops(rows)}
    assert drops['static']['drop'] == 10.0 and drops['static']['drop_minus_reference'] == 0.0
    assert drops['dynmm']['drop'] == 4.0 and drops['dynmm']['drop_minus_reference'] == -6.0
    assert drops['dynmm']['depth_branch_fraction_by_scene_kind'] == dict(rgb=0.2, depth=1.0)


def test_model_record_reads_routing_by_scene_kind():
    def kind(hist):
        n = sum(hist)
        return dict(branch_histogram=hist, branch_fractions=[c / n for c in hist],
                    mean_branch=sum(i * c for i, c in enumerate(hist)) / n,
                    depth_branch_fraction=1 - hist[0] / n)
    clean = dict(miou_mean=75.0, gate='hard', miou_by_scene_kind=dict(rgb=90.0, depth=60.0),
                 routing=dict(gflops_per_image=0.7, depth_gflops_per_image=0.1,
                              branch_histogram=[3, 2, 0, 0, 1],
                              by_scene_kind=dict(rgb=kind([3, 0, 0, 0, 0]), depth=kind([0, 2, 0, 0, 1]))))
    record = model_record(clean, latency_ms=12.5)
    assert record['depth_branch_fraction_by_scene_kind'] == dict(rgb=0.0, depth=1.0)
    assert record['branch0_fraction_by_scene_kind'] == dict(rgb=1.0, depth=0.0)
    assert record['latency_ms'] == 12.5 and record['miou_by_scene_kind']['depth'] == 60.0


def test_all_finite_finds_nan_anywhere():
    assert all_finite(dict(a=[1, 2.0, dict(b=True, c=None)]))
    assert not all_finite(dict(a=[1, dict(b=math.nan)]))
    assert not all_finite([math.inf])


def test_lambda_is_picked_on_val_by_the_stated_rule():
    demo = load_tool('run_demo')
    candidates = {0.1: dict(miou=80.5, gflops_per_image=0.81), 0.2: dict(miou=79.2, gflops_per_image=0.7),
                  0.4: dict(miou=79.3, gflops_per_image=0.5), 0.8: dict(miou=75.0, gflops_per_image=0.4)}
    assert demo.pick_lambda(1.0, candidates) == 0.4  # most accurate within 0.8x static
    candidates[0.2]['miou'] = 79.3
    assert demo.pick_lambda(1.0, candidates) == 0.4  # a tie: the cheaper
    # none within the compute target: the cheapest
    assert demo.pick_lambda(0.4, candidates) == 0.8


def test_synthetic_data_with_val_is_generated_once(tmp_path):
    root = str(tmp_path / 'data')
    assert ensure_synthetic_data(root, 2, 2, height=32, width=32, progress=False, num_val=2) is True
    assert ensure_synthetic_data(root, 2, 2, height=32, width=32, progress=False, num_val=2) is False
    assert ensure_synthetic_data(root, 2, 2, height=32, width=32, progress=False, num_val=3) is True
    assert len(json.load(open(osp.join(root, 'scene_kinds.json')))['val']) == 3


def test_demo_arguments(capsys):
    demo = load_tool('run_demo')
    args = demo.parse_args([])
    assert args.out == 'work_dirs/demo' and args.seeds == [0] and args.size == (64, 96)
    assert args.threads == 1 and args.modes == [0, 1, 2] and args.levels == [0.0, 0.5, 1.0]
    assert len(args.lambdas) > 1 and args.jobs == 2  # lambda chosen on val; RGB-only beside
    assert demo.parse_args(['--lambda', '0.3']).lambdas == [0.3]
    quick = demo.parse_args(['--quick', '--iters', '5'])
    assert quick.out == 'work_dirs/demo_quick' and quick.iters == 5 and quick.num_train < args.num_train
    for key in demo.CONFIGS:
        assert osp.isfile(demo.config_path(demo.CONFIGS[key]))
    for bad, word in ((['--iters', '0'], '--iters'), (['--size', '100', '128'], 'multiple of 32'),
                      (['--levels', '2'], 'level'), (['--seeds', '1', '1'], '--seeds'),
                      (['--lambda', '0.1', '--tune-lambdas', '0.2'], 'exclude'),
                      (['--jobs', '0'], '--jobs')):
        with pytest.raises(SystemExit) as exc:
            demo.parse_args(bad)
        assert exc.value.code == 2
        assert word in error_line(capsys)


def test_rgb_only_config_feeds_exactly_zero_depth(tmp_path):
    """The RGB-only baseline sees no depth at all, even under the protocol's depth noise."""
    from mmengine.dataset import pseudo_collate

    from dynmm_plugins.apis.model_loading import build_model
    from dynmm_plugins.apis.training import synthetic_train_config
    from dynmm_plugins.evaluation.noise import ModalityNoise
    demo = load_tool('run_demo')
    data = str(tmp_path / 'data')
    ensure_synthetic_data(data, 2, 2, height=64, width=64, progress=False)
    cfg = synthetic_train_config(demo.config_path(demo.CONFIGS['rgb_only']), data, str(tmp_path / 'w'),
                                 1, size=(64, 64))
    model = build_model(cfg)
    from mmengine.runner import Runner
    dataset = Runner.build_dataloader(dict(cfg.test_dataloader, num_workers=0,
                                           persistent_workers=False)).dataset
    inputs = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), False)['inputs']
    assert inputs.shape[1] == 4 and bool((inputs[:, 3] == 0).all())
    assert float(inputs[:, :3].abs().sum()) > 0
    noise = ModalityNoise(1, 1.0, seed=0)
    noisy = inputs
    while noise.counts['depth'] == 0:
        noisy, _ = noise(inputs)
    assert bool((noisy[:, 3] == 0).all())
    assert model.gate_mode == 'fixed' and model.fixed_branch == 0


def test_depth_noise_augmentation_touches_depth_only_and_is_seeded():
    import torch

    from dynmm_plugins.apis.training import DepthNoiseAugmentHook

    class Pre(torch.nn.Module):
        mean = torch.tensor([100.0, 100.0, 100.0, 3000.0])
        std = torch.tensor([50.0, 50.0, 50.0, 1000.0])

    class Runner:
        model = torch.nn.Module()
    Runner.model.data_preprocessor = Pre()

    def batch():
        g = torch.Generator().manual_seed(1)
        return dict(inputs=[torch.rand(4, 8, 8, generator=g) * 4000 for _ in range(6)])

    outs = []
    for _ in range(2):
        hook = DepthNoiseAugmentHook(prob=1.0, max_level=1.0, seed=3)
        hook.before_train(Runner)
        data = batch()
        hook.before_train_iter(Runner, 0, data)
        outs.append(data['inputs'])
    clean = batch()['inputs']
    for a, b, c in zip(outs[0], outs[1], clean):
        assert torch.equal(a, b)  # same seed, same noise
        assert torch.equal(a[:3], c[:3]) and not torch.equal(a[3], c[3])
    hook = DepthNoiseAugmentHook(prob=0.0, seed=3)
    hook.before_train(Runner)
    data = batch()
    hook.before_train_iter(Runner, 0, data)
    assert all(torch.equal(a, c) for a, c in zip(data['inputs'], clean))


def test_quick_demo_writes_a_complete_finite_report(tmp_path):
    out = tmp_path / 'demo'
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'run_demo.py'), '--quick',
                           '--out', str(out)], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out / 'report'
    for name in ('summary.md', 'robustness.csv', 'robustness.json'):
        assert (report / name).stat().st_size > 0, name
    for name in ('robustness.png', 'routing.png', 'examples.png', 'accuracy_compute.png'):
        assert (report / name).read_bytes()[:8] == PNG, name
    summary = json.loads((report / 'summary.json').read_text())
    assert summary['all_numbers_finite'] and all_finite(summary['models'])
    models = summary['models']
    for key in ('static', 'dynmm', 'rgb_only'):
        for field in MODEL_KEYS:
            assert field in models[key], (key, field)
        assert set(models[key]['miou_by_scene_kind']) == {'rgb', 'depth'}
        assert 0 <= models[key]['miou'] <= 100 and models[key]['latency_ms'] > 0
    assert set(models['dynmm']['depth_branch_fraction_by_scene_kind']) == {'rgb', 'depth'}
    # what each model computes, by construction: static always the full branch,
    # RGB-only always branch 0, DynMM (plus its gate) one of them per image
    assert models['static']['depth_branch_fraction_by_scene_kind'] == dict(rgb=1.0, depth=1.0)
    assert models['rgb_only']['depth_branch_fraction_by_scene_kind'] == dict(rgb=0.0, depth=0.0)
    assert models['rgb_only']['gflops_per_image'] < models['dynmm']['gflops_per_image']
    assert models['rgb_only']['gflops_per_image'] < models['static']['gflops_per_image']
    assert {t['name'] for t in summary['targets']} >= {'depth_gain_dynmm', 'gflops_saved',
                                                        'depth_scenes_routed_to_depth'}
    levels = {(r['model'], r['mode'], r['noise']) for r in summary['robustness']['rows']}
    assert ('dynmm', 1, 1.0) in levels and ('rgb_only', 2, 1.0) in levels
    assert summary['validation']['dynmm']['miou'] >= 0
    assert {t['name'] for t in summary['validation_targets_per_seed']['0']} >= {'rgb_scenes_agree'}
    # the accuracy-compute curve under the compute knob: calibrated on val, tested on test
    knob = summary['compute_knob']['points']
    assert [p['target_fraction'] for p in knob] == [0.6, 0.7, 0.8, 0.9, 1.0]
    assert np.isfinite([[p['miou'], p['gflops_per_image'], p['tau']] for p in knob]).all()
    md = (report / 'summary.md').read_text()
    assert 'RGB-only' in md and 'DynMM' in md and 'Targets' in md
    lines = (report / 'robustness.csv').read_text().splitlines()
    assert len(lines) == 1 + len(summary['robustness']['rows'])
    assert np.isfinite([r['miou_mean'] for r in summary['robustness']['rows']]).all()


def test_dynmm_phases_random_network_then_gate_alone_then_network_under_the_gate(tmp_path):
    """DynMM's three demo phases: random branches for every iteration, then the gate
    alone, then the network (not the gate) under the gate's hard decisions."""
    from dynmm_plugins.apis.model_loading import build_model
    from dynmm_plugins.core import GateSchedule
    demo = load_tool('run_demo')
    data = str(tmp_path / 'data')
    ensure_synthetic_data(data, 2, 2, height=64, width=64, progress=False)
    args = demo.parse_args(['--size', '64', '64'])
    trainer = demo.Trainer(args, data, str(tmp_path / 'work'), seed=0)
    for phase, iters in (('random', 150), ('gate', 100), ('routed', 50)):
        cfg = trainer.config('dynmm', iters, str(tmp_path / phase), loss_ratio=2.0, phase=phase)
        hook = next(h for h in cfg.custom_hooks if h['type'] == 'DynMMGateScheduleHook')
        schedule = GateSchedule(hook['temp'], hook['end_temp'], hook['epoch_ini'], hook['epoch_hard'])
        phases = [schedule.phase(i // hook['iters_per_epoch']) for i in range(iters)]
        model = build_model(cfg)
        # the gate alone learns from each branch's own loss; the network phases as configured
        assert model.gate_loss == ('expected' if phase == 'gate' else 'mixed')
        trainable = {n.split('.')[1] for n, p in model.named_parameters() if p.requires_grad}
        if phase == 'random':
            assert set(phases) == {'random'} and len(trainable) > 1
            assert not model.gate_frozen
        elif phase == 'routed':
            assert set(phases) == {'hard'} and model.gate_frozen
            top = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
            assert top == {'backbone', 'neck', 'decode_head'} and 'gate' not in trainable
        else:
            hard_from = phases.index('hard')
            assert set(phases[:hard_from]) == {'soft'} and set(phases[hard_from:]) == {'hard'}
            assert 0.7 * iters <= hard_from <= 0.8 * iters
            assert trainable == {'gate'}, trainable
            assert model.loss_resource.loss_weight == 2.0
    with pytest.raises(ValueError, match='phase'):
        demo.set_dynmm_phase(cfg, 'soft', 10)


def test_every_model_finetunes_static_esanets_first_phase(tmp_path, monkeypatch):
    """The recipe's wiring: one shared first phase, then each model's own finetuning runs,
    with BatchNorm statistics fixed in every run that starts from a checkpoint (but the
    gate phase, whose new gate must learn its own), and branch 0 on RGB alone."""
    demo = load_tool('run_demo')
    args = demo.parse_args(['--size', '64', '64', '--tune-lambdas', '0.4'])
    args.class_weight = None
    trainer = demo.Trainer(args, str(tmp_path / 'data'), str(tmp_path / 'work'), seed=0)
    calls = []

    def fake_train(self, key, name, iters, load_from=None, loss_ratio=None, hooks=(), phase=None,
                   lr=None):
        if name not in self.done:
            calls.append((name, load_from))
            self.done[name] = f'{name}.pth'
        return self.done[name]

    monkeypatch.setattr(demo.Trainer, 'train', fake_train)
    for key in ('static', 'rgb_only'):
        trainer.finetuned(key)
    trainer.finetuned('dynmm', 0.4)
    assert calls == [('static_phase1', None), ('static_phase2', 'static_phase1.pth'),
                     ('static', 'static_phase2.pth'),
                     ('rgb_only_phase2', 'static_phase1.pth'), ('rgb_only', 'rgb_only_phase2.pth'),
                     ('dynmm_random', 'static_phase1.pth'),
                     ('dynmm_lambda0.4', 'dynmm_random.pth'),
                     ('dynmm_lambda0.4_routed', 'dynmm_lambda0.4.pth')]
    monkeypatch.undo()
    data = str(tmp_path / 'data')
    ensure_synthetic_data(data, 2, 2, height=64, width=64, progress=False)
    for key, load_from, phase, norm_eval in (('static', None, None, False),
                                              ('rgb_only', 'x.pth', None, True),
                                              ('dynmm', 'x.pth', 'random', True),
                                              ('dynmm', 'x.pth', 'gate', False),
                                              ('dynmm', 'x.pth', 'routed', True)):
        cfg = trainer.config(key, 10, str(tmp_path / 'w'), load_from=load_from,
                             loss_ratio=0.4 if key == 'dynmm' else None, phase=phase)
        assert cfg.model['norm_eval'] is norm_eval, (key, phase)
        assert cfg.model.backbone['gated_stem_fusion'] is True
