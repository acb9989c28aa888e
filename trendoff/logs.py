"""Logging set-up, called once per process by the CLI or a job's main."""

from __future__ import annotations

import logging
import os

_NOISY_LOGGERS = ("py4j", "kafka", "urllib3", "matplotlib", "PIL")
# The Cassandra driver logs a traceback at ERROR for every refused connection attempt; trendoff
# turns those failures into one-line TrendoffErrors itself, so only its critical messages show.
_QUIET_LOGGERS = ("cassandra",)


def configure_logging(level: str | int | None = None) -> None:
    """Log to stderr with timestamps; TRENDOFF_LOG_LEVEL overrides the default INFO."""
    chosen = level or os.environ.get("TRENDOFF_LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=chosen,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
