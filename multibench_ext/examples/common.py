"""What the six example scripts share: flags, MultiBench set-up, data, evaluation, the JSON report."""
import argparse
import importlib
import json
import os
import random
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from dynmm_plugins.core import count_macs
from dynmm_plugins.utils.errors import ArgumentParser, run_entry_point

from ..affect_data import get_affect_dataloaders
from ..errors import SetupError
from ..imdb_data import get_imdb_dataloaders
from ..metrics import affect_metrics, imdb_metrics, multilabel_predictions
from ..multibench import find_multibench_root, import_multibench
from ..objective import COST_SCALES
from ..synthetic import read_known_split

# Per dataset: default data file and log dir (relative to the working directory, as in the
# reference, which ran from the MultiBench root), MultiBench's batch size, the task.
DATASETS = {
    'imdb': dict(data='data/multimodal_imdb.hdf5', log_dir='log/imdb', batch_size=128),
    'mosei': dict(data='data/mosei_senti_data.pkl', log_dir='log/mosei', batch_size=32),
}
# --infer-mode: who picks each test sample's expert. Names, not numbers: the reference's
# numbering (0 = gate) would clash with the experts' indices (0 = text).
INFER_MODES = {'gate': None, 'text': 0, 'fusion': 1}

_notes = set()


def note_once(message: str) -> None:
    """Print ``message`` on stderr once per process."""
    if message not in _notes:
        _notes.add(message)
        print(f'multibench_ext: {message}', file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- flags
def build_parser(script: str, description: str, dataset: str, epochs: int, lr: Optional[float], wd: float,
                 dyn: bool = False, reg: float = 0.0) -> argparse.ArgumentParser:
    """The flags every script has, plus the DynMM ones for the ``*_dyn`` scripts."""
    defaults = DATASETS[dataset]
    parser = ArgumentParser(prog=f'python -m multibench_ext.examples.{script}', description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add('--multibench-root', metavar='DIR',
        help='MultiBench clone (default: $MULTIBENCH_ROOT, else the working directory)')
    add('--data', default=defaults['data'], metavar='FILE', help='the dataset file in MultiBench\'s format')
    add('--log-dir', default=defaults['log_dir'], metavar='DIR', help='where checkpoints are written and read')
    add('--n-epochs', type=int, default=epochs, help='maximum epochs (MultiBench stops early after 8 epochs '
                                                     'without validation improvement)')
    add('--batch-size', type=int, default=defaults['batch_size'])
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


def run_main(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run a script's ``main`` by the project's error convention: bad input is one line
    (``prog: error: message``) and exit code 2, no traceback unless ``--debug``."""
    return run_entry_point(main, argv)


# ----------------------------------------------------------------------------- set-up
def apply_device(device: str) -> torch.device:
    """Make MultiBench's device choice (cuda:0 if available) land on ``device``; return it.

    MultiBench's train and test pick ``cuda:0`` whenever CUDA is available, so the only way to
    steer them is to hide devices before CUDA starts.
    """
    if device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    elif device.startswith('cuda:') and device[5:].isdigit():
        os.environ['CUDA_VISIBLE_DEVICES'] = device[5:]
    elif device not in ('auto', 'cuda'):
        raise SetupError(f"--device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    available = torch.cuda.is_available()
    if device.startswith('cuda') and not available:
        raise SetupError(f'--device {device}: no CUDA device is available here; use --device cpu')
    return torch.device('cuda:0' if available else 'cpu')


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


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- data
def limit_loader(loader: DataLoader, limit: Optional[int], shuffle: bool) -> DataLoader:
    """``loader`` restricted to its dataset's first ``limit`` samples (same batch size and collate)."""
    if limit is None or limit >= len(loader.dataset):
        return loader
    return DataLoader(Subset(loader.dataset, range(limit)), batch_size=loader.batch_size, shuffle=shuffle,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn)


def _multibench_loader(module: str):
    try:
        return importlib.import_module(module).get_dataloader, None
    except Exception as exc:  # Theano, torchtext, gensim... fail in many ways
        return None, f'{type(exc).__name__}: {exc}'


def imdb_loaders(args: argparse.Namespace) -> Tuple[Tuple[DataLoader, DataLoader, DataLoader], str]:
    """MM-IMDB train/valid/test loaders from MultiBench's loader, else from ours; and which was used."""
    get_dataloader, why = _multibench_loader('datasets.imdb.get_data')
    if get_dataloader is None:
        note_once(f"MultiBench's MM-IMDB loader (datasets.imdb.get_data) does not import here ({why}); reading "
                  f'{args.data} with multibench_ext.imdb_data, which yields the same batches')
        return get_imdb_dataloaders(args.data, args.batch_size, args.num_workers, limit=args.limit), 'multibench_ext'
    loaders = get_dataloader(args.data, '', num_workers=args.num_workers, batch_size=args.batch_size, vgg=True,
                             no_robust=True)
    return tuple(limit_loader(dl, args.limit, i == 0) for i, dl in enumerate(loaders)), 'multibench'


def affect_loaders(args: argparse.Namespace, packed: bool) -> Tuple[Tuple[DataLoader, DataLoader, DataLoader], str]:
    """MOSEI loaders (packed, or padded to 50 steps) from MultiBench's loader, else from ours."""
    get_dataloader, why = _multibench_loader('datasets.affect.get_data')
    if get_dataloader is None:
        note_once(f"MultiBench's affect loader (datasets.affect.get_data) does not import here ({why}); reading "
                  f'{args.data} with multibench_ext.affect_data, which yields the same batches')
        return get_affect_dataloaders(args.data, args.batch_size, max_pad=not packed, num_workers=args.num_workers,
                                      limit=args.limit), 'multibench_ext'
    loaders = get_dataloader(args.data, batch_size=args.batch_size, max_pad=not packed, robust_test=False,
                             num_workers=args.num_workers, data_type='mosei')
    return tuple(limit_loader(dl, args.limit, i == 0) for i, dl in enumerate(loaders)), 'multibench'


def first_sample(loader: DataLoader, packed: bool, device: torch.device) -> List[Any]:
    """One sample of ``loader`` as a mixture input list: tensors, or ``[sequence, lengths]`` when packed."""
    batch = next(iter(loader))
    if packed:
        return [[x[:1].float().to(device), n[:1]] for x, n in zip(batch[0], batch[1])]
    return [x[:1].float().to(device) for x in batch[:-1]]


def multibench_layout(inputs: List[Any], packed: bool) -> List[Any]:
    """A mixture input list in MultiBench's MMDL layout (packed: ``[[sequences], [lengths]]``)."""
    if packed:
        return [[item[0] for item in inputs], [item[1] for item in inputs]]
    return list(inputs)


# ----------------------------------------------------------------------------- checkpoints
def fresh_checkpoint(path: Path) -> Path:
    """Remove an old checkpoint before training: MultiBench saves only on validation improvement."""
    if path.exists():
        path.unlink()
    return path


def require_saved(path: Path) -> None:
    """Fail clearly if MultiBench's train ended without saving (validation never improved)."""
    if not path.is_file():
        raise SetupError(f'training saved no checkpoint {path}: the validation metric never improved on its '
                         'starting value; train longer (--n-epochs) or change --lr')


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(model: Callable[[List[Any]], torch.Tensor], loader: DataLoader, packed: bool, device: torch.device,
            on_batch: Optional[Callable[[], None]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Predictions and labels over ``loader``, feeding inputs as MultiBench's ``single_test`` does.

    ``model`` takes the MMDL layout for MMDL models; pass a mixture-layout callable otherwise.
    """
    preds, truths = [], []
    for batch in loader:
        if packed:
            inputs = [[x.float().to(device) for x in batch[0]], batch[1]]
        else:
            inputs = [x.float().to(device) for x in batch[:-1]]
        preds.append(model(inputs).detach().cpu())
        truths.append(batch[-1].cpu())
        if on_batch is not None:
            on_batch()
    return torch.cat(preds), torch.cat(truths)


class RunMetrics(dict):
    """One run's test metrics (the JSON entry), carrying the predictions they came from.

    Args:
        metrics (dict): Metric name -> value.
        preds (np.ndarray): Test predictions: MOSEI scores (N,), MM-IMDB 0/1 genres (N, 23).
        truths (np.ndarray): Test labels, same shape.
        logits (np.ndarray, optional): MM-IMDB logits (N, 23).
    """

    def __init__(self, metrics: Dict[str, Any], preds: np.ndarray, truths: np.ndarray,
                 logits: Optional[np.ndarray] = None) -> None:
        super().__init__(metrics)
        self.arrays = dict(preds=preds, truths=truths)
        if logits is not None:
            self.arrays['logits'] = logits


def evaluate(dataset: str, model, loader: DataLoader, packed: bool, device: torch.device,
             on_batch: Optional[Callable[[], None]] = None) -> RunMetrics:
    """Test metrics: MM-IMDB ``f1_micro``, ``f1_macro``; MOSEI ``acc``, ``acc2_non0``, ``f1_non0``,
    ``acc2_has0``, ``f1_has0``, ``acc7``, ``mae``, ``corr`` (see ``multibench_ext.metrics``)."""
    preds, truths = predict(model, loader, packed, device, on_batch)
    if dataset == 'imdb':
        return RunMetrics(imdb_metrics(preds, truths), multilabel_predictions(preds), truths.cpu().numpy(),
                          logits=preds.float().numpy())
    return RunMetrics(affect_metrics(preds, truths), preds.float().reshape(-1).numpy(),
                      truths.float().reshape(-1).numpy())


def save_predictions(path: str, runs: List[Dict[str, Any]]) -> None:
    """Write the last run's test ``preds`` and ``truths`` (and MM-IMDB ``logits``) to ``path`` (.npz);
    with several runs also ``preds_run0``, ``preds_run1``, ..."""
    arrays = dict(getattr(runs[-1], 'arrays', {}))
    if not arrays:
        raise SetupError('--preds-out: this script recorded no test predictions')
    if len(runs) > 1:
        arrays.update({f'preds_run{i}': run.arrays['preds'] for i, run in enumerate(runs)})
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f'.{target.name}.partial')
    with open(partial, 'wb') as f:  # a file object: np.savez would append .npz to any other name
        np.savez(f, **arrays)
    os.replace(partial, target)  # an older file is replaced whole or not at all
    print(f'  test predictions written to {path}')


def mflops(module: nn.Module, inputs: List[Any]) -> float:
    """MFLOPs (MACs / 1e6, thop's unit) of one eval-mode call ``module(inputs)``."""
    was_training = module.training
    module.eval()
    try:
        return count_macs(module, inputs) / 1e6
    finally:
        module.train(was_training)


def known_split_report(data: str, branches: List[int], limit: Optional[int]) -> Optional[Dict[str, Any]]:
    """How the gate's test routing matches the synthetic file's known text-sufficient samples.

    None for files without a side file (real data) or when the counts disagree.
    """
    info = read_known_split(data)
    if info is None:
        return None
    bits = info['text_sufficient'].get('test', '')
    if limit is not None:
        bits = bits[:limit]
    if len(bits) != len(branches):
        note_once(f'known split of {data} has {len(bits)} test samples, the run saw {len(branches)}; not compared')
        return None
    sufficient = np.array([b == '1' for b in bits])
    to_text = np.array(branches) == 0
    return dict(text_sufficient_fraction=float(sufficient.mean()), routed_to_text_fraction=float(to_text.mean()),
                agreement=float((sufficient == to_text).mean()),
                text_sufficient_routed_to_text=float(to_text[sufficient].mean()) if sufficient.any() else None,
                text_insufficient_routed_to_fusion=float((~to_text[~sufficient]).mean()) if (~sufficient).any()
                else None)


# ----------------------------------------------------------------------------- report
def report(args: argparse.Namespace, script: str, runs: List[Dict[str, Any]], **extra: Any) -> int:
    """Print mean and std of each metric over the runs; write them to ``--json-out``."""
    numeric = [k for k in runs[0] if any(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                         for r in runs)]
    values = {k: [r[k] for r in runs if isinstance(r.get(k), (int, float))] for k in numeric}
    mean = {k: float(np.mean(v)) for k, v in values.items()}
    std = {k: float(np.std(v)) for k, v in values.items()}
    print('-' * 60)
    print(f'{script}: {len(runs)} run(s)')
    for k in numeric:
        print(f'  {k}: {mean[k]:.4f} +- {std[k]:.4f}')
    result = {k: runs[-1].get(k) for k in runs[0]}  # non-numeric fields (None, lists) from the last run
    result.update(mean)
    result.update(script=script, data=str(args.data), n_runs=len(runs), std=std, runs=runs, **extra)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json_out, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'  metrics written to {args.json_out}')
    if getattr(args, 'preds_out', None):
        save_predictions(args.preds_out, runs)
    return 0
