"""CMU-MOSEI multimodal Transformers; --fuse 3 (late fusion) is DynMM's expensive expert.

--fuse 3: late fusion of Transformer(35, 60) vision, Transformer(74, 120) audio and
Transformer(300, 120) text encoders, Concat, MLP(300, 128, 1); --fuse 2: early fusion
(ConcatEarly, Transformer(409, 300) + MLP(300, 128, 1)). Trained with MultiBench's
``Supervised_Learning.train``; writes ``best_{lf,ef}_tran[_packed].pt`` to --log-dir.
"""
import sys

from .runner import run_main, script_entry

build, main = script_entry('affect_mm', __doc__)

if __name__ == '__main__':
    sys.exit(run_main(main))
