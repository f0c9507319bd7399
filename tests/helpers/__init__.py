"""Set-up shared by the tests (``from helpers.tool_scripts import load_tool``; tests/ is on
``sys.path`` through tests/conftest.py): the repository's paths, the tiny DynMM model,
tool scripts loaded as modules, the deploy tests' cases, and scripts the tests run in
subprocesses (``dist_train_probe.py``, ``pause_hook.py``)."""
import os.path as osp

#: The tests/ folder and the repository root.
TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TESTS)
#: Committed test data (tests/data/).
DATA = osp.join(TESTS, 'data')
