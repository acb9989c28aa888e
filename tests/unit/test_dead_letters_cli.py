"""`trendoff dead-letters`: the previews of what the jobs refused, and its mistakes as one line, exit 2."""

from __future__ import annotations

import pytest

from trendoff.apps.dead_letters import main, preview
from trendoff.errors import TrendoffError


@pytest.mark.parametrize(("data", "expected"), [
    (None, None),
    (b"", "''"),
    (b"plain text", "'plain text'"),
    ("東京 tweet".encode(), "'東京 tweet'"),
    (b"\x00\x01not avro at all", "b'\\x00\\x01not avro at all'"),
    (b"\x02\x0cbob\x10hi there", "b'\\x02\\x0cbob\\x10hi there'"),
    (b"k" * 1024, "'" + "k" * 58 + "…"),
    # A kept preview cut inside a UTF-8 character (the first KiB) is still text.
    ("é".encode() * 600, "'" + "é" * 58 + "…"),
    (bytes(range(200, 256)), repr(bytes(range(200, 256)))[:59] + "…"),
])
def test_previews_are_printable_escaped_and_short(data: bytes | None, expected: str | None) -> None:
    assert preview(data) == expected
    assert expected is None or len(expected) <= 60


@pytest.mark.parametrize(("argv", "message"), [
    (["--job", "batch"], "--job must be ingest or speed, not 'batch'"),
    (["--limit", "0"], "--limit must be greater than 0"),
])
def test_bad_options_are_user_mistakes(argv: list[str], message: str) -> None:
    with pytest.raises(TrendoffError) as raised:
        main(argv)
    assert raised.value.message == message
