"""Example scripts, MultiBench style: ``python -m multibench_ext.examples.<name>``.

imdb_uni, imdb_mm, imdb_dyn (MM-IMDB) and affect_uni, affect_mm, affect_dyn (CMU-MOSEI):
train the experts first, then the DynMM gate. See multibench_ext/README.md.
"""
