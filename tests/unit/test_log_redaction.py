"""No secret reaches a log line, at any level and from any logger (tweepy's request headers included)."""

from __future__ import annotations

import logging

import pytest

from trendoff.logs import configure_logging


def test_secrets_and_credentials_are_redacted_in_every_logger(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRENDOFF_X_BEARER_TOKEN", "AAAA-secret-token-value")
    configure_logging("DEBUG")
    try:
        logging.getLogger("tweepy.client").debug("Making API request: GET %s headers=%s", "/2/users",
                                                 {"Authorization": "Bearer AAAA-secret-token-value"})
        logging.getLogger("trendoff.x").info("token in a message: AAAA-secret-token-value")
        logging.getLogger("somewhere").warning("another credential: Authorization: Bearer zzz-other")
        logging.getLogger("trendoff.x").info("nothing secret here: 42 tweets")
    finally:
        configure_logging("INFO")
    err = capsys.readouterr().err
    assert "AAAA-secret-token-value" not in err and "zzz-other" not in err
    assert err.count("[redacted]") == 3 and "nothing secret here: 42 tweets" in err
