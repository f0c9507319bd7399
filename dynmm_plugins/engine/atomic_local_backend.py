"""Atomic writes for mmengine's local files, so an interrupted save never corrupts a checkpoint.

mmengine writes checkpoints (``iter_N.pth``, ``best_*.pth``) with a plain
``open(path, 'wb')``; a process killed mid-write leaves a truncated file under the
final name, and ``--resume`` then fails on it. :class:`AtomicLocalBackend` writes to
a temporary file ``.<name>.<random>.tmp`` in the same folder, flushes it to disk and
renames it over the target (``os.replace`` is atomic on POSIX), so a reader sees
either the old file or the complete new one. The file gets the permissions a plain
``open`` would give it (0644 under the usual umask), not ``mkstemp``'s 0600.
A process killed mid-save leaves its temporary file behind;
:func:`remove_stale_temporaries` removes those (the checkpoint hook calls it when a
run starts or resumes).
"""
import glob
import os
import os.path as osp
from typing import List

from mmengine.fileio.backends import LocalBackend, register_backend

from dynmm_plugins.utils.io import atomic_write

TMP_SUFFIX = '.tmp'  # utils.io.atomic_write names its temporary files .<name>.<random>.tmp


def write_atomically(data, filepath, mode='wb', encoding=None):
    """Write ``data`` to ``filepath`` via a temporary file and ``os.replace``."""
    with atomic_write(filepath, mode, encoding) as f:
        f.write(data)


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete the ``.<name>.<random>.tmp`` files an interrupted :func:`write_atomically` left.

    Only names of that exact form are touched; returns the removed paths.
    """
    removed = []
    for path in glob.glob(osp.join(glob.escape(folder), f'.*.*{TMP_SUFFIX}')):
        name = osp.basename(path)[1:-len(TMP_SUFFIX)]
        target, _, token = name.rpartition('.')
        if target and len(token) >= 6 and osp.isfile(path):  # mkstemp's random part
            os.remove(path)
            removed.append(path)
    return removed


class AtomicLocalBackend(LocalBackend):
    """mmengine's local storage backend with atomic ``put`` and ``put_text``."""

    def put(self, obj, filepath):
        """Write bytes to ``filepath`` atomically."""
        write_atomically(obj, str(filepath), 'wb')

    def put_text(self, obj, filepath, encoding='utf-8'):
        """Write text to ``filepath`` atomically."""
        write_atomically(obj, str(filepath), 'w', encoding)


def use_atomic_local_backend():
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths (idempotent)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # get_file_backend caches instances: drop plain LocalBackends created before us.
    from mmengine.fileio import io as mmengine_io
    cache = getattr(mmengine_io, 'backend_instances', {})
    for key in [k for k, v in cache.items() if type(v) is LocalBackend]:
        del cache[key]
