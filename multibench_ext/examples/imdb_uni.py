"""MM-IMDB text expert: MultiBench's MLP(300, 512, 512) encoder + MLP(512, 512, 23) head.

Trained with MultiBench's ``training_structures.unimodal.train``; writes
``encoder_text.pt`` and ``head_text.pt`` to --log-dir for imdb_dyn.
"""
import sys

from .runner import run_main, script_entry

build, main = script_entry('imdb_uni', __doc__)

if __name__ == '__main__':
    sys.exit(run_main(main))
