"""Hostile data: label sizes, data-set generators that validate first and never clobber a set."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers.tool_scripts import REPO, load_tool

SYNTH_RGBD = load_tool('make_synthetic_rgbd')


def _gen(argv):
    from dynmm_plugins.utils.errors import run_entry_point
    return run_entry_point(SYNTH_RGBD.main, argv, prog=SYNTH_RGBD.PROG)


def test_label_of_another_size_than_its_image_is_named(tmp_path):
    pytest.importorskip('mmseg')
    from dynmm_plugins.datasets.transforms import LoadCheckedAnnotations
    label = tmp_path / 'label.png'
    cv2.imwrite(str(label), np.ones((24, 30), np.uint8))
    results = dict(seg_map_path=str(label), seg_fields=[], reduce_zero_label=True, num_classes=40,
                   label_map=None, img_path='rgb/0001.png', ori_shape=(24, 32), img_shape=(24, 32))
    with pytest.raises(ValueError, match=f"label image '{label}' is 24x30 .* 'rgb/0001.png' is 24x32"):
        LoadCheckedAnnotations()(results)
    results['ori_shape'] = results['img_shape'] = (24, 30)
    assert LoadCheckedAnnotations()(results)['gt_seg_map'].shape == (24, 30)


@pytest.mark.parametrize('argv, message', [
    (['--depth-only-ratio', '1.5'], 'depth_only_ratio (--depth-only-ratio) must be in [0, 1]'),
    (['--num-train', '0'], 'must be >= 1: an empty split'),
    (['--num-test', '0'], 'must be >= 1: an empty split'),
    (['--height', '4'], 'must be >= 8'),
    (['--max-objects', '0'], '--max-objects'),
])
def test_synthetic_rgbd_arguments_are_checked_first(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        _gen(['--out', str(tmp_path / 'set'), '--no-progress'] + argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and 'Traceback' not in err
    assert not (tmp_path / 'set').exists()


def test_synthetic_rgbd_out_that_is_a_file(tmp_path, capsys):
    target = tmp_path / 'afile'
    target.write_text('x')
    with pytest.raises(SystemExit) as exc:
        _gen(['--out', str(target)])
    assert exc.value.code == 2 and f'output folder {target} is a file' in capsys.readouterr().err


def test_synthetic_rgbd_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / 'set'
    args = ['--out', str(out), '--num-train', '2', '--num-test', '1', '--height', '16', '--width', '16',
            '--no-progress']
    assert _gen(args) == 0
    before = {name: (out / name).read_bytes() for name in ('train.txt', 'test.txt', 'scene_kinds.json')}
    capsys.readouterr()
    assert _gen(args[:3] + ['3'] + args[4:]) == 2
    err = capsys.readouterr().err
    assert 'already holds a data set' in err and '--force' in err and err.count('\n') == 1
    assert before == {name: (out / name).read_bytes() for name in before}
    assert _gen(args[:3] + ['3'] + args[4:] + ['--force']) == 0
    assert (out / 'train.txt').read_text().split() == ['0001', '0002', '0003']


def test_synthetic_rgbd_script_exit_code(tmp_path):
    """As a user runs it: a subprocess, exit code 2 and one line."""
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'make_synthetic_rgbd.py'),
                           '--out', str(tmp_path / 's'), '--depth-only-ratio', '1.5'],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize('argv, message', [
    (['--mosei-sizes', '0', '0', '0'], '--mosei-sizes must be 3 sample counts >= 1'),
    (['--imdb-rows', '0'], '--imdb-rows must be >= 1'),
    (['--text-fraction', '2'], '--text-fraction must be in [0, 1]'),
])
def test_synthetic_multibench_arguments_are_checked(tmp_path, capsys, argv, message):
    from multibench_ext.synthetic import main
    with pytest.raises(SystemExit) as exc:
        main(['--mosei', str(tmp_path / 'm.pkl'), '--imdb', str(tmp_path / 'i.hdf5')] + argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / 'm.pkl').exists()


def test_synthetic_multibench_refuses_to_overwrite_without_force(tmp_path, capsys):
    from multibench_ext.synthetic import main
    path = tmp_path / 'm.pkl'
    path.write_bytes(b'precious')
    with pytest.raises(SystemExit) as exc:
        main(['--mosei', str(path), '--mosei-sizes', '2', '2', '2'])
    assert exc.value.code == 2 and 'already exists; pass --force' in capsys.readouterr().err
    assert path.read_bytes() == b'precious'
    assert main(['--mosei', str(path), '--mosei-sizes', '2', '2', '2', '--force']) == 0
    assert path.read_bytes() != b'precious'
