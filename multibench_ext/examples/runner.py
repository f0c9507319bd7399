"""One runner for the six example scripts: ``<task>_uni``, ``<task>_mm``, ``<task>_dyn``.

Each script is a thin entry point naming itself; what differs between MM-IMDB and
CMU-MOSEI is in ``tasks.py``. Training and testing go through MultiBench's own
``unimodal`` / ``Supervised_Learning`` ``train`` and ``test``, called as MultiBench's
examples call them.
"""
import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional, Sequence, Tuple

import torch

from dynmm_plugins.utils.errors import run_entry_point

from ..checkpoints import load_module
from ..errors import SetupError
from ..modality_expert import ModalityExpert
from ..multibench import find_multibench_root, import_multibench
from .checkpoint_files import fresh_checkpoint, mm_checkpoint_name, require_saved
from .dyn_runner import run_dyn
from .environment import apply_device, seed_everything
from .evaluation import evaluate
from .flags import build_parser, check_args, check_json_out
from .flops import mflops
from .loaders import first_sample, multibench_layout
from .report import report
from .tasks import SCRIPTS, Task

PACKED_HELP = {'mm': 'packed batches (padded to the longest in the batch) instead of 50 padded steps',
               'dyn': 'packed batches; the late-fusion expert must come from {prefix}_mm --packed'}


def run_main(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run a script's ``main`` by the project's error convention: bad input is one line
    (``prog: error: message``) and exit code 2, no traceback unless ``--debug``."""
    return run_entry_point(main, argv)


def script_parser(script: str, doc: str) -> argparse.ArgumentParser:
    """The flags of ``script`` ('imdb_uni', ..., 'affect_dyn'); ``doc``'s first line describes it."""
    task, kind = SCRIPTS[script]
    parser = build_parser(script, doc.splitlines()[0], task.name, dyn=kind == 'dyn', **task.defaults[kind])
    if kind == 'mm':
        choices = sorted(task.fusions)
        parser.add_argument('--fuse', '--fusion', type=int, default=task.late_fusion, choices=choices,
                            help=', '.join(f'{k} {task.fusions[k].help}' for k in choices))
    if task.packable and kind in PACKED_HELP:
        parser.add_argument('--packed', action='store_true',
                            help=PACKED_HELP[kind].format(prefix=script.split('_')[0]))
    return parser


def script_entry(script: str, doc: str) -> Tuple[Callable[[], argparse.ArgumentParser],
                                                  Callable[[Optional[Sequence[str]]], int]]:
    """``build`` (the parser) and ``main(argv)`` of the entry point ``script``, described by ``doc``."""
    kind = SCRIPTS[script][1]
    what = {'uni': 'the text expert', 'mm': 'one multimodal network', 'dyn': 'the DynMM mixture'}[kind]

    def build() -> argparse.ArgumentParser:
        return script_parser(script, doc)

    def main(argv: Optional[Sequence[str]] = None) -> int:
        return run_script(script, build().parse_args(argv))

    build.__doc__ = 'The command-line parser.'
    main.__doc__ = f'Train (unless --eval-only) and test {what}.'
    return build, main


def setup(args: argparse.Namespace) -> SimpleNamespace:
    """Check flags, pick the device, import MultiBench, check the data file, create the log dir."""
    check_args(args)
    check_json_out(args.json_out)
    device = apply_device(args.device)
    mb = import_multibench(find_multibench_root(args.multibench_root))
    if not Path(args.data).is_file():
        raise SetupError(f'data file {args.data} not found: pass --data FILE (the MultiBench dataset file, or make '
                         'one with `python -m multibench_ext.synthetic --imdb FILE.hdf5 --mosei FILE.pkl`)')
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(mb=mb, device=device, log_dir=log_dir)


def run_script(script: str, args: argparse.Namespace) -> int:
    """Train (unless --eval-only) and test what ``script`` trains; report the metrics."""
    task, kind = SCRIPTS[script]
    env = setup(args)
    packed = bool(getattr(args, 'packed', False))
    loaders, source = task.loaders(args, packed)
    if kind == 'dyn':
        return run_dyn(args, env, script=script, task=task, loaders=loaders, source=source, packed=packed)
    run = run_uni if kind == 'uni' else run_mm
    return run(args, env, script, task, loaders, source, packed)


def run_uni(args, env, script: str, task: Task, loaders, source: str, packed: bool) -> int:
    """The text expert: MultiBench's ``unimodal.train`` / ``test``; writes encoder_text.pt, head_text.pt."""
    train_dl, valid_dl, test_dl = loaders
    encoder_file, head_file = env.log_dir / 'encoder_text.pt', env.log_dir / 'head_text.pt'
    how = f'python -m multibench_ext.examples.{script} --data {args.data} --log-dir {args.log_dir}'
    runs = []
    for run in range(args.n_runs):
        seed_everything(args.seed + run)
        if not args.eval_only:
            encoder, head = (m.to(env.device) for m in task.text_expert(env.mb))
            env.mb.unimodal.train(encoder, head, train_dl, valid_dl, args.n_epochs, early_stop=True,
                                  task=task.train_task, optimtype=torch.optim.AdamW, lr=args.lr,
                                  weight_decay=args.wd, criterion=task.loss(), modalnum=task.text,
                                  save_encoder=str(fresh_checkpoint(encoder_file)),
                                  save_head=str(fresh_checkpoint(head_file)))
            require_saved(head_file)
        expert = ModalityExpert(load_module(encoder_file, 'text encoder', how),
                                load_module(head_file, 'text head', how), task.text).to(env.device).eval()
        print(f'Testing {encoder_file} + {head_file}:')
        criterion = dict(criterion=task.loss()) if task.uni_test_loss else {}
        env.mb.unimodal.test(expert.encoder, expert.head, test_dl, **task.uni_test, **criterion,
                             task=task.test_task, modalnum=task.text, no_robust=True)
        metrics = evaluate(task.name, expert, test_dl, False, env.device)
        metrics.update(mflops_per_sample=mflops(expert, first_sample(test_dl, False, env.device)), branch_ratio=None)
        runs.append(metrics)
    return report(args, script, runs, data_loader=source)


def run_mm(args, env, script: str, task: Task, loaders, source: str, packed: bool) -> int:
    """One multimodal network (``--fuse``): MultiBench's ``Supervised_Learning.train`` / ``test``."""
    train_dl, valid_dl, test_dl = loaders
    fusion = task.fusions[args.fuse]
    lr = args.lr if args.lr is not None else fusion.lr
    checkpoint = env.log_dir / mm_checkpoint_name(task, args.fuse, packed)
    how = (f'python -m multibench_ext.examples.{script} --fuse {args.fuse}{" --packed" if packed else ""} '
           f'--data {args.data} --log-dir {args.log_dir}')
    runs = []
    for run in range(args.n_runs):
        seed_everything(args.seed + run)
        if not args.eval_only:
            encoders, fuse, head = fusion.build(env.mb)
            env.mb.supervised.train(encoders, fuse, head, train_dl, valid_dl, args.n_epochs, early_stop=True,
                                    task=task.train_task, optimtype=torch.optim.AdamW, lr=lr,
                                    weight_decay=args.wd, objective=task.loss(), is_packed=packed,
                                    save=str(fresh_checkpoint(checkpoint)))
            require_saved(checkpoint)
        model = load_module(checkpoint, f'{fusion.name} network', how).to(env.device).eval()
        print(f'Testing {checkpoint}:')
        env.mb.supervised.test(model, test_dl, dataset=task.name, method_name=fusion.name, is_packed=packed,
                               criterion=task.loss(), task=task.test_task, no_robust=True)
        metrics = evaluate(task.name, model, test_dl, packed, env.device)
        sample = multibench_layout(first_sample(test_dl, packed, env.device), packed)
        metrics.update(mflops_per_sample=mflops(model, sample), branch_ratio=None)
        runs.append(metrics)
    extra = dict(packed=packed) if task.packable else {}
    return report(args, script, runs, data_loader=source, fusion=fusion.name, **extra)
