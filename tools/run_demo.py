#!/usr/bin/env python
"""The built-in DynMM demo: depth learned where only depth helps, routed there, skipped elsewhere.

On a synthetic RGB-D set it generates (half of the scenes are dim rooms whose objects
only depth reveals, half bright rooms whose objects are flat prints only RGB shows), on
the CPU, in-process (mmengine's Runner):

1. writes the set (train / val / test) unless it is already there;
2. for each seed, trains three models from one shared first phase, static ESANet
   (R18-NBt1D) trained ITERS iterations; every later run starts from a checkpoint and
   keeps BatchNorm's statistics fixed:
   - static ESANet: + FINETUNE and + ROUTED iterations, depth fused everywhere;
   - RGB-only: the same network on branch 0 with depth blanked, + FINETUNE + ROUTED;
   - DynMM: + RANDOM_ITERS on uniformly random branches (so that every branch
     segments), then its gate alone (network frozen) GATE_ITERS iterations with the
     resource loss: soft gates whose temperature decays, then hard ones; one gate per
     lambda of --lambdas, the one chosen on the val split is kept; then ROUTED_ITERS
     of the network under that gate's fixed hard decisions;
   - with --noise-augment, DynMM's gate trained again with depth noise on a third of
     its images (the remedy for robustness), and its network under it;
   Branch 0 runs on RGB alone (the stem fusion is gated with the stage fusions).
3. evaluates every model on the val split (the split tuning looks at) and on the
   test split: mIoU per scene kind, realised GFLOPs, where the gate sent each kind;
4. the robustness sweep: noise on RGB, on depth, on either, levels 0..1;
5. measures the batch-1 latency per image (models interleaved);
6. writes OUT/report: summary.json, summary.md, robustness.csv/json,
   robustness.png, routing.png, examples.png, accuracy_compute.png.

Numbers do not depend on the machine beyond float noise: torch runs with a fixed
number of threads (--threads) and deterministic algorithms, every seed is fixed.

Example::

    python tools/run_demo.py                        # one seed, about 5 min on 2 cores
    python tools/run_demo.py --seeds 0 1 2          # mean and spread over 3 seeds
    python tools/run_demo.py --noise-augment        # also the robustness remedy
    python tools/run_demo.py --tune-lambdas 0.1 0.2 0.4 0.8   # pick lambda on val
    python tools/run_demo.py --quick                # the CI variant, under 2 min
"""
import copy
import math
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

from dynmm_plugins.evaluation.noise import check_noise_level, check_noise_mode
from dynmm_plugins.utils.cli import ArgumentParser, argparse_type, check_output_dir, run_tool

PROG = 'run_demo.py'
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = dict(
    static='esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py',
    rgb_only='esanet/esanet_r18-nbt1d_rgb-only_1xb4-400it_synthetic-120x160.py',
    dynmm='dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py',
)
CONFIGS['dynmm_noise_aug'] = CONFIGS['dynmm']

#: Settings of the full demo and of --quick; any flag given overrides them.
PROFILES = dict(
    full=dict(out='work_dirs/demo', size=(64, 96), num_train=200, num_val=50, num_test=100,
              iters=300, finetune_iters=100, random_iters=100, gate_iters=100, routed_iters=100,
              lambdas=[0.2, 0.8], modes=[0, 1, 2], levels=[0.0, 0.5, 1.0],
              latency_images=20),
    quick=dict(out='work_dirs/demo_quick', size=(64, 96), num_train=12, num_val=6, num_test=8,
               iters=3, finetune_iters=3, random_iters=2, gate_iters=2, routed_iters=2,
               lambdas=[0.5, 2.0],
               modes=[1, 2], levels=[0.0, 1.0], latency_images=2),
)
DEMO_OPTIMIZER = dict(type='AdamW', lr=3e-3, weight_decay=1e-4)
#: Batch size of every run that starts from a checkpoint (the first phase: the configs' 4).
#: With BatchNorm's statistics fixed there, the batch sets only the gradient noise, and at 4
#: the three models' finetuned accuracy on the same scenes varied from seed to seed by
#: more than the 2 points the 'rgb'-scene target allows (README, "The demo").
FINETUNE_BATCH = 8
#: The gate phase trains the gate alone (the network frozen), so it can learn fast.
GATE_LR = 1e-2
#: DynMM's gate schedule in the gate phase, as shares of its iterations: soft gates
#: (temperature 1 -> 0.01) for the first 3/4, hard (straight-through) gates after.
GATE_HARD_FROM = 0.75
DATA_SEED = 0  # one data set for every training seed: the seeds vary the training only
#: The demo's set (dynmm_plugins/datasets/synthetic_rgbd.py): each kind of scene needs
#: exactly one modality, and the other one carries nothing about its objects.
SCENE_OPTIONS = dict(
    # the objects of 'rgb' scenes are flat prints: depth shows only wall and floor there
    rgb_scene_depth='background',
    # 'depth' scenes in a room at half the light: their RGB shows no object, only that
    # the scene is dim (so a model without depth can tell the kind of scene too)
    depth_scene_light=0.5,
    # 'depth' scenes hold only the three classes of distinct depth bands (one per band),
    # 'rgb' scenes all six (one colour each): depth tells every class of its scenes by
    # one coarse cue, which the demo's few hundred iterations learn
    scene_classes='by_kind',
)
#: Branch 0 runs on RGB alone: the stem fusion is gated like the stage fusions
#: (DynMMRGBDResNet's gated_stem_fusion), so "branch 0" means "no depth" as the routing
#: targets read it. The reference fuses depth's stem in every branch, branch 0 too; on this
#: set that stem fusion alone segments most of a 'depth' scene, so the gate had little
#: reason to pay for a depth stage there (README, "The demo").
GATED_STEM_FUSION = True


def median_frequency_weights(data: str, split: str = 'train') -> List[float]:
    """ESANet's class weights of the demo's training labels (tools/compute_class_weights.py's
    ``median_frequency``): freq_c = pixels of c / pixels of the images holding c,
    w_c = median(freq) / freq_c, in the order of the set's classes (NYUv2 ids ascending)."""
    import cv2
    import numpy as np

    from dynmm_plugins.datasets.synthetic_rgbd import FLOOR, OBJECT_CLASSES, WALL
    ids = sorted([WALL, FLOOR] + list(OBJECT_CLASSES))
    pixels, image_pixels = np.zeros(len(ids)), np.zeros(len(ids))
    with open(osp.join(data, f'{split}.txt')) as f:
        names = f.read().split()
    for name in names:
        labels = cv2.imread(osp.join(data, split, 'labels_40', f'{name}.png'), cv2.IMREAD_UNCHANGED)
        counts = np.array([(labels == i).sum() for i in ids], dtype=np.float64)
        pixels += counts
        image_pixels += np.where(counts > 0, labels.size, 0)
    freq = pixels / np.maximum(image_pixels, 1)
    # a class absent from the split weighs 0, as in tools/compute_class_weights.py
    weights = np.where(freq > 0, np.median(freq[freq > 0]) / np.maximum(freq, 1e-12), 0.0)
    return [round(float(w), 4) for w in weights]


def config_path(name: str) -> str:
    """A config of this project: from the checkout, else from the installed package."""
    local = osp.join(REPO, 'mmseg_configs', name)
    if osp.isfile(local):
        return local
    import mmseg_configs
    return osp.join(osp.dirname(mmseg_configs.__file__), name)


def _size(text: str):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f'image size must be an integer, got {text!r}') from None
    if value < 32 or value % 32:
        raise ValueError(f'image size must be a multiple of 32 (the encoder stride), got {value}')
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f'lambda must be a number >= 0, got {text!r}')
    return value


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='tiny settings (CI, under 2 min): proves the pipeline, not DynMM')
    parser.add_argument('--out', default=None, help='work folder (default: work_dirs/demo, '
                                                   'work_dirs/demo_quick with --quick)')
    parser.add_argument('--data', default=None, help='synthetic data folder (default: OUT/data)')
    parser.add_argument('--size', nargs=2, type=argparse_type(_size, 'size'), default=None,
                        metavar=('H', 'W'), help='image size, multiples of 32 (default: 64 96)')
    parser.add_argument('--iters', type=int, default=None,
                        help="first training phase, static ESANet's, that every model "
                             'starts from (default: 300)')
    parser.add_argument('--finetune-iters', type=int, default=None,
                        help='second run of static ESANet and RGB-only; their third has '
                             '--routed-iters, so that every model trains as long, in as many '
                             'one-cycle runs (default: 100, batch 8 like every run after '
                             'the first)')
    parser.add_argument('--random-iters', type=int, default=None,
                        help="DynMM's network phase: static ESANet's first phase finetuned with "
                             'uniformly random branches, so that every branch works (default: 100)')
    parser.add_argument('--gate-iters', type=int, default=None,
                        help="DynMM's gate phase: the gate alone trained with the resource loss, "
                             'network frozen; soft gates, then hard (default: 100)')
    parser.add_argument('--routed-iters', type=int, default=None,
                        help="DynMM's last phase: the network finetuned under the chosen gate's "
                             'hard decisions, the gate fixed (default: 100)')
    parser.add_argument('--num-train', type=int, default=None, help='training images (default: 200)')
    parser.add_argument('--num-val', type=int, default=None, help='validation images (default: 50)')
    parser.add_argument('--num-test', type=int, default=None, help='test images (default: 100)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0],
                        help='training seeds; several give mean and spread (default: 0)')
    parser.add_argument('--lambda', dest='loss_ratio', type=argparse_type(_positive_float, 'lambda'),
                        default=None, help="DynMM's resource-loss weight, fixed (no tuning)")
    parser.add_argument('--tune-lambdas', '--lambdas', dest='lambdas', nargs='+',
                        type=argparse_type(_positive_float, 'lambda'), default=None,
                        help='lambdas to train the gate with; each seed picks one on the val '
                             'split (default: 0.2 0.8)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='processes, one thread each: several seeds run side by side; '
                             "with one seed at a time, static ESANet's and RGB-only's "
                             "finetuning runs train beside DynMM's "
                             '(default: 2, for 2 cores; 1: everything in this process)')
    parser.add_argument('--noise-augment', action='store_true',
                        help='also train DynMM with depth-noise augmentation (robustness remedy)')
    parser.add_argument('--modes', nargs='+', type=argparse_type(check_noise_mode, 'mode'),
                        default=None, help='robustness noise modes: 0 RGB, 1 depth, 2 either '
                                           '(default: 0 1 2)')
    parser.add_argument('--levels', nargs='+', type=argparse_type(check_noise_level, 'level'),
                        default=None, help='robustness noise levels in [0, 1] (default: 0 0.5 1)')
    parser.add_argument('--num-runs', type=int, default=1, help='robustness runs (default: 1)')
    parser.add_argument('--latency-images', type=int, default=None,
                        help='test images timed at batch 1 (default: 20)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads, fixed so that the numbers do not depend on the '
                             'machine (default: 1; more threads change float rounding, and on a '
                             'busy machine they wait for each other)')
    parser.add_argument('--reuse', action='store_true',
                        help='keep checkpoints of an earlier run with the same settings')
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must differ from each other, got {args.seeds}')
    if any(s < 0 for s in args.seeds):
        parser.error(f'--seeds must be >= 0, got {args.seeds}')
    if args.lambdas is not None and args.loss_ratio is not None:
        parser.error('--lambda and --tune-lambdas exclude each other')
    profile = PROFILES['quick' if args.quick else 'full']
    for key, value in profile.items():
        if getattr(args, key) is None:
            setattr(args, key, copy.deepcopy(value))
    if args.loss_ratio is not None:
        args.lambdas = [args.loss_ratio]
    args.class_weight = None  # main() sets it from the training labels
    args.lambdas = sorted(set(args.lambdas))
    args.size = tuple(args.size)
    for name in ('iters', 'finetune_iters', 'random_iters', 'gate_iters', 'routed_iters',
                 'num_train', 'num_val',
                 'num_test', 'num_runs', 'latency_images', 'threads', 'jobs'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def _step(text: str) -> None:
    print(f'\n== {text}', flush=True)


def set_reproducible(threads: int) -> None:
    """Fixed thread count and deterministic algorithms: the numbers then depend on the seed only."""
    import torch
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (e.g. an earlier call in this process)
    torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------------------- training
def set_dynmm_phase(cfg, phase: str, iters: int) -> None:
    """Set a DynMM config up for one of the demo's three phases of ``iters`` iterations.

    ``'random'``: every iteration takes uniformly random branches (DynMM's initial
    phase, stretched over the whole phase) and the whole network trains, so that
    every branch, not only the full one static ESANet trained, segments well.
    ``'gate'``: the gate alone trains (DynMM's ``--freeze``), soft gates whose
    temperature decays 1 -> 0.01 for the first ``GATE_HARD_FROM`` of the
    iterations, hard gates after; with the network fixed, the gate learns which
    branch each image needs instead of the network adapting to the gate's choices.
    ``'routed'``: the gate (and the stems it reads) fixed, the rest of the network
    trains under its hard decisions (the segmentor's ``freeze_gate``), so that each
    branch trains on the images routed to it rather than on random ones; the
    routing stays the one the gate phase learnt.
    """
    if phase not in ('random', 'gate', 'routed'):
        raise ValueError(f"phase must be 'random', 'gate' or 'routed', got {phase!r}")
    for hook in cfg.get('custom_hooks', None) or []:
        if hook['type'] == 'DynMMGateScheduleHook':
            epochs = iters / hook['iters_per_epoch']
            if phase == 'random':
                hook.update(epoch_ini=epochs, epoch_hard=epochs)
            elif phase == 'gate':
                # the hook steps once per whole epoch
                hook.update(epoch_ini=0, epoch_hard=max(1, math.floor(GATE_HARD_FROM * epochs)))
            else:
                hook.update(epoch_ini=0, epoch_hard=0)  # hard gates throughout
    cfg.model['freeze_all_but_gate'] = phase == 'gate'
    # the gate compares the branches as they run (each on its own), not a blend of them
    cfg.model['gate_loss'] = 'expected' if phase == 'gate' else 'mixed'
    cfg.model['freeze_gate'] = phase == 'routed'


class Trainer:
    """Trains the demo's models for one seed, reusing checkpoints with --reuse."""

    def __init__(self, args, data: str, work: str, seed: int):
        self.args, self.data, self.work, self.seed = args, data, work, seed
        self.times: Dict[str, float] = {}
        self.done: Dict[str, str] = {}  # checkpoints trained by this process, by name

    def config(self, key: str, iters: int, work_dir: str, load_from: Optional[str] = None,
               loss_ratio: Optional[float] = None, phase: Optional[str] = None,
               lr: Optional[float] = None):
        from dynmm_plugins.apis.training import synthetic_train_config
        # the second phase starts its own optimiser: no need to store this one
        options = {'default_hooks.checkpoint.save_optimizer': False}
        if loss_ratio is not None:
            options['model.loss_resource.loss_weight'] = loss_ratio
        cfg = synthetic_train_config(config_path(CONFIGS[key]), self.data, work_dir, iters,
                                     batch_size=FINETUNE_BATCH if load_from else None,
                                     size=self.args.size, load_from=load_from, seed=self.seed,
                                     deterministic=True, cfg_options=options)
        # The configs' SGD (ESANet's NYUv2 optimiser) needs thousands of iterations;
        # AdamW learns the synthetic scenes within the demo's few hundred.
        cfg.optim_wrapper.optimizer = dict(DEMO_OPTIMIZER, lr=lr or DEMO_OPTIMIZER['lr'])
        cfg.model.backbone['gated_stem_fusion'] = GATED_STEM_FUSION
        # Every run that starts from a checkpoint finetunes with BatchNorm's statistics
        # fixed: a batch of 4 mixes dim and bright scenes at random, so its statistics
        # swing, and a network finetuned on them does worse with the running statistics
        # it is tested with (README, "The demo"). The gate phase is left alone: its
        # network is in eval mode anyway, and the new gate's own BatchNorm must learn.
        cfg.model['norm_eval'] = load_from is not None and phase != 'gate'
        if self.args.class_weight is not None:
            # ESANet's loss: cross-entropy weighted by the classes' median frequency
            cfg.model.decode_head['loss_decode'] = dict(
                type='ESANetCrossEntropyLoss', class_weight=list(self.args.class_weight),
                loss_weight=1.0)
        for scheduler in cfg.param_scheduler:
            if scheduler['type'] == 'OneCycleLR':
                scheduler['eta_max'] = lr or DEMO_OPTIMIZER['lr']
        if phase is not None:
            set_dynmm_phase(cfg, phase, iters)
        return cfg

    def train(self, key: str, name: str, iters: int, load_from: Optional[str] = None,
              loss_ratio: Optional[float] = None, hooks=(), phase: Optional[str] = None,
              lr: Optional[float] = None) -> str:
        from dynmm_plugins.apis.training import train
        if name in self.done:
            return self.done[name]
        work_dir = osp.join(self.work, name)
        checkpoint = osp.join(work_dir, f'iter_{iters}.pth')
        if self.args.reuse and osp.isfile(checkpoint):
            print(f'  reusing {osp.relpath(checkpoint)}')
            return checkpoint
        cfg = self.config(key, iters, work_dir, load_from, loss_ratio, phase, lr)
        start, cpu = time.time(), time.process_time()
        checkpoint = train(cfg, progress=f'{name} (seed {self.seed})', hooks=hooks)
        self.times[name] = round(time.time() - start, 1)
        self.times[name + '_cpu'] = round(time.process_time() - cpu, 1)
        print(f'  {name}: {iters} iterations in {self.times[name]:.0f} s '
              f'({self.times[name + "_cpu"]:.0f} s CPU)')
        self.done[name] = checkpoint
        return checkpoint

    def pretrained(self) -> str:
        """The first phase every model starts from: static ESANet's ITERS iterations."""
        return self.train('static', 'static_phase1', self.args.iters)

    def dynmm_network(self) -> str:
        """DynMM's network phase: static ESANet's first phase, finetuned on random branches."""
        return self.train('dynmm', 'dynmm_random', self.args.random_iters,
                          self.pretrained(), phase='random')

    def _hooks(self, key: str) -> list:
        from dynmm_plugins.apis.training import DepthNoiseAugmentHook
        return [DepthNoiseAugmentHook(seed=self.seed)] if key == 'dynmm_noise_aug' else []

    def gate(self, key: str, loss_ratio: float) -> str:
        """DynMM's gate phase: from :meth:`dynmm_network` (every lambda from the same
        network), the gate alone trained with the resource loss weighted by
        ``loss_ratio``; ``'dynmm_noise_aug'`` adds depth noise to its images."""
        return self.train(key, f'{key}_lambda{loss_ratio:g}', self.args.gate_iters,
                          self.dynmm_network(), loss_ratio, self._hooks(key), phase='gate',
                          lr=GATE_LR)

    def finetuned(self, key: str, loss_ratio: Optional[float] = None) -> str:
        """The final model ``key``: static/rgb_only after their second and third phases
        (FINETUNE_ITERS, then ROUTED_ITERS: as many iterations in as many one-cycle runs
        as DynMM's network gets); DynMM after its gate phase (:meth:`gate`) and then its
        network finetuned under that gate's fixed hard decisions (the same depth noise
        for ``'dynmm_noise_aug'``)."""
        if key in ('static', 'rgb_only'):
            second = self.train(key, f'{key}_phase2', self.args.finetune_iters,
                                self.pretrained())
            return self.train(key, key, self.args.routed_iters, second)
        return self.train(key, f'{key}_lambda{loss_ratio:g}_routed', self.args.routed_iters,
                          self.gate(key, loss_ratio), loss_ratio, self._hooks(key),
                          phase='routed')


# ---------------------------------------------------------------------------- evaluation
def split_dataloader(cfg, split: str):
    """The config's test dataloader on another split of the same data root."""
    from mmengine.runner import Runner
    loader = copy.deepcopy(cfg.test_dataloader)
    loader['dataset']['split'] = split
    loader.update(num_workers=0, persistent_workers=False)
    return Runner.build_dataloader(loader)


class Evaluated:
    """A trained model with its config and test/val dataloaders and evaluators."""

    def __init__(self, trainer: Trainer, key: str, checkpoint: str, loss_ratio=None):
        from dynmm_plugins.apis.model_loading import build_model
        from dynmm_plugins.evaluation.test_loop import build_evaluator
        self.key = key
        self.cfg = trainer.config(key, 1, osp.join(trainer.work, 'eval'), loss_ratio=loss_ratio)
        self.model = build_model(self.cfg, checkpoint, config_name=f'config {CONFIGS[key]}')
        self.loaders = {split: split_dataloader(self.cfg, split) for split in ('val', 'test')}
        self.evaluator = {s: build_evaluator(self.cfg, d) for s, d in self.loaders.items()}

    def kind_evaluator(self, split: str):
        from dynmm_plugins.evaluation.test_loop import build_evaluator
        return lambda: build_evaluator(self.cfg, self.loaders[split])

    def clean(self, split: str) -> dict:
        from dynmm_plugins.evaluation.robustness import robustness_eval
        return robustness_eval(self.model, self.loaders[split], self.evaluator[split], -1, 0.0, 1,
                               label=self.key, kind_evaluator=self.kind_evaluator(split))

    def sweep(self, modes, levels, num_runs) -> List[dict]:
        from dynmm_plugins.evaluation.robustness import robustness_sweep
        return robustness_sweep([(self.key, self.model)], self.loaders['test'],
                                self.evaluator['test'], [-1] + list(modes), levels, num_runs,
                                kind_evaluator=self.kind_evaluator('test'))


#: The compute target the lambda choice works within: DynMM's realised GFLOPs at most this
#: share of static ESANet's (the issue's target; on the val split when choosing).
GFLOPS_TARGET = 0.8


def pick_lambda(static_gflops: float, candidates: Dict[float, dict]) -> float:
    """The val-split rule: the most accurate lambda within the compute target on val.

    ``candidates`` maps lambda to :func:`~dynmm_plugins.visualization.demo_report.model_record`
    on the val split (after the gate phase). Among the lambdas whose val GFLOPs per
    image are at most ``GFLOPS_TARGET`` x ``static_gflops`` (static ESANet's per
    image), the one with the highest val mIoU (ties: the cheaper); with none within
    the target, the cheapest. Accuracy within a compute budget is what a DynMM user
    asks of lambda.
    """
    budget = GFLOPS_TARGET * static_gflops
    within = {lam: r for lam, r in candidates.items() if r['gflops_per_image'] <= budget}
    if within:
        return max(within, key=lambda lam: (within[lam]['miou'], -within[lam]['gflops_per_image']))
    return min(candidates, key=lambda lam: (candidates[lam]['gflops_per_image'], -candidates[lam]['miou']))


def tune_lambda(args, trainer: Trainer) -> dict:
    """Train DynMM's gate with every lambda of ``args.lambdas`` and choose one on the val split.

    The gate phases all start from the same network (:meth:`Trainer.dynmm_network`),
    so each candidate costs one short gate phase and a pass over the val images.
    """
    from dynmm_plugins.apis.model_loading import build_model
    from dynmm_plugins.visualization.demo_report import model_record
    # static ESANet runs its whole network on every image: its cost needs no weights, so
    # the choice need not wait for its training (which may run in another process)
    static_gflops = build_model(trainer.config('static', 1, osp.join(trainer.work, 'eval'))
                                ).branch_costs()['total'][-1]
    candidates = {}
    for lam in args.lambdas:
        ev = Evaluated(trainer, 'dynmm', trainer.gate('dynmm', lam), lam)
        candidates[lam] = model_record(ev.clean('val'))
        kinds = candidates[lam]['depth_branch_fraction_by_scene_kind']
        print(f'  lambda {lam:g}: val mIoU {candidates[lam]["miou"]:.2f}, '
              f'{candidates[lam]["gflops_per_image"]:.3f} GFLOPs/image (static '
              f'{static_gflops:.3f}), '
              f"depth branches: 'depth' scenes {100 * kinds.get('depth', 0):.0f}%, 'rgb' scenes "
              f"{100 * kinds.get('rgb', 0):.0f}%")
    chosen = pick_lambda(static_gflops, candidates)
    print(f'  seed {trainer.seed}: lambda {chosen:g}' + (' (chosen on val)' if len(candidates) > 1 else ''))
    return dict(rule=f'most accurate lambda on val (after the gate phase) among those within '
                     f'{GFLOPS_TARGET}x static ESANet\'s val GFLOPs (else the cheapest)',
                split='val', seed=trainer.seed, chosen=chosen,
                static_gflops_per_image=static_gflops,
                candidates={f'{k:g}': v for k, v in candidates.items()})


def example_rows(evaluated: Dict[str, 'Evaluated'], per_kind: int = 2) -> List[dict]:
    """A few test scenes of each kind with every model's prediction and DynMM's branch."""
    import cv2
    import numpy as np
    import torch
    from mmengine.dataset import pseudo_collate

    from dynmm_plugins.visualization.demo_report import MODEL_NAMES
    dataset = evaluated['static'].loaders['test'].dataset
    picked = {}
    for i in range(len(dataset)):
        kind = dataset.get_data_info(i).get('scene_kind')
        if kind is not None and len(picked.setdefault(kind, [])) < per_kind:
            picked[kind].append(i)
    rows = []
    for kind in ('rgb', 'depth'):
        for index in picked.get(kind, []):
            info = dataset.get_data_info(index)
            rgb = cv2.cvtColor(cv2.imread(info['img_path']), cv2.COLOR_BGR2RGB)
            depth = cv2.imread(info['depth_path'], cv2.IMREAD_UNCHANGED).astype(np.float32)
            row = dict(label=f"'{kind}' scene", rgb=rgb, depth=depth, predictions=[])
            for key in ('rgb_only', 'static', 'dynmm'):
                if key not in evaluated:
                    continue
                ev = evaluated[key]
                item = ev.loaders['test'].dataset[index]
                with torch.no_grad():
                    data = ev.model.data_preprocessor(pseudo_collate([item]), False)
                    result = ev.model.predict(data['inputs'], data['data_samples'])[0]
                row['gt'] = result.gt_sem_seg.data[0].numpy()
                title = MODEL_NAMES[key]
                if key == 'dynmm':
                    title += f' (branch {int(ev.model.last_gate_weights.argmax(1)[0])})'
                row['predictions'].append((title, result.pred_sem_seg.data[0].numpy()))
            rows.append(row)
    return rows


def branch_curve(ev: 'Evaluated') -> List[tuple]:
    """(GFLOPs, mIoU, 'branch k') of DynMM with every test image forced onto branch k."""
    from dynmm_plugins.evaluation.test_loop import evaluate
    points = []
    for branch in range(ev.model.num_branches):
        with ev.model.gate_override('fixed', branch=branch):
            result = evaluate(ev.model, ev.loaders['test'], ev.evaluator['test'])
        points.append((result['routing']['gflops_per_image'], result['mIoU'], f'branch {branch}'))
    return points


#: Compute targets of the accuracy-compute curve, as fractions of the full branch's GFLOPs
#: per image: the inference compute knob (a gate bias, calibrated on val) moves DynMM there.
KNOB_FRACTIONS = (0.6, 0.7, 0.8, 0.9, 1.0)


def knob_curve(ev: 'Evaluated') -> List[dict]:
    """DynMM on test under the compute knob, calibrated on val for each of ``KNOB_FRACTIONS``
    (``tools/calibrate_budget.py``'s calibration): its target, tau, GFLOPs and mIoU."""
    from dynmm_plugins.evaluation.budget import calibrate, collect_gate_logits
    from dynmm_plugins.evaluation.test_loop import evaluate
    model = ev.model
    logits, costs = collect_gate_logits(model, ev.loaders['val'])
    points = []
    saved = model.gate_bias.tolist()
    try:
        for fraction in KNOB_FRACTIONS:
            budget = calibrate(model, logits, costs, target_fraction=fraction)
            model.set_gate_bias(budget['gate_bias'])
            result = evaluate(model, ev.loaders['test'], ev.evaluator['test'])
            points.append(dict(target_fraction=fraction, tau=budget['tau'],
                               val_gflops_per_image=budget['realised_gflops'],
                               gflops_per_image=result['routing']['gflops_per_image'],
                               miou=result['mIoU']))
    finally:
        model.set_gate_bias(saved)
    return points


def train_in_process(args, data: str, seed: int, keys: Sequence[str], done: Dict[str, str]):
    """The finetuning runs of the models ``keys`` (not DynMM) in a worker process, from the
    checkpoints ``done`` already trained (the shared first phase): (checkpoints, times)."""
    set_reproducible(args.threads)
    trainer = Trainer(args, data, osp.join(osp.abspath(args.out), f'seed{seed}'), seed)
    trainer.done.update(done)
    return {k: trainer.finetuned(k) for k in keys}, trainer.times


def run_seed(args, data: str, seed: int, keys: Sequence[str], first: bool,
             report_dir: str, parallel_models: bool = False) -> dict:
    """Train (lambda tuned on val), evaluate, sweep and time every model for one seed.

    With ``parallel_models`` the finetuning runs of static ESANet and RGB-only go to a
    second process once the shared first phase is trained, beside DynMM's phases
    here; every training run seeds itself, so the numbers are the same either way.
    """
    import torch

    from dynmm_plugins.analysis.latency import latency_per_image, load_average
    from dynmm_plugins.visualization.demo_report import model_record
    trainer = Trainer(args, data, osp.join(osp.abspath(args.out), f'seed{seed}'), seed)
    times = {}
    _step(f'seed {seed}: training (static ESANet and RGB-only {args.iters} + '
          f'{args.finetune_iters} + {args.routed_iters} iterations; DynMM {args.iters} + {args.random_iters} random '
          f'branches + {args.gate_iters} gate, lambda from {args.lambdas} chosen on val, + '
          f'{args.routed_iters} under the chosen gate)')
    t, cpu = time.time(), time.process_time()
    checkpoints, pending = {}, None
    trainer.pretrained()  # every model starts from it
    baselines = [k for k in keys if not k.startswith('dynmm')]
    if parallel_models:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        worker = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'))
        pending = worker.submit(train_in_process, args, data, seed, baselines, dict(trainer.done))
    else:
        checkpoints.update({k: trainer.finetuned(k) for k in baselines})
    tuning = tune_lambda(args, trainer)
    loss_ratio = tuning['chosen']
    checkpoints.update({k: trainer.finetuned(k, loss_ratio) for k in keys if k.startswith('dynmm')})
    if pending is not None:
        worker_checkpoints, worker_times = pending.result()
        worker.shutdown()
        checkpoints.update(worker_checkpoints)
        trainer.times.update(worker_times)
    checkpoints = {k: checkpoints[k] for k in keys}
    times['train_s'] = round(time.time() - t, 1)
    times['train_cpu_s'] = round(time.process_time() - cpu, 1)
    times['train_by_model_s'] = dict(trainer.times)

    _step(f'seed {seed}: evaluating on val and test, robustness sweep')
    t, cpu = time.time(), time.process_time()
    evaluated = {k: Evaluated(trainer, k, checkpoints[k], loss_ratio if k.startswith('dynmm') else None)
                 for k in keys}
    val = {k: model_record(ev.clean('val')) for k, ev in evaluated.items()}
    sweep = []
    for key, ev in evaluated.items():
        rows = ev.sweep(args.modes, args.levels, args.num_runs)
        sweep += rows
        clean = rows[0]
        print(f'  {key}: test mIoU {clean["miou_mean"]:.2f} ('
              + ', '.join(f"'{k}' {v:.2f}" for k, v in clean.get('miou_by_scene_kind', {}).items())
              + f'), {clean["routing"]["gflops_per_image"]:.3f} GFLOPs/image')
    times['evaluate_s'] = round(time.time() - t, 1)
    times['evaluate_cpu_s'] = round(time.process_time() - cpu, 1)

    t = time.time()
    inputs = []
    static = evaluated['static']
    for batch in static.loaders['test']:
        inputs += list(static.model.data_preprocessor(batch, False)['inputs'].split(1))
        if len(inputs) >= args.latency_images:
            break
    load_before = load_average()
    latency = latency_per_image({k: ev.model for k, ev in evaluated.items()},
                                inputs[:args.latency_images])
    times['latency_s'] = round(time.time() - t, 1)
    clean_rows = {r['model']: r for r in sweep if r['mode'] == -1}
    models = {k: model_record(clean_rows[k], latency[k]['median_ms']) for k in keys}
    extra = {}
    if first:
        t = time.time()
        from dynmm_plugins.visualization.report import plot_segmentation_examples
        classes = list(static.loaders['test'].dataset.metainfo['classes'])
        extra['examples_png'] = plot_segmentation_examples(
            example_rows(evaluated), osp.join(report_dir, 'examples.png'), classes,
            f'Test scenes (seed {seed}): predictions and the branch DynMM chose')
        extra['branch_curve'] = branch_curve(evaluated['dynmm'])
        extra['knob_curve'] = knob_curve(evaluated['dynmm'])
        times['examples_s'] = round(time.time() - t, 1)
    return dict(seed=seed, models=models, val=val, robustness=sweep, latency=latency,
                checkpoints=checkpoints, times=times, load_average=load_before,
                tuning=tuning, loss_ratio=loss_ratio, torch_threads=torch.get_num_threads(),
                **extra)


def run_seed_process(args, data: str, seed: int, keys: Sequence[str], first: bool,
                     report_dir: str) -> dict:
    """:func:`run_seed` in a worker process of ``--jobs``: same threads, same determinism."""
    set_reproducible(args.threads)
    return run_seed(args, data, seed, keys, first, report_dir)


def run_seeds(args, data: str, keys: Sequence[str], report_dir: str) -> List[dict]:
    """:func:`run_seed` for every seed, ``--jobs`` of them at a time in their own processes."""
    jobs = [(args, data, seed, keys, i == 0, report_dir) for i, seed in enumerate(args.seeds)]
    if args.jobs == 1 or len(jobs) == 1:
        # one seed at a time: its RGB-only model may still train beside the others
        return [run_seed(*job, parallel_models=args.jobs > 1) for job in jobs]
    import multiprocessing
    # spawn: a fresh interpreter per worker, no torch state inherited by fork
    with multiprocessing.get_context('spawn').Pool(min(args.jobs, len(jobs))) as pool:
        return pool.starmap(run_seed_process, jobs)


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished worker processes."""
    import resource
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


# ---------------------------------------------------------------------------- report
def routing_summary(record: dict) -> dict:
    """A RoutingRecorder-like summary (for the routing plot) from an aggregated record."""
    def describe(histogram):
        total = max(sum(histogram), 1)
        fractions = [c / total for c in histogram]
        return dict(branch_histogram=histogram, branch_fractions=fractions,
                    mean_branch=sum(i * f for i, f in enumerate(fractions)))
    out = describe(record['branch_histogram'])
    out['by_scene_kind'] = {k: describe(h) for k, h in record['branch_histogram_by_scene_kind'].items()}
    return out


def write_report(args, report_dir: str, per_seed: List[dict], data: str, start: float) -> dict:
    import torch

    from dynmm_plugins.visualization.demo_report import (
        MODEL_NAMES,
        aggregate_records,
        all_finite,
        check_targets,
        format_summary,
        mean_robustness_rows,
        robustness_drops,
    )
    from dynmm_plugins.visualization.report import (
        plot_accuracy_compute,
        plot_branch_histograms,
        plot_robustness_panels,
        write_json,
        write_robustness_csv,
    )
    keys = list(per_seed[0]['models'])
    models = {k: aggregate_records([s['models'][k] for s in per_seed]) for k in keys}
    val = {k: aggregate_records([s['val'][k] for s in per_seed]) for k in keys}
    targets = check_targets(models)
    targets_per_seed = {s['seed']: check_targets(s['models']) for s in per_seed}
    # the same targets on the split that tuning looks at (no latency: timed on test only)
    validation_targets_per_seed = {s['seed']: check_targets(s['val']) for s in per_seed}
    sweep = mean_robustness_rows([s['robustness'] for s in per_seed])
    drops = robustness_drops(sweep)
    names = {k: MODEL_NAMES[k] for k in keys}
    files = dict(
        robustness_csv=write_robustness_csv(sweep, osp.join(report_dir, 'robustness.csv')),
        robustness_json=write_json(dict(rows=sweep, per_seed=[s['robustness'] for s in per_seed],
                                        drops=drops), osp.join(report_dir, 'robustness.json')),
        robustness_png=plot_robustness_panels(
            sweep, osp.join(report_dir, 'robustness.png'), names,
            f'Synthetic RGB-D: mIoU under noise (mean over {len(per_seed)} seed(s))'),
        routing_png=plot_branch_histograms(
            {names[k]: routing_summary(models[k]) for k in keys if k.startswith('dynmm')},
            osp.join(report_dir, 'routing.png'), "Where DynMM's gate sends each scene kind (test)"),
        examples_png=per_seed[0].get('examples_png'))
    first = per_seed[0]
    if first.get('branch_curve'):
        m0 = first['models']
        points = {'DynMM forced onto one branch': first['branch_curve'],
                  'DynMM, compute knob calibrated on val': [
                      (p['gflops_per_image'], p['miou'], f"{100 * p['target_fraction']:g}%")
                      for p in first['knob_curve']]}
        for k in keys:
            points[MODEL_NAMES[k]] = [(m0[k]['gflops_per_image'], m0[k]['miou'], '')]
        files['accuracy_compute_png'] = plot_accuracy_compute(
            points, osp.join(report_dir, 'accuracy_compute.png'),
            f'Test mIoU vs realised compute (seed {first["seed"]})')
    total = time.time() - start
    total_cpu = cpu_seconds()
    lambdas = {s['seed']: s['loss_ratio'] for s in per_seed}
    notes = [f'{len(per_seed)} seed(s) {[s["seed"] for s in per_seed]}: numbers are means'
             + (' +- population std over seeds' if len(per_seed) > 1 else ''),
             f'every model starts from static ESANet\'s first {args.iters} iterations at '
             f'{args.size[0]}x{args.size[1]} (batch 4), then (batch {FINETUNE_BATCH}, BatchNorm '
             f'statistics fixed) static ESANet and RGB-only + {args.finetune_iters} + '
             f'{args.routed_iters}; DynMM + {args.random_iters} on random branches, + '
             f'{args.gate_iters} training the gate alone, + {args.routed_iters} training the network '
             f'under the gate\'s fixed decisions; branch 0 is RGB alone; lambda per seed {lambdas}'
             + (f' (chosen on the val split from {args.lambdas})' if len(args.lambdas) > 1 else ''),
             f'data: {args.num_train} train / {args.num_val} val / {args.num_test} test images '
             f'(half of each split \'depth\' scenes), seed {DATA_SEED}',
             f'wall time {total:.0f} s ({total_cpu:.0f} s CPU); torch {torch.__version__}, {args.threads} threads, '
             f'deterministic algorithms; load average at the start of timing '
             f'{first["load_average"]}']
    summary = dict(
        models=models, targets=targets, all_targets_passed=all(t['passed'] for t in targets),
        targets_per_seed=targets_per_seed, validation=val,
        validation_targets_per_seed=validation_targets_per_seed,
        tuning={s['seed']: s['tuning'] for s in per_seed}, loss_ratio=lambdas,
        robustness=dict(drops=drops, rows=sweep), seeds=[s['seed'] for s in per_seed],
        settings={k: v for k, v in vars(args).items()}, data=data,
        configs={k: config_path(CONFIGS[k]) for k in keys},
        checkpoints={s['seed']: s['checkpoints'] for s in per_seed},
        times=dict(total_s=round(total, 1), total_cpu_s=round(total_cpu, 1), per_seed={s['seed']: s['times'] for s in per_seed}),
        machine=dict(torch=torch.__version__, threads=args.threads,
                     load_average=[s['load_average'] for s in per_seed]),
        latency={s['seed']: s['latency'] for s in per_seed}, files=files,
        # seed 0's DynMM under the inference compute knob: calibrated on val, tested on test
        compute_knob=dict(seed=first['seed'], calibrated_on='val', evaluated_on='test',
                          points=first.get('knob_curve', [])))
    summary['all_numbers_finite'] = all_finite(dict(models=models, targets=targets, drops=drops))
    md = format_summary(models, targets, drops, markdown=True, notes=notes)
    images = [f'![{n}]({n}.png)' for n in ('robustness', 'routing', 'examples', 'accuracy_compute')
              if files.get(f'{n}_png')]
    with open(osp.join(report_dir, 'summary.md'), 'w') as f:
        f.write('# DynMM demo on the synthetic RGB-D set\n\n' + md + '\n\n' + '\n\n'.join(images) + '\n')
    files['summary_md'] = osp.join(report_dir, 'summary.md')
    files['summary_json'] = write_json(summary, osp.join(report_dir, 'summary.json'))
    print('\n' + format_summary(models, targets, drops, notes=notes))
    print('\nwrote ' + ', '.join(osp.relpath(p) for p in files.values() if p))
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    check_output_dir(args.out, '--out')  # before minutes of training, not after
    start = time.time()
    set_reproducible(args.threads)
    from dynmm_plugins.visualization.demo_report import ensure_synthetic_data
    out = osp.abspath(args.out)
    data = osp.abspath(args.data or osp.join(out, 'data'))
    report_dir = osp.join(out, 'report')
    os.makedirs(report_dir, exist_ok=True)

    _step(f'synthetic RGB-D data in {data}')
    made = ensure_synthetic_data(data, args.num_train, args.num_test, seed=DATA_SEED,
                                 height=args.size[0], width=args.size[1], num_val=args.num_val,
                                 **SCENE_OPTIONS)
    print(f'  {"generated" if made else "found"} {args.num_train} train / {args.num_val} val / '
          f'{args.num_test} test images, {args.size[0]}x{args.size[1]}')

    args.class_weight = median_frequency_weights(data)
    print(f'  class weights (median frequency, train split): {args.class_weight}')

    keys = ['static', 'dynmm', 'rgb_only'] + (['dynmm_noise_aug'] if args.noise_augment else [])
    per_seed = run_seeds(args, data, keys, report_dir)
    write_report(args, report_dir, per_seed, data, start)
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
