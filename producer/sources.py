"""Tweet sources for the producer: CSV and JSON-lines replays of real archives, and a generator.

Every source yields ``(where, record_or_rejection)``: ``where`` says where the item came from
(for messages about bad rows), the second element is a Tweet record (the Avro schema's fields) or
a RowRejected that the publisher counts by reason.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trendoff.tweet_columns import (
    MAX_TEXT_CHARS,
    ColumnSpec,
    RowReader,
    RowRejected,
    check_readable,
    is_retweet_text,
    iter_csv_records,
)

SourceItem = tuple[str, dict[str, Any] | RowRejected]


def csv_tweets(path: Path, spec: ColumnSpec) -> Iterator[SourceItem]:
    header: list[str] = []
    reader: RowReader | None = None
    for line, values in iter_csv_records(path, spec, header):
        if isinstance(values, RowRejected):
            yield f"{path.name}:{line}", values
            continue
        if reader is None:
            reader = RowReader(spec, header)
        try:
            yield "", reader.tweet(values)  # the location is only built for rows that need it
        except RowRejected as rejected:
            yield f"{path.name}:{line}", rejected


def estimated_rows(path: Path, header_lines: int = 0) -> int | None:
    """About how many records a plain text file holds (its line count), for the progress line's ETA.

    Quoted multi-line fields make it an overestimate; gzipped files give None (no cheap count).
    """
    check_readable(path)
    lines = 0
    with path.open("rb") as handle:
        if handle.read(2) == b"\x1f\x8b":
            return None
        handle.seek(0)
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(0, lines - header_lines)


# --- JSON lines of Twitter API tweet objects -------------------------------------------------------


def _open_text(path: Path) -> Any:
    check_readable(path)
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape")
    return path.open(encoding="utf-8", errors="surrogateescape")


def _api_time(raw: Any) -> dt.datetime:
    """v1.1 writes 'Sat Jan 07 05:44:28 +0000 2023', v2 writes ISO 8601."""
    if not isinstance(raw, str) or not raw:
        raise ValueError("no created_at")
    if raw[:4].isdigit():
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    else:
        parsed = dt.datetime.strptime(raw, "%a %b %d %H:%M:%S %z %Y")
    return parsed.astimezone(dt.UTC)


def _optional_count(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value >= 0 else None


def v1_tweet(obj: dict[str, Any]) -> dict[str, Any]:
    """A Twitter API v1.1 tweet object (full_text or text, user.screen_name) as a Tweet record."""
    user = (obj.get("user") or {}).get("screen_name")
    if not user:
        raise RowRejected("missing-user", "no user.screen_name")
    # Streamed v1.1 objects cut `text` at 140 characters and carry the whole in extended_tweet.
    extended = obj.get("extended_tweet")
    text = (extended.get("full_text") if isinstance(extended, dict) else None) or obj.get("full_text") or (
        obj.get("text") or "")
    return _record(obj.get("id_str") or obj.get("id"), user, text, obj.get("created_at"), obj.get("lang"),
                   bool(obj.get("retweeted_status")) or is_retweet_text(text),
                   obj.get("retweet_count"), obj.get("favorite_count"))


def v2_tweets(obj: dict[str, Any]) -> Iterator[dict[str, Any] | RowRejected]:
    """A v2 response line ({"data": [...], "includes": {"users": [...]}}) or one v2 tweet object."""
    users = {u.get("id"): u.get("username") for u in (obj.get("includes") or {}).get("users", [])}
    data = obj.get("data", obj)
    for tweet in data if isinstance(data, list) else [data]:
        try:
            if not isinstance(tweet, dict):
                raise RowRejected("not-a-tweet", "a v2 data item that is not an object")
            author = tweet.get("author")
            user = users.get(tweet.get("author_id")) or tweet.get("username") or (
                author.get("username") if isinstance(author, dict) else None)
            if not user:
                raise RowRejected("missing-user", f"author {tweet.get('author_id')} not in includes.users")
            metrics = tweet.get("public_metrics") or {}
            referenced = tweet.get("referenced_tweets") or []
            text = tweet.get("text") or ""
            yield _record(tweet.get("id"), user, text, tweet.get("created_at"), tweet.get("lang"),
                          any(r.get("type") == "retweeted" for r in referenced) or is_retweet_text(text),
                          metrics.get("retweet_count"), metrics.get("like_count"))
        except RowRejected as rejected:
            yield rejected


_SURROGATES = re.compile("[\ud800-\udfff]")


def _record(raw_id: Any, user: str, text: str, raw_time: Any, lang: Any, retweet: bool,
            retweets: Any, favorites: Any) -> dict[str, Any]:
    try:
        tweet_id = int(raw_id)
    except (TypeError, ValueError):
        raise RowRejected("bad-id", f"id {raw_id!r} is not a tweet id") from None
    if not 0 < tweet_id < 2**63:
        raise RowRejected("bad-id", f"id {raw_id!r} is out of range")
    if not isinstance(text, str) or not text.strip():
        raise RowRejected("empty-text", "the text is empty")
    if _SURROGATES.search(text) or _SURROGATES.search(user):
        # Bytes that were not UTF-8 (or a lone \\ud800-style escape): Avro strings must be valid UTF-8.
        raise RowRejected("bad-encoding", "the text or user holds bytes that are not UTF-8")
    if len(text) > MAX_TEXT_CHARS:
        raise RowRejected("text-too-long", f"{len(text):,} characters (at most {MAX_TEXT_CHARS:,})")
    try:
        created_at = _api_time(raw_time)
    except (ValueError, TypeError):
        raise RowRejected("bad-timestamp", f"created_at {raw_time!r} is not a Twitter time") from None
    return {
        "id": tweet_id,
        "user": user.lstrip("@"),
        "text": text,
        "created_at": created_at,
        "lang": lang if isinstance(lang, str) and lang and lang != "und" else None,
        "is_retweet": retweet,
        "retweet_count": _optional_count(retweets),
        "favorite_count": _optional_count(favorites),
    }


def jsonl_tweets(path: Path) -> Iterator[SourceItem]:
    """Tweets from JSON lines (plain or gzipped) of v1.1 or v2 tweet objects, one object per line."""
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            where = f"{path.name}:{number}"
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                yield where, RowRejected("malformed-json", f"not a JSON object: {error}")
                continue
            if not isinstance(obj, dict):
                yield where, RowRejected("malformed-json", "the line is not a JSON object")
                continue
            for item in _api_object_tweets(obj):
                yield where, item


def _api_object_tweets(obj: dict[str, Any]) -> list[dict[str, Any] | RowRejected]:
    """The tweets of one JSON line; an object of the wrong shape is a rejection, not a crash."""
    try:
        if "user" in obj:
            return [v1_tweet(obj)]
        if "data" in obj or "author_id" in obj or "author" in obj:
            return list(v2_tweets(obj))
    except RowRejected as rejected:
        return [rejected]
    except (AttributeError, TypeError, ValueError) as error:
        # A field of an unexpected type (a string where an object belongs, ...): the input's fault.
        return [RowRejected("malformed-tweet", f"not a tweet object of the API's shape: {error}")]
    return [RowRejected("not-a-tweet", "neither a v1.1 nor a v2 tweet object")]


# --- synthetic tweets for load tests ---------------------------------------------------------------

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zu", "be", "da", "fi", "go", "he", "ju", "po")


def synthetic_vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def synthetic_tweets(
    count: int,
    users: int,
    seed: int = 7,
    vocabulary_size: int = 5000,
    zipf_exponent: float = 1.1,
    start: dt.datetime | None = None,
) -> Iterator[SourceItem]:
    """``count`` seeded tweets by ``users`` users, words drawn from a Zipf-distributed vocabulary.

    Users are Zipf-distributed too (a few prolific accounts, a long tail); times advance a few
    seconds per tweet from ``start`` (default 2016-01-01); ~10% are retweets; some stop words and a
    hashtag or mention now and then keep the word rule honest.
    """
    rng = random.Random(seed)
    vocabulary = synthetic_vocabulary(vocabulary_size, rng)
    # Cumulative weights computed once: random.choices would otherwise re-sum them on every call.
    word_cumulative = list(itertools.accumulate(1 / (rank**zipf_exponent) for rank in range(1, vocabulary_size + 1)))
    handles = [f"user{n:05d}" for n in range(users)]
    user_cumulative = list(itertools.accumulate(1 / (rank**0.8) for rank in range(1, users + 1)))
    fillers = ("the", "and", "is", "to", "of", "a", "in", "RT", "&amp;")
    moment = start or dt.datetime(2016, 1, 1, tzinfo=dt.UTC)
    words_per_tweet = range(6, 19)
    for number in range(count):
        user = rng.choices(handles, cum_weights=user_cumulative)[0]
        words = rng.choices(vocabulary, cum_weights=word_cumulative, k=rng.choice(words_per_tweet))
        words += rng.sample(fillers, 2)
        if rng.random() < 0.1:
            words.append("#" + rng.choice(vocabulary[:50]))
        if rng.random() < 0.1:
            words.insert(0, "@" + rng.choice(handles))
        rng.shuffle(words)
        retweet = rng.random() < 0.1
        text = " ".join(words)
        moment += dt.timedelta(seconds=rng.randint(1, 30))
        yield f"synthetic:{number}", {
            "id": 10**15 + seed * 10**9 + number,
            "user": user,
            "text": ("RT @" + rng.choice(handles) + ": " + text) if retweet else text,
            "created_at": moment,
            "lang": "en",
            "is_retweet": retweet,
            "retweet_count": rng.randint(0, 500),
            "favorite_count": rng.randint(0, 2000),
        }
