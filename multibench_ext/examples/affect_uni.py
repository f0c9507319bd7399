"""CMU-MOSEI text expert: MultiBench's Transformer(300, 120) encoder + MLP(120, 64, 1) head.

Trained with MultiBench's ``training_structures.unimodal.train`` on batches padded to 50
steps (its unimodal trainer reads ``batch[modality]``, which only the padded layout
provides); writes ``encoder_text.pt`` and ``head_text.pt`` to --log-dir for affect_dyn.
"""
import sys

import torch

from ..checkpoints import load_module
from ..modality_expert import ModalityExpert
from .common import (affect_loaders, build_parser, evaluate, first_sample, fresh_checkpoint, mflops, report,
                     require_saved, run_main, seed_everything, setup)

SCRIPT = 'affect_uni'
TEXT = 2  # modality index of the text in MOSEI batches [vision, audio, text, ...]


def build():
    """The command-line parser."""
    return build_parser(SCRIPT, __doc__.splitlines()[0], 'mosei', epochs=100, lr=1e-4, wd=1e-2)


def main(argv=None) -> int:
    """Train (unless --eval-only) and test the text expert."""
    args = build().parse_args(argv)
    env = setup(args)
    (train_dl, valid_dl, test_dl), source = affect_loaders(args, packed=False)
    encoder_file, head_file = env.log_dir / 'encoder_text.pt', env.log_dir / 'head_text.pt'
    how = f'python -m multibench_ext.examples.{SCRIPT} --data {args.data} --log-dir {args.log_dir}'
    runs = []
    for run in range(args.n_runs):
        seed_everything(args.seed + run)
        if not args.eval_only:
            cm = env.mb.common_models
            encoder, head = cm.Transformer(300, 120).to(env.device), cm.MLP(120, 64, 1).to(env.device)
            env.mb.unimodal.train(encoder, head, train_dl, valid_dl, args.n_epochs, early_stop=True,
                                  task='regression', optimtype=torch.optim.AdamW, lr=args.lr, weight_decay=args.wd,
                                  criterion=torch.nn.L1Loss(), modalnum=TEXT,
                                  save_encoder=str(fresh_checkpoint(encoder_file)),
                                  save_head=str(fresh_checkpoint(head_file)))
            require_saved(head_file)
        expert = ModalityExpert(load_module(encoder_file, 'text encoder', how),
                                load_module(head_file, 'text head', how), TEXT).to(env.device).eval()
        print(f'Testing {encoder_file} + {head_file}:')
        env.mb.unimodal.test(expert.encoder, expert.head, test_dl, 'affect', criterion=torch.nn.L1Loss(),
                             task='posneg-classification', modalnum=TEXT, no_robust=True)
        metrics = evaluate('mosei', expert, test_dl, False, env.device)
        metrics.update(mflops_per_sample=mflops(expert, first_sample(test_dl, False, env.device)), branch_ratio=None)
        runs.append(metrics)
    return report(args, SCRIPT, runs, data_loader=source)


if __name__ == '__main__':
    sys.exit(run_main(main))
