"""How every trendoff process starts: logging set up once, a TrendoffError as one line and exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from trendoff.errors import TrendoffError
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
    except KeyboardInterrupt:
        print("trendoff: interrupted", file=sys.stderr)
        return 130


CONTRACT_DOC = "docs/contract.md"


def command_parser(prog: str, description: str, contract_section: str = "") -> argparse.ArgumentParser:
    """The argument parser of a trendoff command: its one-paragraph description and a pointer to the contract."""
    where = f"{CONTRACT_DOC}#{contract_section}" if contract_section else CONTRACT_DOC
    return argparse.ArgumentParser(prog=prog, description=description, epilog=f"The contract: {where}")
