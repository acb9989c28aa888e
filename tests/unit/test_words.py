"""THE word rule (SPEC §3) on tricky tweets, with the expected words written out by hand.

Needs Spark (the rule is Spark column expressions) but no Kafka or Cassandra.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from trendoff.config import load_settings
from trendoff.errors import TrendoffError
from trendoff.spark import spark_session
from trendoff.view_keys import user_key_column as user_key
from trendoff.words import STOP_WORDS, spark_ml_english_stop_words, tweet_word_counts, user_word_counts, words_column


@pytest.fixture(scope="module")
def local_spark() -> Iterator[SparkSession]:
    """A local session that talks to no service; an already running one (the integration suite's) is reused.

    Built by the project's factory when the connector jars are downloaded, so that the JVM this
    starts has them on its classpath if integration tests run later in the same process.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    try:
        session = spark_session(load_settings(), "words-unit")
    except TrendoffError:  # no connector jars: a plain session is all the word rule needs
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        session = (SparkSession.builder.master("local[1]").appName("words-unit")
                   .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.driver.host", "127.0.0.1").getOrCreate())
    yield session
    session.stop()


CASES = [
    # (text, is_retweet, expected words)
    ("Michelle &amp; I are praying for the victims in Las Vegas. Our thoughts are with their families &amp; "
     "everyone enduring another senseless tragedy.", False,
     ["michelle", "praying", "victims", "las", "vegas", "thoughts", "families", "everyone", "enduring",
      "another", "senseless", "tragedy"]),
    ("Two dozen NFL players continue to kneel during the National Anthem, showing total disrespect to our "
     "Flag &amp; Country.  No leadership in NFL!", False,
     ["two", "dozen", "nfl", "players", "continue", "kneel", "national", "anthem", "showing", "total",
      "disrespect", "flag", "country", "leadership", "nfl"]),
    ("Read it: https://t.co/AggCebzpKB and www.example.com/x?y=1 or HTTP://SHOUT.COM now", False,
     ["read"]),
    ("@hadleywickham thanks!! cc @r_ladies_global ...great guide", False, ["thanks", "cc", "great", "guide"]),
    ("#MAGA #maga maga #2020 #a #the #Election2016", False, ["#maga", "#maga", "maga", "#election2016"]),
    ("Y\u2019all ain't ready 'quoted' o'clock rock'n'roll", False, ["y'all", "ain't", "ready", "quoted", "o'clock",
                                                          "rock'n'roll"]),
    ("don't won\u2019t can't", False, []),
    ("I ❤️ New York 🗽🍎 so much😀yes", False, ["new", "york", "much", "yes"]),
    ("Москва и 東京 المدينة नमस्ते दुनिया", False, ["москва", "東京", "المدينة", "नमस्ते", "दुनिया"]),
    ("2016 was year 1 of 100 for team_42 and A1 x", False, ["year", "team_42", "a1"]),
    ("&lt;b&gt; bold &quot;quote&quot; &#39;single&#39; &amp;lt;", False, ["bold", "quote", "single", "lt"]),
    ("RT @CNN: Breaking news tonight", True, []),
    ("RT via amp RT", False, []),
    ("snake_case_word __ _x_ # #", False, ["snake_case_word", "__", "_x_"]),
    # A # inside a word starts no hashtag; emoji, their variation selectors, skin tones and keycaps separate.
    ("c# a#b abc#def ##MAGA #\ufe0f\u20e3 1\ufe0f\u20e3 love\u2764\ufe0f \U0001f44d\U0001f3fdgreat", False,
     ["abc", "def", "#maga", "love", "great"]),
    # URLs and mentions only at the start of a token; an e-mail address is words.
    ("awww.nice me@Example.com @Someone's point", False, ["awww", "nice", "example", "com", "point"]),
    # Combining marks stay with their letter and do not count as characters of their own.
    ("cafe\u0301 e\u0301 \u00e9 na\u00efve", False, ["cafe\u0301", "na\u00efve"]),
    ("\uff12\uff10\uff12\uff10 1st 4real 10,000 3.14", False, ["1st", "4real"]),
    ("\u2018single\u2019 rock\u2019n\u2019roll don't' ''twice''", False, ["single", "rock'n'roll", "twice"]),
    ("line1\nline2\tword\r\nend.", False, ["line1", "line2", "word", "end"]),
    ("#\u0645\u0635\u0631 #\u6771\u4eac #_ #__", False, ["#\u0645\u0635\u0631", "#\u6771\u4eac", "#__"]),
]


def test_each_tricky_tweet_gives_the_words_written_by_hand(local_spark: SparkSession) -> None:
    rows = [(n, text, retweet) for n, (text, retweet, _) in enumerate(CASES)]
    frame = local_spark.createDataFrame(rows, "n int, text string, rt boolean")
    selected = frame.select("n", words_column(F.col("text"), F.col("rt")).alias("words"))
    got = {row.n: row.words for row in selected.collect()}
    for n, (text, _, expected) in enumerate(CASES):
        assert got[n] == expected, f"{text!r}"


def test_retweets_count_only_when_asked(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame([("RT @CNN: Breaking news tonight", True)], "text string, rt boolean")
    words = frame.select(words_column(F.col("text"), F.col("rt"), count_retweets=True).alias("w")).first().w
    assert words == ["breaking", "news", "tonight"]


def test_null_text_gives_no_words(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame([(None, None)], "text string, rt boolean")
    assert frame.select(words_column(F.col("text"), F.col("rt")).alias("w")).first().w == []


def test_word_counts_per_tweet_keep_repeats(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame(
        [(1, "Ann", "vote vote VOTE today", False), (2, "@ann", "vote later", False)],
        "id long, user string, text string, is_retweet boolean",
    ).withColumn("user", user_key(F.col("user")))
    counts = {(r.id, r.user, r.word): r["count"] for r in tweet_word_counts(frame, keep=["id", "user"]).collect()}
    assert counts == {(1, "ann", "vote"): 3, (1, "ann", "today"): 1, (2, "ann", "vote"): 1, (2, "ann", "later"): 1}


def test_user_word_counts_key_users_like_the_views(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame(
        [("Ann", "vote vote VOTE today", False), ("@ann", "vote later", False), ("BOB", "RT @ann: vote", True)],
        "user string, text string, is_retweet boolean",
    )
    counts = {(r.user, r.word): r["count"] for r in user_word_counts(frame).collect()}
    assert counts == {("ann", "vote"): 4, ("ann", "today"): 1, ("ann", "later"): 1}
    with_retweets = {(r.user, r.word): r["count"] for r in user_word_counts(frame, count_retweets=True).collect()}
    assert with_retweets[("bob", "vote")] == 1


def test_stop_words_are_spark_mls_list_plus_three(local_spark: SparkSession) -> None:
    from pyspark.ml.feature import StopWordsRemover

    assert len(spark_ml_english_stop_words()) == 181
    assert set(spark_ml_english_stop_words()) == set(StopWordsRemover.loadDefaultStopWords("english"))
    assert frozenset(spark_ml_english_stop_words()) | {"rt", "via", "amp"} == STOP_WORDS
