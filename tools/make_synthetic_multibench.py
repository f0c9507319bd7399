#!/usr/bin/env python
"""Write synthetic MM-IMDB (HDF5) and CMU-MOSEI (pickle) files in MultiBench's exact formats.

    python tools/make_synthetic_multibench.py --imdb data/multimodal_imdb.hdf5 --mosei data/mosei_senti_data.pkl

The cheap text expert suffices for a known share of the samples (--text-fraction); the rest
need the other modalities. Which is which goes to <file>.known_split.json. The logic lives in
:mod:`multibench_ext.synthetic` (also ``python -m multibench_ext.synthetic``).
"""
import os
import sys

if __package__ in (None, ''):
    # Run as a file: make the repository importable without installing it.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dynmm_plugins.utils.errors import run_entry_point  # noqa: E402
from multibench_ext.synthetic import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(run_entry_point(main, prog='make_synthetic_multibench.py'))
