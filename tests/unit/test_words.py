"""THE word rule (SPEC §3) and the user key on tricky tweets, with the expected answers written out by hand.

Needs Spark (the rule is Spark column expressions) but no Kafka or Cassandra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.unit import word_oracle
from trendoff.views.keys import user_key as python_user_key
from trendoff.views.keys import user_key_column as user_key
from trendoff.views.text import lower_text
from trendoff.views.words import (
    STOP_WORDS,
    exploded_words,
    spark_ml_english_stop_words,
    user_word_counts,
    words_column,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    # Long runs (a recursive regular expression overflowed its stack on these): dropped, neighbours kept.
    ("people " + "z" * 5_000 + " tail", False, ["people", "tail"]),
    ("hi @" + "m" * 5_000 + " folks", False, ["hi", "folks"]),
    ("x" * 25_000, False, []),
    ("a'" * 12_500, False, []),
    ("\u6771" * 25_000, False, []),
    ("start " + "d\u0301" * 12_000 + " end", False, ["start", "end"]),
    # At most 100 characters, # not counted, combining marks counted (50 and 51 decomposed letters).
    ("a" * 100 + " " + "b" * 101 + " #" + "c" * 100 + " #" + "d" * 101, False, ["a" * 100, "#" + "c" * 100]),
    ("e\u0301" * 50 + " " + "o\u0301" * 51, False, ["e\u0301" * 50]),
    # Any Unicode whitespace (Python's str.isspace(), U+001C..U+001F too) ends a URL or a mention.
    ("https://t.co/x\u3000\u6771\u4eac", False, ["\u6771\u4eac"]),
    ("https://t.co/x\u00a0next", False, ["next"]),
    ("@bob\u2003hello", False, ["hello"]),
    ("www.a.com\x1cfile https://b.co/\u2028line www.c.com\u205fmath http://d.co\x85nel", False,
     ["file", "line", "math", "nel"]),
    # Lower-casing is Python's str.lower: İ keeps its dot as U+0307, the Kelvin sign is k, final sigma.
    ("\u0130stanbul ISTANBUL \u212aelvin", False, ["i\u0307stanbul", "istanbul", "kelvin"]),
    ("\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391\u03a3 \u03a3\u03a3", False,
     ["\u03bf\u03b4\u03bf\u03c2", "\u03c3\u03bf\u03c6\u03b9\u03b1\u03c2", "\u03c3\u03c2"]),
    # Apostrophes join one pair of word parts at a time; a mention or URL next to one leaves it stray.
    ("ab''cd ''' cat's' rock'n'roll' #'tag xy'#tag y'all@bob", False,
     ["ab", "cd", "cat's", "rock'n'roll", "tag", "xy", "#tag", "y'all", "bob"]),
    ("@bob's fans xy'https://t.co/a @www.example.com ok", False, ["fans", "xy", "ok"]),
    # A mark that follows no letter separates (a # or @ after it starts a hashtag or mention); after a
    # letter it is part of the word; after a digit it separates.
    ("\u0301#tag \u2764\ufe0f@bob hi\u0301x 1\u0301ab 2016\ufe0f", False, ["#tag", "hi\u0301x", "ab"]),
    # A letter outside the BMP is a letter before a # too (Java's lookbehind must see the whole character).
    ("\U0001d400\U0001d401#tag", False, ["\U0001d400\U0001d401", "tag"]),
]


def test_each_tricky_tweet_gives_the_words_written_by_hand(local_spark: SparkSession) -> None:
    rows = [(n, text, retweet) for n, (text, retweet, _) in enumerate(CASES)]
    frame = local_spark.createDataFrame(rows, "n int, text string, rt boolean")
    selected = frame.select("n", words_column(F.col("text"), F.col("rt")).alias("words"))
    got = {row.n: row.words for row in selected.collect()}
    for n, (text, _, expected) in enumerate(CASES):
        assert got[n] == expected, f"{text!r}"


def test_the_batch_path_gives_the_same_words(local_spark: SparkSession) -> None:
    rows = [(n, text, retweet) for n, (text, retweet, _) in enumerate(CASES)]
    frame = local_spark.createDataFrame(rows, "n int, text string, is_retweet boolean")
    got: dict[int, Counter[str]] = {}
    for row in exploded_words(frame, keep=["n"]).collect():
        got.setdefault(row.n, Counter())[row.word] += 1
    for n, (text, _, expected) in enumerate(CASES):
        assert got.get(n, Counter()) == Counter(expected), f"{text!r}"


def test_the_oracle_of_the_property_tests_agrees_with_every_case() -> None:
    for text, retweet, expected in CASES:
        assert word_oracle.words(text, retweet) == expected, f"{text!r}"


# Worst cases for the regular expressions, for Java's case mapping (which looks around every capital
# sigma) and for the user key, at the producer's limit of 25,000 characters.
WORST_CASES = [
    "\u03a3" * 25_000, "a\u03a3" * 12_500, "\u03a3'" * 12_500, "\u03a3" + "\u0301" * 24_999,
    "a" + "\u0301" * 24_999, "\u0301" * 25_000, "e\u0301" * 12_500, "I" * 25_000, "\u0130" * 25_000,
    "a'" * 12_500, "'" * 25_000, "#" * 25_000, "#a" * 12_500, "@" * 25_000, "@a" * 12_500, "a@" * 12_500,
    "@" + "a" * 24_999, "https://" * 3_125, "www." * 6_250, "http://" + "a" * 24_993, " " * 24_999 + "x",
    "x" + "\u3000" * 24_999, "&amp;" * 5_000, "1" * 25_000, "_" * 25_000, "\U0001d400" * 25_000,
    "\u6771" * 25_000, ("a" * 99 + " ") * 250, "#\ufe0f" * 12_500,
]


def test_worst_case_texts_finish_with_the_oracles_answer(local_spark: SparkSession) -> None:
    rows = [(n, text, text) for n, text in enumerate(WORST_CASES)]
    frame = local_spark.createDataFrame(rows, "n int, text string, user string")
    selected = frame.select("n", words_column(F.col("text"), F.lit(False)).alias("words"),
                            user_key(F.col("user")).alias("key"))
    got = {row.n: (row.words, row.key) for row in selected.collect()}
    for n, text in enumerate(WORST_CASES):
        assert got[n] == (word_oracle.words(text), python_user_key(text)), f"case {n}: {text[:20]!r}..."


# (handle, key): the same in Python (serving) and Spark (the jobs).
USER_KEYS = [
    ("Ann", "ann"), ("@Ann", "ann"), ("  @@Ann  ", "ann"), ("\u3000@bob\u00a0", "bob"),
    ("\x1cbob\x1f", "bob"), ("\u2003\u2028@x\u205f\x85", "x"), ("\t@y\r\n", "y"),
    ("@ bob", " bob"), ("bob @", "bob @"), ("@ @bob", " @bob"), ("@", ""), (" @ ", ""), ("\u00a0", ""), ("", ""),
    ("a\u200bb", "a\u200bb"),  # a zero-width space is no whitespace (str.isspace() is false)
    ("\u0130pek", "i\u0307pek"), ("\u212aIM", "kim"), ("\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2"),
    ("@@@" + "X" * 5_000 + " ", "x" * 5_000),
]


def test_user_keys_are_the_same_in_python_and_spark(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame([(n, handle) for n, (handle, _) in enumerate(USER_KEYS)], "n int, user string")
    got = {row.n: row.key for row in frame.select("n", user_key(F.col("user")).alias("key")).collect()}
    for n, (handle, expected) in enumerate(USER_KEYS):
        assert python_user_key(handle) == expected, f"python {handle!r}"
        assert got[n] == expected, f"spark {handle!r}"


def test_lower_text_is_pythons_lower(local_spark: SparkSession) -> None:
    texts = ["\u0130I\u0131i", "\u00cc\u00cd\u0128J\u0300\u012e\u0301", "\u212a\u2126\u1e9e\u01c5",
             "\u03a3\u03a3 a\u03a3. a\u03a3'b \u02b0\u03a3 A\u02b0\u03a3 a\u03a3\u0301b", "STRASSE Stra\u00dfe"]
    frame = local_spark.createDataFrame([(n, text) for n, text in enumerate(texts)], "n int, text string")
    got = {row.n: row.lowered for row in frame.select("n", lower_text(F.col("text")).alias("lowered")).collect()}
    assert [got[n] for n in range(len(texts))] == [text.lower() for text in texts]


# Run in a JVM of its own whose default locale is Turkish, then Lithuanian (Locale.setDefault): Spark's
# lower() follows that locale; the word rule and the user key must not.
_LOCALE_SCRIPT = """
import json, os, sys
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
from pyspark.sql import SparkSession, functions as F
from trendoff.views.keys import user_key_column
from trendoff.views.words import words_column
texts = json.loads(sys.argv[1])
spark = (SparkSession.builder.master("local[1]").appName("words-locale")
         .config("spark.driver.extraJavaOptions", "-Duser.language=tr -Duser.country=TR")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1").getOrCreate())
locale = spark.sparkContext._jvm.java.util.Locale
frame = spark.createDataFrame([(text,) for text in texts], "text string")
answers = {}
for language, country in (("tr", "TR"), ("lt", "LT")):
    if language != "tr":
        locale.setDefault(locale(language, country))
    rows = frame.select(F.lower("text").alias("spark_lower"), words_column(F.col("text"), F.lit(False)).alias("words"),
                        user_key_column(F.col("text")).alias("key")).collect()
    answers[locale.getDefault().toString()] = [row.asDict() for row in rows]
spark.stop()
print("ANSWERS " + json.dumps(answers))
"""
LOCALE_CASES = [
    # (text, words)
    ("Istanbul \u0130zmir DI\u015e", ["istanbul", "i\u0307zmir", "di\u015f"]),
    ("\u00cc\u00cc J\u00cc \u012e\u00cc", ["\u00ec\u00ec", "j\u00ec", "\u012f\u00ec"]),
    ("\u212aI I\u0307I\u0307 \u039f\u0394\u039f\u03a3", ["ki", "i\u0307i\u0307", "\u03bf\u03b4\u03bf\u03c2"]),
]


def test_the_rule_ignores_the_jvm_locale() -> None:
    texts = [text for text, _ in LOCALE_CASES]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", _LOCALE_SCRIPT, json.dumps(texts)], capture_output=True, text=True,
                          timeout=300, cwd=PROJECT_ROOT, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("ANSWERS ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    answers = json.loads(lines[-1].removeprefix("ANSWERS "))
    assert sorted(answers) == ["lt_LT", "tr_TR"]
    # The locales really were in force: Spark's own lower() gives the Turkish and Lithuanian answers.
    assert answers["tr_TR"][0]["spark_lower"] == "\u0131stanbul izmir d\u0131\u015f"
    assert answers["lt_LT"][1]["spark_lower"] == "i\u0307\u0300i\u0307\u0300 ji\u0307\u0300 \u012fi\u0307\u0300"
    for rows in answers.values():
        for row, (text, expected) in zip(rows, LOCALE_CASES, strict=True):
            assert row["words"] == expected, text
            assert row["key"] == python_user_key(text), text


def test_retweets_count_only_when_asked(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame([("RT @CNN: Breaking news tonight", True)], "text string, rt boolean")
    words = frame.select(words_column(F.col("text"), F.col("rt"), count_retweets=True).alias("w")).first().w
    assert words == ["breaking", "news", "tonight"]


def test_null_text_gives_no_words(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame([(None, None)], "text string, rt boolean")
    assert frame.select(words_column(F.col("text"), F.col("rt")).alias("w")).first().w == []


def test_exploded_words_keep_repeats_per_tweet(local_spark: SparkSession) -> None:
    frame = local_spark.createDataFrame(
        [(1, "Ann", "vote vote VOTE today", False), (2, "@ann", "vote later", False)],
        "id long, user string, text string, is_retweet boolean",
    ).withColumn("user", user_key(F.col("user")))
    counts = Counter((r.id, r.user, r.word) for r in exploded_words(frame, keep=["id", "user"]).collect())
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
