"""MM-IMDB multimodal networks from MultiBench's examples; --fuse 1 (late fusion) is DynMM's expensive expert.

--fuse 0: early fusion (concat, MaxOut_MLP head), 1: late fusion (MaxOut_MLP text and image
encoders, Concat, Linear(1024, 23)), 2: low-rank tensor fusion, 3: multiplicative
interactions (matrix). Trained with MultiBench's ``Supervised_Learning.train``; writes
``best_{ef,lf,lrtf,mim}.pt`` to --log-dir.
"""
import sys

from .runner import run_main, script_entry

build, main = script_entry('imdb_mm', __doc__)

if __name__ == '__main__':
    sys.exit(run_main(main))
