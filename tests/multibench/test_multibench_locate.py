"""Locating a MultiBench clone: --multibench-root, else $MULTIBENCH_ROOT, else the working directory."""
import pytest

from multibench_ext.errors import SetupError
from multibench_ext.multibench import MARKERS, find_multibench_root, is_multibench_root


@pytest.fixture
def fake_root(tmp_path):
    root = tmp_path / 'MultiBench'
    for marker in MARKERS:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text('')
    return root


def test_flag_wins_over_environment_and_cwd(fake_root, tmp_path, monkeypatch):
    monkeypatch.setenv('MULTIBENCH_ROOT', str(tmp_path / 'elsewhere'))
    assert find_multibench_root(fake_root) == fake_root.resolve()


def test_environment_variable_then_working_directory(fake_root, tmp_path, monkeypatch):
    monkeypatch.setenv('MULTIBENCH_ROOT', str(fake_root))
    assert find_multibench_root() == fake_root.resolve()
    monkeypatch.delenv('MULTIBENCH_ROOT')
    monkeypatch.chdir(fake_root)
    assert find_multibench_root() == fake_root.resolve()


def test_not_found_is_one_line_naming_flag_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv('MULTIBENCH_ROOT', raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SetupError) as info:
        find_multibench_root()
    message = str(info.value)
    assert '\n' not in message
    assert '--multibench-root' in message and 'MULTIBENCH_ROOT' in message and 'working directory' in message


def test_bad_environment_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv('MULTIBENCH_ROOT', str(tmp_path))
    with pytest.raises(SetupError, match=r'\$MULTIBENCH_ROOT'):
        find_multibench_root()


def test_partial_clone_is_not_a_root(fake_root):
    (fake_root / MARKERS[0]).unlink()
    assert not is_multibench_root(fake_root)
