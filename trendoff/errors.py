"""The one exception for user mistakes and environment problems: the CLI prints it as one line, exit 2."""

from __future__ import annotations


class TrendoffError(Exception):
    """A problem the user can fix (bad input, missing setup, a port in use), not a bug in trendoff.

    ``reason`` is a short machine-readable tag (used in tests and logs), ``message`` is written for
    the user, and ``detail`` is optional extra text such as the tail of a server log.
    """

    def __init__(self, reason: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be (producer.publish): the same orderly stop, but asked
    for by a supervisor or `kill`, so the command ends with exit code 0 rather than 130."""
