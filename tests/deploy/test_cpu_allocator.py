"""keep_freed_memory: large blocks are reused instead of being page-faulted in on every allocation."""
import json
import logging
import subprocess
import sys

import pytest

# Allocate, touch and free a 64 MiB tensor (above glibc's largest mmap threshold) six
# times; report the minor page faults of the last round. With freed memory kept, the
# heap can still grow once in the second or third round (small allocations land behind
# the freed block; measured here: 0 faults in every round from the fourth on, in 12 runs
# of 12), so only the steady state is compared. Run in a fresh process: the allocator
# setting is process-wide and cannot be undone.
PROBE = r'''
import json, resource, sys, torch
if sys.argv[1] == 'keep':
    from dynmm_plugins.deploy import keep_freed_memory
    keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    before = faults()
    x = torch.ones(16 * 2**20)  # 64 MiB, every page written
    del x
print(json.dumps(faults() - before))
'''


def _last_round_faults(mode):
    out = subprocess.run([sys.executable, '-c', PROBE, mode], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc only')
def test_kept_memory_is_reused_without_page_faults():
    default, kept = _last_round_faults('default'), _last_round_faults('keep')
    # default: a fresh mmap every round, faulted in page by page (huge pages: fewer, still many)
    assert default >= 30
    assert kept <= default / 10


def test_hook_switches_the_allocator_before_testing(monkeypatch):
    import dynmm_plugins.deploy.cpu_allocator as allocator
    from dynmm_plugins.engine.hooks import KeepFreedMemoryHook
    calls = []
    monkeypatch.setattr(allocator, 'keep_freed_memory', lambda: calls.append(True))

    class Runner:
        logger = logging.getLogger('test')
    KeepFreedMemoryHook().before_test(Runner())
    assert calls == [True]


def test_benchmark_latency_keeps_freed_memory_on_request(tmp_path, monkeypatch):
    import dynmm_plugins.deploy.cpu_allocator as allocator
    from helpers.deploy_setup import DYNAMIC
    from helpers.tool_scripts import load_tool
    from dynmm_plugins.utils.cli import run_tool
    calls = []
    monkeypatch.setattr(allocator, 'keep_freed_memory', lambda: calls.append(True))
    tool = load_tool('benchmark_latency')
    out = str(tmp_path / 'latency.json')
    argv = [DYNAMIC, '--shape', '64', '96', '--repeats', '1', '--warmup', '0', '--no-static',
            '--keep-freed-memory', '--device', 'cpu', '--no-progress', '--out', out]
    assert run_tool(tool.main, argv, prog=tool.PROG) == 0
    with open(out) as f:
        assert json.load(f)['keep_freed_memory'] is True
    assert calls == [True]


def test_without_glibc_it_is_one_clear_error(monkeypatch):
    import ctypes.util

    import dynmm_plugins.deploy.cpu_allocator as allocator
    monkeypatch.setattr(ctypes.util, 'find_library', lambda name: 'libnotc.dylib')
    with pytest.raises(RuntimeError, match='needs glibc.*libnotc.dylib'):
        allocator.keep_freed_memory()
