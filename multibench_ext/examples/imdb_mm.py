"""MM-IMDB multimodal networks from MultiBench's examples; --fuse 1 (late fusion) is DynMM's expensive expert.

--fuse 0: early fusion (concat, MaxOut_MLP head), 1: late fusion (MaxOut_MLP text and image
encoders, Concat, Linear(1024, 23)), 2: low-rank tensor fusion, 3: multiplicative
interactions (matrix). Trained with MultiBench's ``Supervised_Learning.train``; writes
``best_{ef,lf,lrtf,mim}.pt`` to --log-dir.
"""
import sys

import torch

from ..checkpoints import load_module
from .common import (build_parser, evaluate, first_sample, fresh_checkpoint, imdb_loaders, mflops,
                     multibench_layout, report, require_saved, run_main, seed_everything, setup)

SCRIPT = 'imdb_mm'
# --fuse value -> (name, MultiBench example's learning rate)
FUSIONS = {0: ('ef', 4e-2), 1: ('lf', 8e-3), 2: ('lrtf', 8e-3), 3: ('mim', 8e-3)}


def build_network(mb, fuse: int):
    """Encoders, fusion and head of MultiBench's MM-IMDB example for ``fuse``."""
    cm, cf = mb.common_models, mb.common_fusions
    if fuse == 0:
        return [cm.Identity(), cm.Identity()], cf.Concat(), cm.MaxOut_MLP(23, 512, 4396)
    encoders = [cm.MaxOut_MLP(512, 512, 300, linear_layer=False), cm.MaxOut_MLP(512, 1024, 4096, 512, False)]
    if fuse == 1:
        return encoders, cf.Concat(), cm.Linear(1024, 23)
    if fuse == 2:
        return encoders, cf.LowRankTensorFusion([512, 512], 512, 128), cm.Linear(512, 23)
    return encoders, cf.MultiplicativeInteractions2Modal([512, 512], 1024, 'matrix'), cm.Linear(1024, 23)


def build():
    """The command-line parser."""
    parser = build_parser(SCRIPT, __doc__.splitlines()[0], 'imdb', epochs=1000, lr=None, wd=1e-2)
    parser.add_argument('--fuse', type=int, default=1, choices=sorted(FUSIONS),
                        help='0 early fusion, 1 late fusion (the DynMM expert), 2 LRTF, 3 MIM')
    return parser


def main(argv=None) -> int:
    """Train (unless --eval-only) and test one multimodal network."""
    args = build().parse_args(argv)
    env = setup(args)
    (train_dl, valid_dl, test_dl), source = imdb_loaders(args)
    name, default_lr = FUSIONS[args.fuse]
    lr = default_lr if args.lr is None else args.lr
    checkpoint = env.log_dir / f'best_{name}.pt'
    how = f'python -m multibench_ext.examples.{SCRIPT} --fuse {args.fuse} --data {args.data} --log-dir {args.log_dir}'
    runs = []
    for run in range(args.n_runs):
        seed_everything(args.seed + run)
        if not args.eval_only:
            encoders, fusion, head = build_network(env.mb, args.fuse)
            env.mb.supervised.train(encoders, fusion, head, train_dl, valid_dl, args.n_epochs, early_stop=True,
                                    task='multilabel', optimtype=torch.optim.AdamW, lr=lr, weight_decay=args.wd,
                                    objective=torch.nn.BCEWithLogitsLoss(), save=str(fresh_checkpoint(checkpoint)))
            require_saved(checkpoint)
        model = load_module(checkpoint, f'{name} network', how).to(env.device).eval()
        print(f'Testing {checkpoint}:')
        env.mb.supervised.test(model, test_dl, dataset='imdb', method_name=name,
                               criterion=torch.nn.BCEWithLogitsLoss(), task='multilabel', no_robust=True)
        metrics = evaluate('imdb', model, test_dl, False, env.device)
        sample = multibench_layout(first_sample(test_dl, False, env.device), False)
        metrics.update(mflops_per_sample=mflops(model, sample), branch_ratio=None)
        runs.append(metrics)
    return report(args, SCRIPT, runs, data_loader=source, fusion=name)


if __name__ == '__main__':
    sys.exit(run_main(main))
