"""MM-IMDB DynMM: an MLP gate on (text, image) features picks the text expert or the late-fusion expert.

Needs the experts from imdb_uni (encoder_text.pt, head_text.pt) and imdb_mm --fuse 1
(best_lf.pt) in --log-dir. Trained with MultiBench's unmodified ``Supervised_Learning.train``
(the mixture is the MMDL's fusion); writes ``dynmm_freeze*_hard*_reg*.pt`` to --log-dir.
"""
import sys

import torch

from ..checkpoints import load_module
from ..fusion_expert import FusionExpert
from ..mlp_gate import MLPGate
from ..modality_expert import ModalityExpert
from .common import build_parser, imdb_loaders, run_main, setup
from .dyn_runner import run_dyn

SCRIPT = 'imdb_dyn'


def build():
    """The command-line parser."""
    return build_parser(SCRIPT, __doc__.splitlines()[0], 'imdb', epochs=50, lr=1e-4, wd=1e-2, dyn=True, reg=0.1)


def main(argv=None) -> int:
    """Train (unless --eval-only) and test the MM-IMDB mixture."""
    args = build().parse_args(argv)
    env = setup(args)
    loaders, source = imdb_loaders(args)
    where = f'--data {args.data} --log-dir {args.log_dir}'

    def experts():
        uni = f'python -m multibench_ext.examples.imdb_uni {where}'
        text = ModalityExpert(load_module(env.log_dir / 'encoder_text.pt', 'text expert encoder', uni,
                                              whole_model=False),
                              load_module(env.log_dir / 'head_text.pt', 'text expert head', uni,
                                              whole_model=False), modality=0)
        late_fusion = load_module(env.log_dir / 'best_lf.pt', 'late-fusion expert',
                                  f'python -m multibench_ext.examples.imdb_mm --fuse 1 {where}',
                                  whole_model=True)
        return [text, FusionExpert(late_fusion)]

    return run_dyn(args, env, script=SCRIPT, dataset='imdb', loaders=loaders, source=source, packed=False,
                   build_experts=experts, build_gate=lambda: MLPGate(300 + 4096, 128, 2),
                   task_loss=torch.nn.BCEWithLogitsLoss, task='multilabel', test_task='multilabel')


if __name__ == '__main__':
    sys.exit(run_main(main))
