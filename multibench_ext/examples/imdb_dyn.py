"""MM-IMDB DynMM: an MLP gate on (text, image) features picks the text expert or the late-fusion expert.

Needs the experts from imdb_uni (encoder_text.pt, head_text.pt) and imdb_mm --fuse 1
(best_lf.pt) in --log-dir. Trained with MultiBench's unmodified ``Supervised_Learning.train``
(the mixture is the MMDL's fusion); writes ``dynmm_freeze*_hard*_reg*.pt`` to --log-dir.
"""
import sys

from .runner import run_main, script_entry

build, main = script_entry('imdb_dyn', __doc__)

if __name__ == '__main__':
    sys.exit(run_main(main))
