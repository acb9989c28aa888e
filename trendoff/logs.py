"""Logging set-up, called once per process by the CLI or a job's main."""

from __future__ import annotations

import logging
import os
import re
import sys

from trendoff.config import secret_values
from trendoff.settings import ENV_VARS, Settings

_NOISY_LOGGERS = ("py4j", "kafka", "urllib3", "matplotlib", "PIL")
# The Cassandra driver logs a traceback at ERROR for every refused connection attempt; trendoff
# turns those failures into one-line TrendoffErrors itself, so only its critical messages show.
_QUIET_LOGGERS = ("cassandra", "trendoff.librdkafka")


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now (test captures swap it), not the one at set-up."""

    @property  # type: ignore[override]
    def stream(self):  # a text stream
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


# Credentials in a header or URL, whatever their value: "Authorization: Bearer abc", "'Bearer abc'".
_CREDENTIAL = re.compile(r"(?i)(bearer\s+|basic\s+|password[=:]\s*)[^\s'\",}]+")
REDACTED = "[redacted]"


class _RedactSecrets(logging.Filter):
    """Takes secrets out of every record before it is written (the message with its arguments filled in)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if len(secret) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _CREDENTIAL.sub(lambda found: found.group(1) + REDACTED, message)
        for secret in self.secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# Secrets a process learns after its logging is set up (the passwords `stack up --secure` makes), kept
# for the filter of this and of any later set-up.
_LATER_SECRETS: list[str] = []
_FILTERS: list[_RedactSecrets] = []


def redact_also(secrets: list[str]) -> None:
    """Filter these values out of every log record from now on."""
    _LATER_SECRETS.extend(secret for secret in secrets if len(secret) >= 4)
    for active in _FILTERS:
        active.secrets.extend(secret for secret in secrets if len(secret) >= 4)


def configure_logging(level: str | int | None = None) -> None:
    """Log to stderr with timestamps; TRENDOFF_LOG_LEVEL overrides the default INFO."""
    # Read before any settings are loaded (a bad setting must be logged too), under the one variable name.
    chosen = level or os.environ.get(ENV_VARS["log_level"]) or Settings.log_level
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    # The secret settings (config.SECRET_SETTINGS), from their variables or _FILE files, whoever would log
    # them (tweepy logs its request headers at DEBUG).
    redacting = _RedactSecrets(secret_values() + _LATER_SECRETS)
    _FILTERS[:] = [redacting]
    handler.addFilter(redacting)
    logging.basicConfig(level=chosen, handlers=[handler], force=True)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
