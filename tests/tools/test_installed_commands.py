"""The tools/ scripts that pyproject.toml installs run as commands, from any folder."""
import subprocess
import sys
import tomllib
from pathlib import Path

import cv2
import numpy as np

from helpers import REPO as REPO_DIR  # noqa: E402

REPO = Path(REPO_DIR)
BIN = Path(sys.executable).parent


def _installed_scripts():
    with open(REPO / 'pyproject.toml', 'rb') as f:
        return [Path(p).name for p in tomllib.load(f)['tool']['setuptools']['script-files']]


def test_every_installed_script_has_a_python_shebang():
    for name in _installed_scripts():
        first = (BIN / name).read_text().splitlines()[0]
        assert first.startswith('#!') and 'python' in first, f'{BIN / name}: first line {first!r}'


def test_an_installed_command_runs_from_another_folder(tmp_path):
    out = tmp_path / 'synthetic'
    proc = subprocess.run([str(BIN / 'make_synthetic_rgbd.py'), '--out', str(out), '--num-train', '4',
                           '--num-test', '2'], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    names = (out / 'train.txt').read_text().split()
    assert len(names) == 4
    depth = cv2.imread(str(out / 'train' / 'depth' / f'{names[0]}.png'), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.max() > 0
