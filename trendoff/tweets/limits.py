"""THE limits a tweet must satisfy so that every view can store it (a Python and a Spark form), and the
one function every source builds its Tweet records with.

The producer checks every record it builds with :func:`limit_violation` (a rejected row, counted by
reason, so users learn early); the streaming jobs check every decoded message with
:func:`limit_violation_column` (a dead letter with the same reason), because other producers may
write to the topic. Both forms test the same things in the same order and give the same tag.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import TYPE_CHECKING, Any

from trendoff.times import EPOCH
from trendoff.views.keys import user_key, user_key_column

if TYPE_CHECKING:  # the producer and serving must not pay for importing pyspark
    from pyspark.sql import Column

# Longer texts are not tweets (X's long posts stop at 25,000 characters; archives hold 280 at most).
# The word rule is promised to run in linear time up to this length (SPEC §3).
MAX_TEXT_CHARS = 25_000
# The user key is a Cassandra partition key (speed_words) and clustering key (batch_words), which
# Cassandra caps at 64 KiB; X handles are at most 15 characters. 100 leaves room for other sources'
# names while keeping every key far below the cap (100 characters are at most 400 UTF-8 bytes).
MAX_USER_CHARS = 100
# Event times must stay far from the ends of Python's datetime (year 1..9999): a time near the end
# of 9999 broke writes, because shifting it by a zone offset or rounding it up to a minute leaves
# the range (OverflowError in the Cassandra driver and in Python code reading the views back).
# Tweets exist since 2006; [1970, 2100) holds every real one and is a non-negative epoch everywhere.
EARLIEST_TIME = EPOCH
END_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
MAX_TWEET_ID = 2**63 - 1  # Avro long and Cassandra bigint; ids are positive
_EARLIEST_MICROS = (EARLIEST_TIME - EPOCH) // dt.timedelta(microseconds=1)
_END_MICROS = (END_TIME - EPOCH) // dt.timedelta(microseconds=1)
# Lone surrogates: bytes a reader kept undecoded (surrogateescape) or a JSON "\\ud800" escape; not UTF-8.
SURROGATES = re.compile("[\ud800-\udfff]")


class RowRejected(Exception):  # noqa: N818 - a rejection, not an error of the program
    """A row that cannot become a tweet; ``reason`` is the tag it is counted under."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def limit_violation(tweet: dict[str, Any]) -> RowRejected | None:
    """None when every view can store ``tweet`` (a Tweet record), else the first limit it breaks."""
    tweet_id = tweet.get("id")
    if type(tweet_id) is not int or not 0 < tweet_id <= MAX_TWEET_ID:
        return RowRejected("bad-id", f"id {tweet_id!r} is not a positive 64-bit tweet id")
    user = tweet.get("user")
    key = user_key(user) if isinstance(user, str) else ""
    if not key:
        return RowRejected("missing-user", f"user {user!r} is empty once '@' and spaces are removed")
    if len(key) > MAX_USER_CHARS:
        return RowRejected("user-too-long", f"user has {len(key):,} characters (at most {MAX_USER_CHARS})")
    text = tweet.get("text")
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        return RowRejected("text-too-long", f"{len(text):,} characters (at most {MAX_TEXT_CHARS:,})")
    created_at = tweet.get("created_at")
    if isinstance(created_at, dt.datetime) and created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)  # naive times are UTC, as the driver returns them
    if not isinstance(created_at, dt.datetime) or not EARLIEST_TIME <= created_at < END_TIME:
        return RowRejected("time-out-of-range", f"created_at {created_at} is not in [1970-01-01, 2100-01-01) UTC")
    return None


def limit_violation_column(tweet: Column) -> Column:
    """The same rule on a struct column of the Tweet fields: null when fine, else the reason tag."""
    from pyspark.sql import functions as F

    tweet_id, key = tweet["id"], user_key_column(tweet["user"])
    micros = F.unix_micros(tweet["created_at"])
    # Conditions are written null-safe: when() treats a null condition as false, which would pass.
    # A long cannot exceed MAX_TWEET_ID, so only the lower bound of the id needs a test here.
    return (
        F.when(tweet_id.isNull() | (tweet_id <= 0), F.lit("bad-id"))
        .when(key.isNull() | (F.length(key) == 0), F.lit("missing-user"))
        .when(F.length(key) > MAX_USER_CHARS, F.lit("user-too-long"))
        # Spark's length counts code points, like Python's len (an emoji is one character in both).
        .when(F.length(tweet["text"]) > MAX_TEXT_CHARS, F.lit("text-too-long"))
        .when(micros.isNull() | (micros < _EARLIEST_MICROS) | (micros >= _END_MICROS), F.lit("time-out-of-range"))
    )


def whole_number(raw: object) -> int | None:
    """A count as sources write it (12, 12.0, '12', '1,234', ' 12 '); None when absent; ValueError if not a number.

    Values Python cannot make an int of (inf, nan, 1e400, a string of 5,000 digits) are ValueErrors
    too, so a bad value is a rejected row, never a traceback.
    """
    if raw is None or raw == "":
        return None
    if type(raw) is int:
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError(f"{raw!r} is not a finite number")
        return int(raw)
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a number")
    try:
        return int(raw)  # the common case, and the fast one
    except ValueError:
        pass
    cleaned = raw.strip().replace(",", "")
    if not cleaned:
        return None
    number = float(cleaned)  # a ValueError when it is not a number; > 4,300 digits become inf
    if not math.isfinite(number):
        raise ValueError(f"{raw[:40]!r} is not a finite number")
    return int(number)


def tweet_id_value(raw: object, field: str = "id") -> int:
    """An id as sources write it: an int or a string of digits. Its range is a limit (tweet_limits)."""
    if type(raw) is int:
        return raw
    if isinstance(raw, str):
        digits = raw.strip()
        # Ids have at most 19 digits (2**63 - 1); longer strings would only be slow to convert.
        if digits.isascii() and digits.isdigit():
            if len(digits) <= 19:
                return int(digits)
            raise RowRejected("bad-id", f"{field} {digits[:40]!r} is out of range")
    shown = raw[:40] if isinstance(raw, str) else raw
    raise RowRejected("bad-id", f"{field} {shown!r} is not a tweet id")


def tweet_record(
    tweet_id: int, user: str, text: str, created_at: dt.datetime, lang: str | None, is_retweet: bool,
    retweet_count: int | None, favorite_count: int | None,
) -> dict[str, Any]:
    """THE Tweet record (the Avro schema's fields) every source builds: CSV rows, JSON lines, the X API, the generator.

    Checks what every record must satisfy and raises RowRejected saying why not: a text that is
    empty, text or user that is not valid UTF-8 (Avro strings must be), a count outside 0..2**63-1,
    and the limits every view needs (:func:`trendoff.tweets.limits.limit_violation`).
    """
    user = user.strip().lstrip("@").strip()  # the handle as the source spells it, without '@' ('@ ann' too)
    if not text or text.isspace():
        raise RowRejected("empty-text", "the text is empty")
    # Bytes that were not UTF-8 (or a lone \ud800-style escape in JSON); isascii() is the fast common case.
    if (not text.isascii() and SURROGATES.search(text)) or (not user.isascii() and SURROGATES.search(user)):
        raise RowRejected("bad-encoding", "the text or user holds bytes that are not UTF-8")
    if retweet_count is not None and not 0 <= retweet_count <= MAX_TWEET_ID:
        raise RowRejected("bad-count", f"retweet count {retweet_count} is not between 0 and 2**63-1")
    if favorite_count is not None and not 0 <= favorite_count <= MAX_TWEET_ID:
        raise RowRejected("bad-count", f"favorite count {favorite_count} is not between 0 and 2**63-1")
    record = {
        "id": tweet_id,
        "user": user,
        "text": text,
        "created_at": created_at,
        "lang": lang or None,
        "is_retweet": is_retweet,
        "retweet_count": retweet_count,
        "favorite_count": favorite_count,
    }
    violation = limit_violation(record)
    if violation is not None:
        raise violation
    return record
