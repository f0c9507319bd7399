"""CMU-MOSEI DynMM: a Transformer gate on the three sequences picks the text or the late-fusion expert.

Needs the experts from affect_uni (encoder_text.pt, head_text.pt) and affect_mm --fuse 3
(best_lf_tran.pt, or best_lf_tran_packed.pt with --packed) in --log-dir. Trained with
MultiBench's unmodified ``Supervised_Learning.train``; writes
``dynmm_freeze*_hard*_reg*[_packed].pt`` to --log-dir.
"""
import sys

from .runner import run_main, script_entry

build, main = script_entry('affect_dyn', __doc__)

if __name__ == '__main__':
    sys.exit(run_main(main))
