"""Keep freed memory inside the process, so CPU inference does not page-fault its tensors anew.

glibc's malloc serves every block above 32 MiB with a fresh ``mmap`` and unmaps
it on ``free``, so each forward pass touches those pages for the first time again
and the kernel faults and zeroes them one by one. At 480x640 ESANet's decoder
makes several such tensors (40 classes x 480 x 640 floats is 47 MiB), and they
run whatever the branch: measured with one thread, the final depth-wise 3x3
convolution took 152 ms per image with glibc's defaults and 29 ms with freed
memory kept (nearest upsampling 45 -> 12 ms); the whole of branch 0 about 20%
less. onnxruntime allocates its own tensors from its arena, but the numpy arrays that
:class:`~dynmm_plugins.deploy.OnnxDynMM` returns (47 MiB of logits per image) are
allocated on every call: there too, a mixed batch of five images took 1.22-1.24x its
FLOP-proportional time without this setting, 1.02-1.04x with it (README, "Deploy").
"""
import ctypes
import ctypes.util

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: 2 GiB of free heap top is kept


def keep_freed_memory() -> None:
    """Make glibc's malloc reuse freed blocks instead of unmapping them (process-wide).

    Large allocations come from the heap instead of ``mmap`` and the heap is
    never trimmed, so a tensor freed by one forward pass is reused by the next
    (once the heap has grown to its working size, after two or three passes).
    The cost: the process keeps its peak memory until it exits, which is what an
    inference process wants. The same as starting the process with
    ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``.

    Raises:
        RuntimeError: Where the C library is not glibc (no ``mallopt``) or it
            refuses a setting.
    """
    name = ctypes.util.find_library('c')
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc's own symbol: musl also has a mallopt stub
    except (OSError, TypeError, AttributeError):
        raise RuntimeError(f'keeping freed memory needs glibc (mallopt); the C library here is '
                           f'{name or "unknown"}') from None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    for param, value, what in ((_M_MMAP_MAX, 0, 'M_MMAP_MAX=0'),
                               (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD, 'M_TRIM_THRESHOLD')):
        if mallopt(param, value) != 1:
            raise RuntimeError(f'glibc refused mallopt({what})')
