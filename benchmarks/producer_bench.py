"""Producer throughput: a 100,000-tweet CSV replayed through the real CSV source and publisher.

Run against a running stack (`trendoff stack up`, or TRENDOFF_KAFKA_BOOTSTRAP):
    python benchmarks/producer_bench.py [--tweets 100000]
Prints tweets/s with every delivery confirmed by the broker (acks=all, idempotent producer).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import uuid
from pathlib import Path

from trendoff import topics
from trendoff.config import load_settings
from trendoff.logs import configure_logging
from trendoff.producer.publish import Publisher
from trendoff.producer.sources import csv_tweets, synthetic_tweets
from trendoff.tweet_columns import ColumnSpec

SPEC = ColumnSpec(
    id_col="id", user_col="user", text_col="text", time_col="created_at", time_format="%Y-%m-%d %H:%M:%S",
    lang_col="lang", retweets_col="retweets", favorites_col="favorites",
)


def write_csv(path: Path, tweets: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "user", "text", "created_at", "lang", "retweets", "favorites"])
        for _, tweet in synthetic_tweets(tweets, users=2000, seed=3):
            created = tweet["created_at"].strftime("%Y-%m-%d %H:%M:%S")
            writer.writerow([tweet["id"], tweet["user"], tweet["text"], created, tweet["lang"],
                             tweet["retweet_count"], tweet["favorite_count"]])


def run(tweets: int = 100_000) -> dict[str, float]:
    settings = load_settings(topic=f"bench_producer_{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tweets.csv"
        write_csv(path, tweets)
        topics.ensure_topic(settings.bootstrap_servers, settings.topic, settings.topic_partitions)
        try:
            summary = Publisher(settings, total=tweets).run(csv_tweets(path, SPEC))
        finally:
            topics.delete_topic(settings.bootstrap_servers, settings.topic)
    assert summary.delivered == tweets and summary.failed == 0, summary.lines()
    return {"tweets": float(tweets), "seconds": summary.seconds, "tweets_per_second": tweets / summary.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tweets", type=int, default=100_000)
    args = parser.parse_args()
    configure_logging("WARNING")
    figures = run(args.tweets)
    print(f"producer: {figures['tweets']:,.0f} tweets from CSV in {figures['seconds']:.2f} s = "
          f"{figures['tweets_per_second']:,.0f} tweets/s (delivery confirmed)")


if __name__ == "__main__":
    main()
