"""Tweet sources for the producer: CSV and JSON-lines replays of real archives, and a generator.

Every source yields ``(where, record_or_rejection)``: ``where`` says where the item came from
(for messages about bad rows), the second element is a Tweet record (the Avro schema's fields) or
a RowRejected that the publisher counts by reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from trendoff.tweets.columns import MAX_TIME_CHARS, RowReader, is_retweet_text
from trendoff.tweets.csv_rows import BrokenInputError, ColumnSpec, bounded_lines, check_readable, iter_csv_records
from trendoff.tweets.limits import MAX_TEXT_CHARS, RowRejected, tweet_id_value, tweet_record, whole_number

__all__ = ["BrokenInputError", "SourceItem", "csv_tweets", "estimated_rows", "jsonl_tweets", "synthetic_tweets",
           "v1_tweet", "v2_tweets"]

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

# A v1.1 object can carry its text three times (text, extended_tweet, a retweeted or quoted status),
# each non-ASCII character escaped as \\uXXXX (6 characters), plus user objects and entities: 40
# texts is room for any real line, and the most a line may hold in memory.
MAX_JSON_LINE_CHARS = 40 * MAX_TEXT_CHARS


@contextlib.contextmanager
def _open_lines(path: Path) -> Iterator[Iterator[str | None]]:
    """The physical lines of a plain or gzipped UTF-8 file, bounded (see trendoff.tweets.csv_rows.bounded_lines)."""
    check_readable(path)
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[assignment]
        # Bad bytes are kept as surrogates, so one bad byte costs one line (a bad-encoding rejection).
        with io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape") as text:
            yield bounded_lines(text, MAX_JSON_LINE_CHARS, path.name, compressed=raw)


def _api_time(raw: Any) -> dt.datetime:
    """v1.1 writes 'Sat Jan 07 05:44:28 +0000 2023', v2 writes ISO 8601; a RowRejected when neither."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TIME_CHARS:
        raise RowRejected("bad-timestamp", f"created_at {str(raw)[:60]!r} is not a Twitter time")
    try:
        if raw[:4].isdigit():
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        else:
            parsed = dt.datetime.strptime(raw, "%a %b %d %H:%M:%S %z %Y")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except ValueError:
        raise RowRejected("bad-timestamp", f"created_at {raw!r} is not a Twitter time") from None
    except OverflowError:
        # Well-formed, but its UTC time is past what a datetime holds (9999-12-31T23:59:59-01:00).
        raise RowRejected("time-out-of-range", f"created_at {raw!r} is not a storable time") from None


def _api_count(raw: Any, field: str) -> int | None:
    try:
        return whole_number(raw)
    except ValueError:
        raise RowRejected("bad-count", f"{field} {str(raw)[:40]!r} is not a number") from None


def _handle(raw: Any) -> str:
    return raw if isinstance(raw, str) else ""


def v1_tweet(obj: dict[str, Any]) -> dict[str, Any]:
    """A Twitter API v1.1 tweet object (full_text or text, user.screen_name) as a Tweet record."""
    author = obj.get("user")
    if not isinstance(author, dict):
        raise RowRejected("malformed-tweet", "not a tweet object of the API's shape: user is not an object")
    user = _handle(author.get("screen_name"))
    if not user:
        raise RowRejected("missing-user", "no user.screen_name")
    # Streamed v1.1 objects cut `text` at 140 characters and carry the whole in extended_tweet.
    extended = obj.get("extended_tweet")
    text = (extended.get("full_text") if isinstance(extended, dict) else None) or obj.get("full_text") or (
        obj.get("text") or "")
    return _record(obj.get("id_str") or obj.get("id"), user, text, obj.get("created_at"), obj.get("lang"),
                   bool(obj.get("retweeted_status")), obj.get("retweet_count"), obj.get("favorite_count"))


def v2_tweets(obj: dict[str, Any]) -> Iterator[dict[str, Any] | RowRejected]:
    """A v2 response line ({"data": [...], "includes": {"users": [...]}}) or one v2 tweet object."""
    includes = obj.get("includes")
    listed = includes.get("users") if isinstance(includes, dict) else None
    users = {u.get("id"): u.get("username") for u in listed or [] if isinstance(u, dict)}
    data = obj.get("data", obj)
    for tweet in data if isinstance(data, list) else [data]:
        try:
            if not isinstance(tweet, dict):
                raise RowRejected("not-a-tweet", "a v2 data item that is not an object")
            author = tweet.get("author")
            user = _handle(users.get(tweet.get("author_id")) or tweet.get("username") or (
                author.get("username") if isinstance(author, dict) else None))
            if not user:
                raise RowRejected("missing-user", f"author {tweet.get('author_id')} not in includes.users")
            metrics = tweet.get("public_metrics")
            metrics = metrics if isinstance(metrics, dict) else {}
            referenced = tweet.get("referenced_tweets")
            retweeted = isinstance(referenced, list) and any(
                isinstance(r, dict) and r.get("type") == "retweeted" for r in referenced)
            yield _record(tweet.get("id"), user, tweet.get("text") or "", tweet.get("created_at"), tweet.get("lang"),
                          retweeted, metrics.get("retweet_count"), metrics.get("like_count"))
        except RowRejected as rejected:
            yield rejected
        except (AttributeError, TypeError, ValueError, OverflowError) as error:
            # A field of an unexpected type (a string where an object belongs, ...): the input's fault.
            yield RowRejected("malformed-tweet", f"not a tweet object of the API's shape: {error}")


def _record(raw_id: Any, user: str, text: Any, raw_time: Any, lang: Any, retweet: bool,
            retweets: Any, favorites: Any) -> dict[str, Any]:
    """An API tweet's fields, converted, as the one checked Tweet record (trendoff.tweets.limits.tweet_record)."""
    if not isinstance(text, str):
        raise RowRejected("empty-text", "the text is not a string")
    return tweet_record(
        tweet_id_value(raw_id), user, text, _api_time(raw_time),
        lang if isinstance(lang, str) and lang != "und" else None,  # 'und': the API could not tell
        retweet or is_retweet_text(text),
        _api_count(retweets, "retweet_count"), _api_count(favorites, "favorite_count"),
    )


def jsonl_tweets(path: Path) -> Iterator[SourceItem]:
    """Tweets from JSON lines (plain or gzipped) of v1.1 or v2 tweet objects, one object per line.

    A line that is not a tweet is a rejection; a stream that breaks (a truncated gzip) ends the
    iteration with a BrokenInputError after every line before the break was yielded.
    """
    with _open_lines(path) as lines:
        for number, line in enumerate(lines, start=1):
            where = f"{path.name}:{number}"
            if line is None:
                yield where, RowRejected(
                    "line-too-long", f"the line has more than {MAX_JSON_LINE_CHARS:,} characters (skipped unread)")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as error:  # JSONDecodeError, and ints of more than 4,300 digits
                yield where, RowRejected("malformed-json", f"not a JSON object: {str(error)[:200]}")
                continue
            except RecursionError:
                yield where, RowRejected("malformed-json", "nested too deeply to be a tweet object")
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
    except (AttributeError, TypeError, ValueError, OverflowError) as error:
        return [RowRejected("malformed-tweet", f"not a tweet object of the API's shape: {str(error)[:200]}")]
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
        text = ("RT @" + rng.choice(handles) + ": " + text) if retweet else text
        where = f"synthetic:{number}"
        try:
            yield where, tweet_record(10**15 + seed * 10**9 + number, user, text, moment, "en", retweet,
                                      rng.randint(0, 500), rng.randint(0, 2000))
        except RowRejected as rejected:  # only a --seed far out of range makes ids break a limit
            yield where, rejected
