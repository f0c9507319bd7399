"""Errors a user fixes by running or setting something; the example scripts print them as one line.

They follow the project's error convention (:mod:`dynmm_plugins.utils.errors`, standard
library only): one line, exit code 2, no traceback unless ``--debug``.
"""
from dynmm_plugins.utils.errors import DynMMUserError


class MultiBenchExtError(DynMMUserError):
    """Base class: the message alone tells the user what to run or set."""


class SetupError(MultiBenchExtError):
    """Something the run needs is missing: MultiBench, a data file, an expert checkpoint."""


class DataFormatError(MultiBenchExtError, ValueError):
    """A data or checkpoint file exists but is not in the format MultiBench (or our scripts) wrote."""
