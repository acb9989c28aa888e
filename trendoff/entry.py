"""How every trendoff process starts: logging set up once, a TrendoffError as one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from trendoff.errors import Terminated, TrendoffError
from trendoff.logs import configure_logging


def run_main(main: Callable[[Sequence[str]], int | None], argv: Sequence[str]) -> int:
    """Run a layer's main with logging set up; a TrendoffError becomes one line on stderr and exit 2."""
    configure_logging()
    try:
        return main(argv) or 0
    except TrendoffError as error:
        print(f"trendoff: error: {error.message}", file=sys.stderr)
        if error.detail:
            print(error.detail, file=sys.stderr)
        return 2
    except Terminated:
        print("trendoff: stopped (SIGTERM)", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        print("trendoff: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def on_sigterm(action: Callable[[], None]) -> Iterator[None]:
    """Call ``action`` when SIGTERM arrives during the block (in the main thread, between two Python steps);
    the previous handler comes back after. Outside the main thread signals cannot be handled: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: action())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


CONTRACT_DOC = "docs/contract.md"


def command_parser(prog: str, description: str, contract_section: str = "") -> argparse.ArgumentParser:
    """The argument parser of a trendoff command: its one-paragraph description and a pointer to the contract."""
    where = f"{CONTRACT_DOC}#{contract_section}" if contract_section else CONTRACT_DOC
    return argparse.ArgumentParser(prog=prog, description=description, epilog=f"The contract: {where}")
