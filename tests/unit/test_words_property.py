"""Property tests: the Spark word rule and user key against the plain-Python oracle (tests/unit/word_oracle.py)
on generated text: random Unicode, long runs, apostrophes, marks, URLs and mentions with odd whitespace, #.

Each example is a list of texts counted in one Spark job, so that many texts cost one round trip.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.unit import word_oracle
from trendoff.views.keys import user_key, user_key_column
from trendoff.views.words import exploded_words, words_column

# Java 17 knows Unicode 13, Python 3.11 Unicode 14: a character added or recategorised in between is
# a letter to one and not the other. Only characters already assigned in Unicode 3.2 with the same
# category today are drawn (checked once against the JVM for every code point: they agree in
# category, whitespace and lower case on all of them).
ALPHABET = tuple(
    chr(code) for code in range(0x30000)
    if unicodedata.ucd_3_2_0.category(chr(code)) not in ("Cn", "Cs")
    and unicodedata.ucd_3_2_0.category(chr(code)) == unicodedata.category(chr(code))
)
WHITESPACE = tuple(chr(code) for code in range(0x3001) if chr(code).isspace())
PIECES = (
    "http://", "https://", "www.", "HTTPS://", "@", "#", "##", "'", "''", "\u2019", "\u2018", "&amp;", "&lt;",
    "&#39;", "&amp;lt;", "\u03a3", "\u0130", "I", "J", "\u00cc", "\u212a", "\u0301", "\u0307", "\u0345", "\u02b0",
    "\ufe0f", "\u20e3", "\u200b", "\ufeff", "\ufffd", "e\u0301", "don't", "rock'n'roll", "\u6771\u4eac", "\u043c\u043e",
    "\u0928\u092e\u0938\u094d", "\U0001d400", "\U0001f600", "1", "2020", "_", ".", ":", "/", "rt", "the", "via",
    "amp", "ab", "a", "x",
)
RUN_CHARACTERS = ("z", "\u03a3", "\u6771", "1", "_", "a'", "e\u0301", "@a", "#", "\u0301", " ")

# A URL or mention, any whitespace, then a word: where the whitespace set matters.
ends = st.builds(lambda start, space, word: start + space + word,
                 st.sampled_from(("https://t.co/x", "www.a.co", "@bob", "#tag", "x@y")), st.sampled_from(WHITESPACE),
                 st.sampled_from(("next", "\u6771\u4eac", "ab", "@cd")))
fragments = st.one_of(
    st.sampled_from(PIECES),
    ends,
    st.sampled_from(WHITESPACE),
    st.text(st.sampled_from(ALPHABET), min_size=1, max_size=6),
    # Runs around the 100-character limit and far beyond it.
    st.builds(lambda run, times: run * times, st.sampled_from(RUN_CHARACTERS),
              st.integers(1, 4) | st.integers(48, 52) | st.integers(95, 106) | st.integers(1_000, 3_000)),
)
texts = st.lists(fragments, max_size=25).map("".join)
handles = st.lists(st.one_of(st.sampled_from(WHITESPACE), st.sampled_from(("@", "@@", "A", "\u0130", "I", "\u03a3")),
                             st.text(st.sampled_from(ALPHABET), max_size=4)), max_size=8).map("".join)


PROPERTY_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                                    HealthCheck.data_too_large])


@PROPERTY_SETTINGS
@given(batch=st.lists(st.tuples(texts, st.booleans()), min_size=1, max_size=40))
def test_words_column_is_the_oracle(local_spark: SparkSession, batch: list[tuple[str, bool]]) -> None:
    frame = local_spark.createDataFrame([(n, text, rt) for n, (text, rt) in enumerate(batch)],
                                        "n int, text string, rt boolean")
    selected = frame.select("n", words_column(F.col("text"), F.col("rt")).alias("words"),
                            words_column(F.col("text"), F.col("rt"), count_retweets=True).alias("all_words"))
    got = {row.n: (row.words, row.all_words) for row in selected.collect()}
    for n, (text, rt) in enumerate(batch):
        expected = (word_oracle.words(text, rt), word_oracle.words(text, rt, count_retweets=True))
        assert got[n] == expected, f"{text!r}"


@PROPERTY_SETTINGS
@given(batch=st.lists(texts, min_size=1, max_size=40))
def test_the_batch_path_is_the_oracle(local_spark: SparkSession, batch: list[str]) -> None:
    frame = local_spark.createDataFrame([(n, text, False) for n, text in enumerate(batch)],
                                        "n int, text string, is_retweet boolean")
    got: dict[int, Counter[str]] = {}
    for row in exploded_words(frame, keep=["n"]).collect():
        got.setdefault(row.n, Counter())[row.word] += 1
    for n, text in enumerate(batch):
        assert got.get(n, Counter()) == Counter(word_oracle.words(text)), f"{text!r}"


@PROPERTY_SETTINGS
@given(batch=st.lists(handles, min_size=1, max_size=40))
def test_user_key_column_is_user_key(local_spark: SparkSession, batch: list[str]) -> None:
    frame = local_spark.createDataFrame(list(enumerate(batch)), "n int, user string")
    got = {row.n: row.key for row in frame.select("n", user_key_column(F.col("user")).alias("key")).collect()}
    for n, handle in enumerate(batch):
        assert got[n] == user_key(handle), f"{handle!r}"
