"""Tweets from the X API v2 through tweepy: recent tweets of named users (polled with since_id) and
the filtered stream for plans that include it."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
import tweepy

from trendoff.errors import TrendoffError
from trendoff.producer.sources import SourceItem, v2_tweets
from trendoff.settings import ENV_VARS, Settings

log = logging.getLogger(__name__)

TOKEN_VARIABLE = ENV_VARS["x_bearer_token"]
X_API_HOST = "https://api.twitter.com"
RULE_TAG = "trendoff"
TWEET_FIELDS = ["created_at", "lang", "public_metrics", "referenced_tweets", "author_id"]


class _RedirectAdapter(requests.adapters.HTTPAdapter):
    """Sends tweepy's requests for the X API host to another base URL, leaving the rest untouched."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url and request.url.startswith(X_API_HOST):
            request.url = self.base_url + request.url[len(X_API_HOST):]
        return super().send(request, **kwargs)


def bearer_token(settings: Settings) -> str:
    token = settings.x_bearer_token.strip()
    if not token:
        raise TrendoffError(
            "no-token", f"set {TOKEN_VARIABLE} to an X API v2 bearer token to read tweets from the X API"
        )
    return token


def _redirect(session: requests.Session, base_url: str | None) -> None:
    if base_url:
        session.mount(X_API_HOST, _RedirectAdapter(base_url))


def x_client(token: str, base_url: str | None = None) -> tweepy.Client:
    # wait_on_rate_limit: tweepy sleeps until the window resets instead of failing on HTTP 429.
    client = tweepy.Client(bearer_token=token, wait_on_rate_limit=True)
    _redirect(client.session, base_url)
    return client


def _explain(error: Exception) -> TrendoffError:
    if isinstance(error, tweepy.Unauthorized):
        return TrendoffError("token-refused", f"the X API refused the bearer token in {TOKEN_VARIABLE} (401)")
    if isinstance(error, tweepy.Forbidden):
        return TrendoffError(
            "forbidden", "the X API says this plan may not use that endpoint (403): " + "; ".join(error.api_messages)
        )
    if isinstance(error, requests.RequestException):
        return TrendoffError("x-unreachable", f"cannot reach the X API: {error}")
    return TrendoffError("x-api", f"the X API failed: {error}")


# Server errors and dropped connections are retried a few times; anything else is reported at once.
RETRY_WAITS_SECONDS = (2.0, 8.0, 30.0)


def _call(what: str, request: Callable[[], Any]) -> Any:
    """One X API request with bounded retries; failures become a TrendoffError saying what was asked."""
    for attempt in range(len(RETRY_WAITS_SECONDS) + 1):
        try:
            return request()
        except (tweepy.TwitterServerError, requests.ConnectionError, requests.Timeout) as error:
            if attempt == len(RETRY_WAITS_SECONDS):
                raise TrendoffError(_explain(error).reason, f"{what}: {_explain(error).message}") from error
            log.warning("%s failed (%s); retrying in %.0f s", what, error, RETRY_WAITS_SECONDS[attempt])
            time.sleep(RETRY_WAITS_SECONDS[attempt])
        except (tweepy.TweepyException, requests.RequestException) as error:
            explained = _explain(error)
            raise TrendoffError(explained.reason, f"{what}: {explained.message}") from error
    raise AssertionError("unreachable")


def _as_dict(response: Any) -> dict[str, Any]:
    """A tweepy Response or StreamResponse as the v2 JSON shape the JSON-lines reader already understands.

    A timeline page holds a list of Tweets, a stream response one Tweet (or None for keep-alive lines).
    """
    tweets = response.data
    if tweets is None:
        tweets = []
    elif isinstance(tweets, tweepy.Tweet):
        tweets = [tweets]
    users = [user.data for user in (response.includes or {}).get("users", [])]
    return {"data": [tweet.data for tweet in tweets], "includes": {"users": users}}


def resolve_users(client: tweepy.Client, usernames: list[str]) -> dict[str, str]:
    """Map each username to its user id; an unknown one is a TrendoffError naming it."""
    response = _call("looking up users", lambda: client.get_users(usernames=usernames))
    found = {user.username.lower(): str(user.id) for user in (response.data or [])}
    missing = [name for name in usernames if name.lower() not in found]
    if missing:
        raise TrendoffError("unknown-user", f"the X API knows no user {missing[0]!r}")
    return {name: found[name.lower()] for name in usernames}


def _new_tweets(client: tweepy.Client, name: str, user_id: str, since_id: int | None) -> list[SourceItem]:
    """Every page of the user's tweets newer than ``since_id``, oldest first.

    The API pages newest first; publishing oldest first keeps one user's tweets in time order on the
    topic. A page set is at most the API's 3,200-tweet timeline window, so holding it is bounded.
    """
    items: list[SourceItem] = []
    token: str | None = None
    while True:
        response = _call(
            f"reading @{name}'s tweets",
            lambda token=token: client.get_users_tweets(
                user_id,
                since_id=since_id,
                max_results=100,
                pagination_token=token,
                tweet_fields=TWEET_FIELDS,
                expansions=["author_id"],
                user_fields=["username"],
            ),
        )
        items.extend((f"x:{name}", item) for item in v2_tweets(_as_dict(response)))
        token = (response.meta or {}).get("next_token")
        if not token:
            break
    items.reverse()
    return items


def poll_user_tweets(
    client: tweepy.Client,
    usernames: list[str],
    poll_seconds: float = 60.0,
    rounds: int | None = None,
) -> Iterator[SourceItem]:
    """Recent tweets of each user, then only newer ones (since_id) every ``poll_seconds``.

    ``rounds`` bounds the number of polls (None: until interrupted). Overlapping polls are harmless:
    downstream dedups by tweet id.
    """
    # Resolved now, not on the first item: an unknown user or a refused token fails before publishing.
    ids = resolve_users(client, usernames)
    return _polls(client, ids, poll_seconds, rounds)


def _polls(client: tweepy.Client, ids: dict[str, str], poll_seconds: float, rounds: int | None) -> Iterator[SourceItem]:
    newest: dict[str, int] = {}
    done = 0
    while rounds is None or done < rounds:
        for name, user_id in ids.items():
            for where, item in _new_tweets(client, name, user_id, newest.get(name)):
                if isinstance(item, dict):
                    newest[name] = max(newest.get(name, 0), item["id"])
                yield where, item
        done += 1
        if rounds is None or done < rounds:
            time.sleep(poll_seconds)


class _QueueStream(tweepy.StreamingClient):
    """Hands each streamed response to a queue the producer's thread reads."""

    def __init__(self, token: str, items: queue.Queue[Any], base_url: str | None) -> None:
        super().__init__(token, wait_on_rate_limit=True)
        self.items = items
        _redirect(self.session, base_url)

    def on_response(self, response: Any) -> None:
        if response.data is not None:
            self.items.put(_as_dict(response))

    def on_errors(self, errors: Any) -> None:
        log.warning("the filtered stream reported: %s", errors)

    def on_request_error(self, status_code: int) -> None:
        # 429 and 5xx: tweepy backs off and reconnects by itself. A refused token or plan never gets
        # better by retrying, so those end the run.
        if status_code in (401, 403):
            reason = "token-refused" if status_code == 401 else "forbidden"
            what = (f"refused the bearer token in {TOKEN_VARIABLE}" if status_code == 401
                    else "does not allow the filtered stream on this plan")
            self.items.put(TrendoffError(reason, f"the X API {what} (HTTP {status_code})"))
            self.running = False  # stop tweepy's reconnect loop at once

    def on_exception(self, exception: Exception) -> None:
        # Raised in tweepy's thread: hand it to the producer's thread instead of only logging it.
        self.items.put(exception)


def stream_user_tweets(
    token: str, usernames: list[str], max_tweets: int | None = None, base_url: str | None = None
) -> Iterator[SourceItem]:
    """Tweets of the named users from the filtered stream (needs a plan that has it)."""
    # Bounded: when Kafka is slower than the stream, tweepy's thread waits instead of piling up tweets.
    items: queue.Queue[Any] = queue.Queue(maxsize=10_000)
    stream = _QueueStream(token, items, base_url)
    rule = " OR ".join(f"from:{name}" for name in usernames)
    # Our rule carries a tag, so a restart replaces it instead of piling up rules on the account.
    current = _call("reading the stream rules", stream.get_rules).data or []
    stale = [r.id for r in current if r.tag == RULE_TAG]
    if stale:
        _call("deleting old stream rules", lambda: stream.delete_rules(stale))
    added = _call("adding the stream rule", lambda: stream.add_rules(tweepy.StreamRule(rule, tag=RULE_TAG)))
    if added.errors:
        problems = "; ".join(str(e.get("title") or e.get("message") or e) for e in added.errors)
        raise TrendoffError("bad-stream-rule", f"the X API did not take the rule {rule!r}: {problems}")
    return _streamed(stream, items, max_tweets)


def _streamed(stream: _QueueStream, items: queue.Queue[Any], max_tweets: int | None) -> Iterator[SourceItem]:
    worker = threading.Thread(
        target=stream.filter,
        kwargs={"tweet_fields": TWEET_FIELDS, "expansions": ["author_id"], "user_fields": ["username"]},
        daemon=True,
    )
    worker.start()
    sent = 0
    try:
        while max_tweets is None or sent < max_tweets:
            try:
                item = items.get(timeout=1.0)
            except queue.Empty:
                if not worker.is_alive():
                    return
                continue
            if isinstance(item, Exception):
                raise item
            for tweet in v2_tweets(item or {"data": []}):
                yield "x:stream", tweet
                sent += 1
    finally:
        stream.disconnect()
