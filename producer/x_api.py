"""Tweets from the X API v2 through tweepy: recent tweets of named users (polled with since_id) and
the filtered stream for plans that include it."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
import tweepy
from trendoff.producer.sources import SourceItem, v2_tweets

from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "TRENDOFF_X_BEARER_TOKEN"
# Where tweepy's requests go instead of the X API host (a proxy, or a local server in tests).
API_BASE_VARIABLE = "TRENDOFF_X_API_BASE"
X_API_HOST = "https://api.twitter.com"
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


def bearer_token() -> str:
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise TrendoffError(
            "no-token", f"set {TOKEN_VARIABLE} to an X API v2 bearer token to read tweets from the X API"
        )
    return token


def _redirect(session: requests.Session) -> None:
    base = os.environ.get(API_BASE_VARIABLE)
    if base:
        session.mount(X_API_HOST, _RedirectAdapter(base))


def x_client(token: str) -> tweepy.Client:
    # wait_on_rate_limit: tweepy sleeps until the window resets instead of failing on HTTP 429.
    client = tweepy.Client(bearer_token=token, wait_on_rate_limit=True)
    _redirect(client.session)
    return client


def _explain(error: tweepy.TweepyException) -> TrendoffError:
    if isinstance(error, tweepy.Unauthorized):
        return TrendoffError("token-refused", f"the X API refused the bearer token in {TOKEN_VARIABLE} (401)")
    if isinstance(error, tweepy.Forbidden):
        return TrendoffError(
            "forbidden", "the X API says this plan may not use that endpoint (403): " + "; ".join(error.api_messages)
        )
    return TrendoffError("x-api", f"the X API failed: {error}")


def _as_dict(response: Any) -> dict[str, Any]:
    """A tweepy Response as the v2 JSON shape the JSON-lines reader already understands."""
    data = [tweet.data for tweet in (response.data or [])]
    users = [user.data for user in (response.includes or {}).get("users", [])]
    return {"data": data, "includes": {"users": users}}


def resolve_users(client: tweepy.Client, usernames: list[str]) -> dict[str, str]:
    """Map each username to its user id; an unknown one is a TrendoffError naming it."""
    try:
        response = client.get_users(usernames=usernames)
    except tweepy.TweepyException as error:
        raise _explain(error) from error
    found = {user.username.lower(): str(user.id) for user in (response.data or [])}
    missing = [name for name in usernames if name.lower() not in found]
    if missing:
        raise TrendoffError("unknown-user", f"the X API knows no user {missing[0]!r}")
    return {name: found[name.lower()] for name in usernames}


def poll_user_tweets(
    client: tweepy.Client,
    usernames: list[str],
    poll_seconds: float = 60.0,
    rounds: int | None = None,
) -> Iterator[SourceItem]:
    """Recent tweets of each user, then only newer ones (since_id) every ``poll_seconds``.

    ``rounds`` bounds the number of polls (None: until interrupted).
    """
    ids = resolve_users(client, usernames)
    newest: dict[str, int] = {}
    done = 0
    while rounds is None or done < rounds:
        for name, user_id in ids.items():
            token: str | None = None
            seen_newest = newest.get(name, 0)
            while True:
                try:
                    response = client.get_users_tweets(
                        user_id,
                        since_id=newest.get(name),
                        max_results=100,
                        pagination_token=token,
                        tweet_fields=TWEET_FIELDS,
                        expansions=["author_id"],
                        user_fields=["username"],
                    )
                except tweepy.TweepyException as error:
                    raise _explain(error) from error
                for item in v2_tweets(_as_dict(response)):
                    if isinstance(item, dict):
                        # since_id for the next poll; this poll's pages are all new already.
                        seen_newest = max(seen_newest, item["id"])
                    yield f"x:{name}", item
                token = (response.meta or {}).get("next_token")
                if not token:
                    break
            if seen_newest:
                newest[name] = seen_newest
        done += 1
        if rounds is None or done < rounds:
            time.sleep(poll_seconds)


class _QueueStream(tweepy.StreamingClient):
    """Hands each streamed response to a queue the producer's thread reads."""

    def __init__(self, token: str, items: queue.Queue[Any]) -> None:
        super().__init__(token, wait_on_rate_limit=True)
        self.items = items
        _redirect(self.session)

    def on_response(self, response: Any) -> None:
        self.items.put(_as_dict(response) if response.data else None)

    def on_errors(self, errors: Any) -> None:
        log.warning("the filtered stream reported: %s", errors)

    def on_request_error(self, status_code: int) -> None:
        self.items.put(TrendoffError("stream-refused", f"the filtered stream answered HTTP {status_code}"))


def stream_user_tweets(token: str, usernames: list[str], max_tweets: int | None = None) -> Iterator[SourceItem]:
    """Tweets of the named users from the filtered stream (needs a plan that has it)."""
    items: queue.Queue[Any] = queue.Queue(maxsize=10_000)
    stream = _QueueStream(token, items)
    rule = " OR ".join(f"from:{name}" for name in usernames)
    try:
        current = stream.get_rules().data or []
        stale = [r.id for r in current if r.tag == "trendoff"]
        if stale:
            stream.delete_rules(stale)
        stream.add_rules(tweepy.StreamRule(rule, tag="trendoff"))
    except tweepy.TweepyException as error:
        raise _explain(error) from error
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
            if isinstance(item, TrendoffError):
                raise item
            for tweet in v2_tweets(item or {"data": []}):
                yield "x:stream", tweet
                sent += 1
    finally:
        stream.disconnect()
