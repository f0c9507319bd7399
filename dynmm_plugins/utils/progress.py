"""Progress bars that can be switched off (``--no-progress``) and work without tqdm."""
from typing import Iterable


def progress_bar(iterable: Iterable, enabled: bool = True, **kwargs) -> Iterable:
    """``iterable`` wrapped in a tqdm bar (``kwargs``: ``desc``, ``unit``, ``total``, ...), or
    as it is when ``enabled`` is false or tqdm is not installed."""
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, dynamic_ncols=True, **kwargs)
