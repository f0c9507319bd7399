"""CMU-MOSEI text expert: MultiBench's Transformer(300, 120) encoder + MLP(120, 64, 1) head.

Trained with MultiBench's ``training_structures.unimodal.train`` on batches padded to 50
steps (its unimodal trainer reads ``batch[modality]``, which only the padded layout
provides); writes ``encoder_text.pt`` and ``head_text.pt`` to --log-dir for affect_dyn.
"""
import sys

from .runner import run_main, script_entry

build, main = script_entry('affect_uni', __doc__)

if __name__ == '__main__':
    sys.exit(run_main(main))
