"""CMU-MOSEI multimodal Transformers; --fuse 3 (late fusion) is DynMM's expensive expert.

--fuse 3: late fusion of Transformer(35, 60) vision, Transformer(74, 120) audio and
Transformer(300, 120) text encoders, Concat, MLP(300, 128, 1); --fuse 2: early fusion
(ConcatEarly, Transformer(409, 300) + MLP(300, 128, 1)). Trained with MultiBench's
``Supervised_Learning.train``; writes ``best_{lf,ef}_tran[_packed].pt`` to --log-dir.
"""
import sys

import torch

from ..checkpoints import load_module
from .common import (affect_loaders, build_parser, evaluate, first_sample, fresh_checkpoint, mflops,
                     multibench_layout, report, require_saved, run_main, seed_everything, setup)

SCRIPT = 'affect_mm'
FUSIONS = {2: 'ef_tran', 3: 'lf_tran'}


def build_network(mb, fuse: int):
    """Encoders, fusion and head of the reference's MOSEI networks for ``fuse``."""
    cm, cf = mb.common_models, mb.common_fusions
    if fuse == 2:
        return ([cm.Identity(), cm.Identity(), cm.Identity()], cf.ConcatEarly(),
                cm.Sequential(cm.Transformer(409, 300), cm.MLP(300, 128, 1)))
    return ([cm.Transformer(35, 60), cm.Transformer(74, 120), cm.Transformer(300, 120)], cf.Concat(),
            cm.MLP(300, 128, 1))


def build():
    """The command-line parser."""
    parser = build_parser(SCRIPT, __doc__.splitlines()[0], 'mosei', epochs=1000, lr=1e-4, wd=1e-4)
    parser.add_argument('--fuse', '--fusion', type=int, default=3, choices=sorted(FUSIONS),
                        help='2 early-fusion Transformer, 3 late-fusion Transformer (the DynMM expert)')
    parser.add_argument('--packed', action='store_true',
                        help='packed batches (padded to the longest in the batch) instead of 50 padded steps')
    return parser


def checkpoint_name(fuse: int, packed: bool) -> str:
    """File name of a trained network."""
    return f'best_{FUSIONS[fuse]}{"_packed" if packed else ""}.pt'


def main(argv=None) -> int:
    """Train (unless --eval-only) and test one multimodal network."""
    args = build().parse_args(argv)
    env = setup(args)
    (train_dl, valid_dl, test_dl), source = affect_loaders(args, packed=args.packed)
    checkpoint = env.log_dir / checkpoint_name(args.fuse, args.packed)
    how = (f'python -m multibench_ext.examples.{SCRIPT} --fuse {args.fuse}{" --packed" if args.packed else ""} '
           f'--data {args.data} --log-dir {args.log_dir}')
    runs = []
    for run in range(args.n_runs):
        seed_everything(args.seed + run)
        if not args.eval_only:
            encoders, fusion, head = build_network(env.mb, args.fuse)
            env.mb.supervised.train(encoders, fusion, head, train_dl, valid_dl, args.n_epochs, early_stop=True,
                                    task='regression', optimtype=torch.optim.AdamW, lr=args.lr,
                                    weight_decay=args.wd, objective=torch.nn.L1Loss(), is_packed=args.packed,
                                    save=str(fresh_checkpoint(checkpoint)))
            require_saved(checkpoint)
        model = load_module(checkpoint, f'{FUSIONS[args.fuse]} network', how).to(env.device).eval()
        print(f'Testing {checkpoint}:')
        env.mb.supervised.test(model, test_dl, dataset='mosei', method_name=FUSIONS[args.fuse],
                               is_packed=args.packed, criterion=torch.nn.L1Loss(), task='posneg-classification',
                               no_robust=True)
        metrics = evaluate('mosei', model, test_dl, args.packed, env.device)
        sample = multibench_layout(first_sample(test_dl, args.packed, env.device), args.packed)
        metrics.update(mflops_per_sample=mflops(model, sample), branch_ratio=None)
        runs.append(metrics)
    return report(args, SCRIPT, runs, data_loader=source, fusion=FUSIONS[args.fuse], packed=args.packed)


if __name__ == '__main__':
    sys.exit(run_main(main))
