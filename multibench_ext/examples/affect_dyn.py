"""CMU-MOSEI DynMM: a Transformer gate on the three sequences picks the text or the late-fusion expert.

Needs the experts from affect_uni (encoder_text.pt, head_text.pt) and affect_mm --fuse 3
(best_lf_tran.pt, or best_lf_tran_packed.pt with --packed) in --log-dir. Trained with
MultiBench's unmodified ``Supervised_Learning.train``; writes
``dynmm_freeze*_hard*_reg*[_packed].pt`` to --log-dir.
"""
import sys

import torch

from ..checkpoints import load_module
from ..errors import SetupError
from ..fusion_expert import FusionExpert
from ..modality_expert import ModalityExpert
from ..sequence_gate import SequenceGate
from .affect_mm import checkpoint_name
from .common import affect_loaders, build_parser, run_main, setup
from .dyn_runner import run_dyn

SCRIPT = 'affect_dyn'


def build():
    """The command-line parser."""
    parser = build_parser(SCRIPT, __doc__.splitlines()[0], 'mosei', epochs=50, lr=1e-6, wd=1e-4, dyn=True, reg=0.0)
    parser.add_argument('--packed', action='store_true',
                        help='packed batches; the late-fusion expert must come from affect_mm --packed')
    return parser


def main(argv=None) -> int:
    """Train (unless --eval-only) and test the MOSEI mixture."""
    args = build().parse_args(argv)
    env = setup(args)
    loaders, source = affect_loaders(args, packed=args.packed)
    where = f'--data {args.data} --log-dir {args.log_dir}'

    def experts():
        uni = f'python -m multibench_ext.examples.affect_uni {where}'
        text = ModalityExpert(load_module(env.log_dir / 'encoder_text.pt', 'text expert encoder', uni,
                                              whole_model=False),
                              load_module(env.log_dir / 'head_text.pt', 'text expert head', uni,
                                              whole_model=False), modality=2)
        packed_flag = ' --packed' if args.packed else ''
        late_fusion = load_module(env.log_dir / checkpoint_name(3, args.packed), 'late-fusion expert',
                                  f'python -m multibench_ext.examples.affect_mm --fuse 3{packed_flag} {where}',
                                  whole_model=True)
        if bool(getattr(late_fusion, 'has_padding', False)) != args.packed:
            raise SetupError(f'the late-fusion expert in {args.log_dir} was trained '
                             f'{"with" if late_fusion.has_padding else "without"} --packed; '
                             f'run affect_dyn the same way')
        return [text, FusionExpert(late_fusion)]

    return run_dyn(args, env, script=SCRIPT, dataset='mosei', loaders=loaders, source=source, packed=args.packed,
                   build_experts=experts, build_gate=lambda: SequenceGate(35 + 74 + 300, 10, 2),
                   task_loss=torch.nn.L1Loss, task='regression', test_task='posneg-classification')


if __name__ == '__main__':
    sys.exit(run_main(main))
