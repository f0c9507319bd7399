"""Atomic file writes: a reader sees the old file or the complete new one, never half of it."""
import contextlib
import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import IO, Iterator, Optional, Union


def _default_permissions() -> int:
    # What open() would give a new file (0666 minus the umask); mkstemp gives 0600.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb', encoding: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it over ``path``.

    The temporary file is named ``.<name>.<random>.tmp`` in the same folder (a rename
    is atomic only within one file system). On any error, or if the process is
    interrupted, ``path`` is left as it was; the block's exception propagates and
    the temporary file is removed. The new file gets the permissions a plain
    ``open()`` would give it.

    Example::

        with atomic_write('weights.json', 'w') as f:
            json.dump(obj, f)
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_permissions())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes (how budget files and ONNX manifests name a checkpoint)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def write_file_atomic(path: str, data: Union[str, bytes]) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` through :func:`atomic_write`."""
    with atomic_write(path, 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)


def read_json(path: str, what: str, how_to_make: Optional[str] = None):
    """The content of the JSON file ``path``, or one clear error naming ``what`` ('budget file') and it.

    ``how_to_make``: said after a missing file's message (e.g. the command that writes it).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} not found' + (f': {how_to_make}' if how_to_make else ''))
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:  # a UnicodeDecodeError is a ValueError
        raise ValueError(f'{what} {path} is not valid JSON: {exc}') from None
