"""THE word rule (SPEC §3) as Spark column expressions: the one implementation speed and batch use.

A tweet's words, in order:
1. retweets contribute none (unless ``count_retweets``);
2. HTML entities &amp; &lt; &gt; &quot; &#39; are decoded once, the curly apostrophe (U+2019)
   becomes ', the text is lower-cased;
3. URLs (http://, https://, www.) and @mentions are removed;
4. a word is a maximal run of Unicode letters (with their combining marks), digits and _, inner
   apostrophes kept (don't), a leading # kept (#maga and maga differ); anything else (punctuation,
   emoji, a lone #, leading or trailing apostrophes) separates words;
5. dropped: one-character words, all-digit words and stop words (Spark ML's English list plus rt,
   via, amp), each judged on the word without its leading #.

Everything is a built-in Spark expression (no Python UDF), so it runs in the JVM on the executors.
"""

from __future__ import annotations

import zipfile
from functools import cache
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

EXTRA_STOP_WORDS = ("rt", "via", "amp")
_STOP_WORDS_RESOURCE = "org/apache/spark/ml/feature/stopwords/english.txt"

# Decoding &amp; last turns "&amp;lt;" into "&lt;" (one decoding step), as a browser would show it.
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))
_URLS = r"(?:https?://|www\.)\S*"
_MENTIONS = r"@[\p{L}\p{M}\p{N}_]+"
_WORD_CHARS = r"[\p{L}\p{M}\p{N}_]"
_WORD = rf"#?{_WORD_CHARS}+(?:'{_WORD_CHARS}+)*"
_ALL_DIGITS = r"^\p{N}+$"


@cache
def spark_ml_english_stop_words() -> tuple[str, ...]:
    """Spark ML's default English stop words (StopWordsRemover's list), read from pyspark's own jar.

    Reading the resource directly gives the same 181 words without starting a JVM.
    """
    import pyspark

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("spark-mllib_*.jar"))
    if not jars:
        raise RuntimeError("pyspark's spark-mllib jar is missing: reinstall pyspark")
    with zipfile.ZipFile(jars[0]) as jar:
        return tuple(jar.read(_STOP_WORDS_RESOURCE).decode("utf-8").split())


@cache
def stop_words() -> frozenset[str]:
    return frozenset(spark_ml_english_stop_words()) | frozenset(EXTRA_STOP_WORDS)


def clean_text(text: Column) -> Column:
    """Steps 2 and 3: entities decoded, apostrophes straightened, lower-cased, URLs and mentions gone."""
    cleaned = text
    for entity, character in _ENTITIES:
        cleaned = F.replace(cleaned, F.lit(entity), F.lit(character))
    cleaned = F.lower(F.translate(cleaned, "\u2019", "'"))
    cleaned = F.regexp_replace(cleaned, _URLS, " ")
    return F.regexp_replace(cleaned, _MENTIONS, " ")


def words_column(text: Column, is_retweet: Column, *, count_retweets: bool = False) -> Column:
    """array<string>: the tweet's words in order, repeats kept (an empty array for a retweet)."""
    candidates = F.regexp_extract_all(clean_text(text), F.lit(_WORD), F.lit(0))
    listed = F.array(*[F.lit(word) for word in sorted(stop_words())])

    def keep(word: Column) -> Column:
        core = F.regexp_replace(word, "^#", "")
        return (F.length(core) > 1) & ~core.rlike(_ALL_DIGITS) & ~F.array_contains(listed, core)

    words = F.filter(candidates, keep)
    if count_retweets:
        return F.coalesce(words, F.array().cast("array<string>"))
    return F.when(F.coalesce(is_retweet, F.lit(False)), F.array().cast("array<string>")).otherwise(
        F.coalesce(words, F.array().cast("array<string>"))
    )


def tweet_word_counts(
    tweets: DataFrame,
    *,
    keep: list[str],
    text: str = "text",
    is_retweet: str = "is_retweet",
    count_retweets: bool = False,
) -> DataFrame:
    """One row per tweet and word: the ``keep`` columns, ``word`` and ``count`` (times in that tweet).

    ``keep`` must identify the tweet (include its id): rows are grouped by them.
    """
    exploded = tweets.select(
        *keep, F.explode(words_column(F.col(text), F.col(is_retweet), count_retweets=count_retweets)).alias("word")
    )
    return exploded.groupBy(*keep, "word").agg(F.count(F.lit(1)).cast("int").alias("count"))
