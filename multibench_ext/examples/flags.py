"""The example scripts' command-line flags and the checks that reject bad values early."""
import argparse
import os
from pathlib import Path
from typing import Optional

import numpy as np

from dynmm_plugins.utils.errors import ArgumentParser

from ..errors import SetupError
from ..objective import COST_SCALES
from .tasks import TASKS

# --infer-mode: who picks each test sample's expert. Names, not numbers: the reference's
# numbering (0 = gate) would clash with the experts' indices (0 = text).
INFER_MODES = {'gate': None, 'text': 0, 'fusion': 1}


def build_parser(script: str, description: str, dataset: str, epochs: int, lr: Optional[float], wd: float,
                 dyn: bool = False, reg: float = 0.0) -> argparse.ArgumentParser:
    """The flags every script has, plus the DynMM ones for the ``*_dyn`` scripts."""
    task = TASKS[dataset]
    parser = ArgumentParser(prog=f'python -m multibench_ext.examples.{script}', description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add('--multibench-root', metavar='DIR',
        help='MultiBench clone (default: $MULTIBENCH_ROOT, else the working directory)')
    add('--data', default=task.data, metavar='FILE', help='the dataset file in MultiBench\'s format')
    add('--log-dir', default=task.log_dir, metavar='DIR', help='where checkpoints are written and read')
    add('--n-epochs', type=int, default=epochs, help='maximum epochs (MultiBench stops early after 8 epochs '
                                                     'without validation improvement)')
    add('--batch-size', type=int, default=task.batch_size)
    add('--lr', type=float, default=lr, help='AdamW learning rate' + ('' if lr is not None else
                                                                       ' (default: per fusion, as in MultiBench)'))
    add('--wd', type=float, default=wd, help='AdamW weight decay')
    add('--n-runs', type=int, default=1, help='train and test this many times (seeds --seed, --seed + 1, ...)')
    add('--seed', type=int, default=0)
    add('--device', default='auto', help="'auto' (MultiBench's choice: cuda:0 if available), 'cpu', 'cuda' "
                                         "or 'cuda:N'")
    add('--json-out', metavar='FILE', help='write the final metrics here as JSON')
    add('--preds-out', metavar='FILE.npz', help='write the test predictions and truths here (numpy .npz: '
                                                '`preds`, `truths`; see the README), so any metric can be '
                                                'recomputed')
    add('--limit', type=int, metavar='N', help='use only the first N samples of each split (quick runs)')
    add('--num-workers', type=int, default=0, help='DataLoader workers')
    add('--eval-only', action='store_true', help='skip training; test the checkpoint in --log-dir')
    if dyn:
        add('--freeze', action='store_true', help='freeze the experts, train only the gate')
        add('--hard-gate', action='store_true', help='hard (straight-through one-hot) gates during training')
        add('--reg', type=float, default=reg, help='weight lambda of the resource loss; with the default '
                                                   '--cost-scale the reference\'s: lambda x mean gate weight of '
                                                   'the late-fusion expert')
        add('--cost-scale', default='range', choices=COST_SCALES,
            help="expert costs in the resource loss: 'range' (cost - min) / (max - min), the reference's "
                 "meaning of --reg; 'max' cost / max (also penalises the text expert); 'none' raw MFLOPs")
        add('--temp', type=float, default=1.0, help='gate softmax temperature during training')
        add('--infer-mode', default='gate', choices=list(INFER_MODES),
            help='at test time: gate = the gate decides, text = always the text expert, '
                 'fusion = always the late-fusion expert')
        budget = parser.add_mutually_exclusive_group()
        budget.add_argument('--target-mflops', type=float, metavar='M',
                            help='with --eval-only: calibrate the gate bias on the valid split so that the '
                                 'mean MFLOPs per sample (gate included) is at most M, as close as possible')
        budget.add_argument('--target-fraction', type=float, metavar='F',
                            help="with --eval-only: the same, as a fraction of the late-fusion expert's "
                                 'MFLOPs (gate included), e.g. 0.7')
        add('--pareto', type=float, nargs='+', metavar='F',
            help='with --eval-only and --pareto-out: the accuracy-compute curve, one calibrated point per '
                 'fraction F (calibrated on valid, tested on test) next to each fixed expert')
        add('--pareto-out', metavar='DIR', help='where pareto.csv, pareto.json and pareto.png go')
    return parser


def check_args(args: argparse.Namespace) -> None:
    """Reject flag values that would fail far from where they were given."""
    for name in ('n_epochs', 'batch_size', 'n_runs'):
        if getattr(args, name) < 1:
            raise SetupError(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if args.limit is not None and args.limit < 1:
        raise SetupError(f'--limit must be >= 1, got {args.limit}')
    if getattr(args, 'temp', 1.0) <= 0:
        raise SetupError(f'--temp must be > 0, got {args.temp}')
    if getattr(args, 'reg', 0.0) < 0:
        raise SetupError(f'--reg must be >= 0, got {args.reg}')
    check_budget_args(args)


def check_budget_args(args: argparse.Namespace) -> None:
    """The compute-knob flags of the dyn scripts: only with --eval-only, finite and > 0."""
    target = getattr(args, 'target_mflops', None)
    fraction = getattr(args, 'target_fraction', None)
    pareto = getattr(args, 'pareto', None)
    for flag, value in (('--target-mflops', target), ('--target-fraction', fraction)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise SetupError(f'{flag} must be a finite number > 0, got {value}')
    if pareto is not None and not all(np.isfinite(f) and f > 0 for f in pareto):
        raise SetupError(f'--pareto fractions must be finite numbers > 0, got {pareto}')
    knob = [flag for flag, value in (('--target-mflops', target), ('--target-fraction', fraction),
                                     ('--pareto', pareto)) if value is not None]
    if knob and not args.eval_only:
        raise SetupError(f'{knob[0]} calibrates a trained checkpoint: add --eval-only (train first without it)')
    if knob and getattr(args, 'infer_mode', 'gate') != 'gate':
        raise SetupError(f'{knob[0]} biases the gate; --infer-mode {args.infer_mode} does not use it')
    if (pareto is None) != (getattr(args, 'pareto_out', None) is None):
        raise SetupError('--pareto and --pareto-out go together')
    if pareto is not None and (target is not None or fraction is not None):
        raise SetupError('--pareto calibrates its own targets; drop --target-mflops / --target-fraction')


def check_json_out(path: Optional[str]) -> None:
    """Fail before training, not after it, when ``--json-out`` cannot be written."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise SetupError(f'--json-out {path} is a folder; give a file name')
    parent = target.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK) or \
            (target.exists() and not os.access(target, os.W_OK)):
        raise SetupError(f'--json-out {path} cannot be written (no write permission in {parent} '
                         'or it is not a folder)')
