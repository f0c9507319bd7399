"""Small helpers shared by the command-line tools: one-line errors, option parsing, devices."""
import argparse
import sys
from typing import Callable, Optional, Sequence

#: Exceptions a tool reports as one line (``prog: error: message``) instead of a traceback.
USER_ERRORS = (FileNotFoundError, ValueError, KeyError)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message}\n')


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options K=V ...`` as in MMSeg's own tools."""
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='K=V',
        help='override config settings, e.g. test_dataloader.dataset.data_root=DIR '
             'test_dataloader.num_workers=0')


def default_device() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def argparse_type(check: Callable, what: str) -> Callable:
    """Wrap a validator that raises ValueError into an argparse ``type`` (naming ``what``)."""

    def convert(text):
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = what
    return convert


def run_tool(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None,
             prog: Optional[str] = None) -> int:
    """Run ``main(argv)``; user errors become ``prog: error: message`` and exit code 1."""
    try:
        return main(argv) or 0
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        first = str(message).strip().splitlines()[0] if str(message).strip() else type(exc).__name__
        print(f'{prog or sys.argv[0]}: error: {first}', file=sys.stderr)
        return 1
