"""Atomic writes for mmengine's local files, so an interrupted save never corrupts a checkpoint.

mmengine writes checkpoints (``iter_N.pth``, ``best_*.pth``) and the
``last_checkpoint`` pointer with a plain ``open(path, 'wb')``; a process killed
mid-write leaves a truncated file under the final name, and ``--resume`` then
fails on it. :class:`AtomicLocalBackend` writes to a temporary file in the same
folder, flushes it to disk and renames it over the target (``os.replace`` is
atomic on POSIX), so a reader sees either the old file or the complete new one.
"""
from mmengine.fileio.backends import LocalBackend, register_backend

from dynmm_plugins.utils.io import atomic_write


def write_atomically(data, filepath, mode='wb', encoding=None):
    """Write ``data`` to ``filepath`` via a temporary file and ``os.replace``."""
    with atomic_write(filepath, mode, encoding) as f:
        f.write(data)


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
