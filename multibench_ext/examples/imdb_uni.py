"""MM-IMDB text expert: MultiBench's MLP(300, 512, 512) encoder + MLP(512, 512, 23) head.

Trained with MultiBench's ``training_structures.unimodal.train``; writes
``encoder_text.pt`` and ``head_text.pt`` to --log-dir for imdb_dyn.
"""
import sys

import torch

from ..checkpoints import load_module
from ..modality_expert import ModalityExpert
from .common import (build_parser, evaluate, first_sample, fresh_checkpoint, imdb_loaders, mflops, report,
                     require_saved, run_main, seed_everything, setup)

SCRIPT = 'imdb_uni'
TEXT = 0  # modality index of the text in MM-IMDB batches [text, image, genres]


def build(script=SCRIPT):
    """The command-line parser."""
    return build_parser(script, __doc__.splitlines()[0], 'imdb', epochs=1000, lr=1e-4, wd=1e-2)


def main(argv=None) -> int:
    """Train (unless --eval-only) and test the text expert."""
    args = build().parse_args(argv)
    env = setup(args)
    (train_dl, valid_dl, test_dl), source = imdb_loaders(args)
    encoder_file, head_file = env.log_dir / 'encoder_text.pt', env.log_dir / 'head_text.pt'
    how = f'python -m multibench_ext.examples.{SCRIPT} --data {args.data} --log-dir {args.log_dir}'
    runs = []
    for run in range(args.n_runs):
        seed_everything(args.seed + run)
        if not args.eval_only:
            cm = env.mb.common_models
            encoder, head = cm.MLP(300, 512, 512).to(env.device), cm.MLP(512, 512, 23).to(env.device)
            env.mb.unimodal.train(encoder, head, train_dl, valid_dl, args.n_epochs, early_stop=True,
                                  task='multilabel', optimtype=torch.optim.AdamW, lr=args.lr, weight_decay=args.wd,
                                  criterion=torch.nn.BCEWithLogitsLoss(), modalnum=TEXT,
                                  save_encoder=str(fresh_checkpoint(encoder_file)),
                                  save_head=str(fresh_checkpoint(head_file)))
            require_saved(head_file)
        expert = ModalityExpert(load_module(encoder_file, 'text encoder', how),
                                load_module(head_file, 'text head', how), TEXT).to(env.device).eval()
        print(f'Testing {encoder_file} + {head_file}:')
        env.mb.unimodal.test(expert.encoder, expert.head, test_dl, 'imdb', 'unimodal_text', task='multilabel',
                             modalnum=TEXT, no_robust=True)
        metrics = evaluate('imdb', expert, test_dl, False, env.device)
        metrics.update(mflops_per_sample=mflops(expert, first_sample(test_dl, False, env.device)), branch_ratio=None)
        runs.append(metrics)
    return report(args, SCRIPT, runs, data_loader=source)


if __name__ == '__main__':
    sys.exit(run_main(main))
