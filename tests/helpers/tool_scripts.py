"""Helpers for tests of the tools/ scripts: import a script as a module, read its error line."""
import importlib.util
import os.path as osp

from . import REPO



def load_tool(name):
    """Import ``tools/<name>.py`` (tools/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_line(capsys):
    """The single ``<prog>: error: ...`` line a tool printed to stderr."""
    err = [line for line in capsys.readouterr().err.splitlines() if ': error: ' in line]
    assert len(err) == 1, err
    return err[0]
