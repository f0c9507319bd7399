"""Suite-wide settings.

Under ``bash run.sh test`` (``DYNMM_STRICT_TESTS=1``) the whole stack must be there:
the session stops at once with one line per missing piece (mmseg, mmengine, mmcv's
compiled ops, torchvision, a MultiBench clone), and any test that still skips fails
with its reason. Skips stay skips for people who run a subset on purpose, e.g. the
torch-only core in an environment without mmseg.
"""
import importlib
import os
import shutil
import subprocess
import sys

import pytest

STRICT = os.environ.get('DYNMM_STRICT_TESTS') == '1'


def _missing_dependencies() -> list:
    """One line for each piece of the stack that cannot be imported."""
    missing = []
    checks = [
        ('mmengine', 'mmengine'),
        ('mmcv.ops', "mmcv's compiled ops (mmcv built with MMCV_WITH_OPS=1, not mmcv-lite)"),
        ('mmseg.models', 'mmsegmentation 1.2.2 (its models need mmcv with ops)'),
        ('torchvision', "torchvision matching the project's torch (MultiBench imports it)"),
    ]
    for module, what in checks:
        try:
            importlib.import_module(module)
        except Exception as exc:  # an ABI mismatch raises more than ImportError
            missing.append(f'{what}: import {module} failed ({type(exc).__name__}: {exc})')
    from multibench_ext.multibench import ENV_VAR, is_multibench_root
    root = os.environ.get(ENV_VAR)
    if not root or not is_multibench_root(root):
        missing.append(f'a MultiBench clone: ${ENV_VAR}={root!r} is not one (run.sh sets it to '
                       '../shared/multibench when that snapshot exists)')
    else:
        # In a subprocess: MultiBench's top-level packages go on sys.path when imported.
        code = f'from multibench_ext.multibench import import_multibench; import_multibench({root!r})'
        proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ['?'])[-1]
            missing.append(f"MultiBench's own requirements: importing it from {root} failed ({last})")
    return missing


def pytest_sessionstart(session):
    if STRICT:
        missing = _missing_dependencies()
        if missing:
            pytest.exit('DYNMM_STRICT_TESTS=1: the test stack is incomplete:\n  ' + '\n  '.join(missing),
                        returncode=3)


@pytest.fixture(scope='module')
def module_mktemp(request, tmp_path_factory):
    """``module_mktemp(name)``: a new folder for a module-scoped fixture, deleted with the module.

    The suite writes several GB of data sets, checkpoints and exports. pytest keeps every
    ``tmp_path_factory`` folder until the session ends (and three sessions after it), which
    most likely filled CI's disk part-way through the suite once. These folders go as soon
    as the module's last test is done, unless one of its tests failed (then they stay).
    """
    failed_before = request.session.testsfailed
    made = []

    def mktemp(name: str):
        made.append(tmp_path_factory.mktemp(name))
        return made[-1]

    yield mktemp
    if request.session.testsfailed == failed_before:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_visualizer_across_tests():
    """Forget mmengine's visualizers after each test.

    mmengine keeps them process-wide by name, and a Runner names its visualizer after the config
    and the current second: a test that builds a Runner from the same config within the same
    second as the last one would get that test's visualizer, which writes into that test's
    folder, already deleted when it passed. (Other named instances, such as the default scope,
    stay: tests rely on them.)
    """
    yield
    visualization = sys.modules.get('mmengine.visualization.visualizer')
    if visualization is None:  # torch-only tests never imported mmengine
        return
    classes = [visualization.Visualizer]
    while classes:
        cls = classes.pop()
        cls._instance_dict.clear()
        classes.extend(cls.__subclasses__())


def _fail_skip(report, where: str) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = 'failed'
    report.longrepr = (f'{where} skipped, which DYNMM_STRICT_TESTS=1 (bash run.sh test) counts as a '
                       f'failure: {reason}')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, 'wasxfail'):
        _fail_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped:
        _fail_skip(report, collector.nodeid)
