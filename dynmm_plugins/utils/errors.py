"""One error convention for every entry point of the project.

Tools (``tools/*.py``), the MultiBench example scripts and, through our hooks and
loaders, ``mim train``/``mim test`` all follow it:

- bad input raises an exception whose message is the whole story: it names the
  file, key or value at fault (:class:`DynMMUserError` for new code; the built-in
  ``ValueError``/``FileNotFoundError``/... of library code count too);
- :func:`run_entry_point` prints that message, whole, as ``prog: error: message``
  on stderr and returns exit code 2 (:data:`EXIT_BAD_INPUT`, argparse's code for a
  usage error); an unexpected failure prints one ``prog: internal error: ...`` line
  and returns 1; ``--debug`` (or ``DYNMM_DEBUG=1``) shows the traceback instead;
- an exception raised in a DataLoader worker reaches the user with the project's
  message, not torch's ``Caught ValueError in DataLoader worker process 1.``

This module needs only the standard library: ``multibench_ext`` uses it beside
torch alone, without mmengine.
"""
import argparse
import os
import re
import sys
import traceback
from typing import Callable, Optional, Sequence

#: Exit code of a run stopped by bad input (as argparse's usage errors).
EXIT_BAD_INPUT = 2
#: Exit code of a run stopped by an unexpected error (a bug, not the input).
EXIT_INTERNAL = 1
#: Flag and environment variable that bring the traceback back.
DEBUG_FLAG = '--debug'
DEBUG_ENV = 'DYNMM_DEBUG'


class DynMMUserError(ValueError):
    """Bad input that the user fixes: the message names the file, key or value at fault.

    A ``ValueError`` so that callers which catch ``ValueError`` keep working.
    """


#: Exceptions that mean "the input is wrong", reported without a traceback.
USER_ERRORS = (DynMMUserError, ValueError, KeyError, FileNotFoundError, FileExistsError,
               NotADirectoryError, IsADirectoryError, PermissionError)

# torch's ExceptionWrapper.reraise: "Caught ValueError in DataLoader worker process 1.\n
# Original Traceback (most recent call last):\n  File ...\nValueError: message"
_WORKER_PREFIX = re.compile(r'^Caught \w+ in (DataLoader worker process \d+|pin memory thread)')
_EXC_LINE = re.compile(r'^(?:[A-Za-z_][\w.]*\.)?(\w+(?:Error|Exception|Exit|Interrupt|Warning)|'
                       r'StopIteration|[A-Z]\w*):(?: (.*))?$')


def _worker_message(text: str) -> Optional[str]:
    """The original message inside torch's DataLoader-worker wrapper text (None if not one)."""
    if not _WORKER_PREFIX.match(text):
        return None
    lines = text.splitlines()
    # the last exception of the (possibly chained) traceback starts at the last line that
    # is not indented (traceback frames and source lines are) and names an exception type
    for i in range(len(lines) - 1, 0, -1):
        line = lines[i]
        if line and not line[0].isspace():
            match = _EXC_LINE.match(line)
            if match and not line.startswith(('Traceback', 'Original Traceback')):
                first = match.group(2) or ''
                rest = [ln for ln in lines[i + 1:] if ln.strip()]
                message = ' '.join([first] + rest).strip()
                if message.startswith(("'", '"')) and message.endswith(message[0]) and len(message) > 1:
                    message = message[1:-1]  # a KeyError's repr
                return message or match.group(1)
    return None


def error_message(exc: BaseException) -> str:
    """The whole message of ``exc`` on one line; never empty.

    A KeyError's message is its argument (not its repr); a DataLoader worker's
    wrapper is replaced by the original message; an exception without message
    is named by its type and, when it has one, by the message of its cause.
    """
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])
    else:
        text = str(exc)
    text = text.strip()
    original = _worker_message(text)
    if original is not None:
        text = original
    if not text:
        cause = exc.__cause__ or exc.__context__
        text = type(exc).__name__ + (f' ({error_message(cause)})' if cause is not None else '')
    # one line: the project's messages are single lines; others are joined, not cut
    return ' '.join(part.strip() for part in text.splitlines() if part.strip())


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or the original of a DataLoader-worker wrapper) means bad input."""
    return isinstance(exc, USER_ERRORS)


def debug_requested(argv: Optional[Sequence[str]] = None) -> bool:
    """``--debug`` among the arguments or ``DYNMM_DEBUG=1`` in the environment."""
    argv = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, '') not in ('', '0')


def report_error(exc: BaseException, prog: str, debug: bool = False) -> int:
    """Print ``exc`` by the convention and return the exit code it maps to."""
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if is_user_error(exc):
        print(f'{prog}: error: {error_message(exc)}', file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    hint = '' if debug else f' (run again with {DEBUG_FLAG} for the traceback)'
    print(f'{prog}: internal error: {type(exc).__name__}: {error_message(exc)}{hint}',
          file=sys.stderr, flush=True)
    return EXIT_INTERNAL


def run_entry_point(main: Callable[[Optional[Sequence[str]]], Optional[int]],
                    argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """Run ``main(argv)`` by the convention; returns the exit code.

    ``SystemExit`` (argparse's own usage errors, exit code 2) passes through;
    Ctrl-C returns 130 with one line.
    """
    prog = prog or os.path.basename(sys.argv[0])
    try:
        return main(argv) or 0
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # noqa: BLE001  (the convention handles every kind)
        return report_error(exc, prog, debug_requested(argv))


_PROJECT_DIRS = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), name) + os.sep for name in ('dynmm_plugins', 'multibench_ext'))


def _raised_by_project(exc: BaseException) -> bool:
    """Whether ``exc`` is ours: a DynMMUserError, raised in our code, or a worker-wrapped message."""
    if isinstance(exc, DynMMUserError) or _worker_message(str(exc).strip()) is not None:
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(_PROJECT_DIRS)


def _excepthook(exc_type, exc, tb, previous=sys.excepthook):
    interactive = hasattr(sys, 'ps1') or sys.flags.interactive  # a REPL must survive its errors
    if not interactive and is_user_error(exc) and _raised_by_project(exc) and not debug_requested([]):
        prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'python'
        print(f'{prog}: error: {error_message(exc)} (set {DEBUG_ENV}=1 for the traceback)',
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        import logging
        logging.shutdown()
        os._exit(EXIT_BAD_INPUT)  # the convention's exit code; an excepthook cannot return one
    previous(exc_type, exc, tb)


def install_excepthook() -> None:
    """Report our bad-input errors that nobody catches by the convention (``mim train/test``).

    ``mim`` runs MMSeg's own ``tools/train.py``/``test.py``, where our datasets,
    transforms, hooks and loaders raise; without this the project's message is the last
    line of a long traceback. Only bad-input errors raised by our code (or by a
    DataLoader worker) are shortened; everything else keeps Python's report.
    """
    if getattr(sys.excepthook, '__name__', '') != '_excepthook':
        sys.excepthook = lambda t, e, tb, previous=sys.excepthook: _excepthook(t, e, tb, previous)
        sys.excepthook.__name__ = '_excepthook'


def add_debug_flag(parser) -> None:
    """Give an argparse parser the ``--debug`` flag that :func:`run_entry_point` reads."""
    parser.add_argument(DEBUG_FLAG, action='store_true',
                        help='show the traceback of an error (also DYNMM_DEBUG=1)')


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` by the convention: a usage error is one line
    (``prog: error: message``, no usage block) and exit code 2; has ``--debug``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_debug_flag(self)

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f'{self.prog}: error: {message}\n')
