"""THE word rule (SPEC §3) as Spark column expressions: the one implementation speed and batch use.

A tweet's words, in order:
1. retweets contribute none (unless ``count_retweets``);
2. HTML entities &amp; &lt; &gt; &quot; &#39; are decoded once, the curly apostrophe (U+2019)
   becomes ', the text is lower-cased;
3. URLs (http://, https://, www.) and @mentions are removed;
4. a word is a maximal run of Unicode letters, digits and _, inner apostrophes kept (don't), a
   leading # kept (#maga and maga differ); anything else separates words;
5. dropped: one-character words, all-digit words and stop words (Spark ML's English list plus rt,
   via, amp), each judged on the word without its leading #.

Edge cases, decided here (each has a row in tests/unit/test_words.py):
* Leading and trailing apostrophes are not part of a word ('quoted' -> quoted, rock'n'roll stays);
  only ' (and U+2019, which becomes ') joins word parts; U+2018 and other quotes separate.
* A lone # (or one followed by punctuation or an emoji) is no word; a # inside a word (c#, a#b) does
  not start a hashtag, like on Twitter: a#b -> a, b.
* Non-Latin scripts are letters (москва, 東京, नमस्ते); combining marks belong to the letter they
  follow (Devanagari vowel signs, decomposed accents), so a mark never starts a word: emoji, their
  variation selectors (U+FE0F), skin tones and keycaps (1️⃣, #️⃣) are all separators.
* URLs and @mentions count only at the start of a token: "awww.nice" keeps its letters and
  "me@example.com" is an address, not a mention of @example (it gives me, example, com).
* Entities are decoded once (&amp;lt; -> &lt; -> words "lt"), as a browser shows them.
* The one-character test counts base characters, not combining marks: a decomposed "é" (e + U+0301)
  is one character, like the precomposed one.
* A null text or null is_retweet is treated as an empty text / not a retweet.

Everything is a built-in Spark expression (no Python UDF), so it runs in the JVM on the executors.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

EXTRA_STOP_WORDS = ("rt", "via", "amp")
_STOP_WORDS_RESOURCE = "org/apache/spark/ml/feature/stopwords/english.txt"

# Decoding &amp; last turns "&amp;lt;" into "&lt;" (one decoding step), as a browser would show it.
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))
# Java regular expressions (Spark evaluates them in the JVM). A word character is a letter with
# the combining marks that follow it, a digit, or _; a bare mark (an emoji's U+FE0F) is not one.
_WORD_CHAR = r"(?:\p{L}\p{M}*|\p{N}|_)"
_AFTER_NON_WORD = r"(?<![\p{L}\p{M}\p{N}_])"
_URLS = rf"{_AFTER_NON_WORD}(?:https?://|www\.)\S*"
_MENTIONS = rf"{_AFTER_NON_WORD}@{_WORD_CHAR}+"
_WORD = rf"(?:{_AFTER_NON_WORD}#)?{_WORD_CHAR}+(?:'{_WORD_CHAR}+)*"
_ALL_DIGITS = r"^\p{N}+$"


def _load_spark_ml_english_stop_words() -> tuple[str, ...]:
    """Spark ML's default English stop words (what StopWordsRemover.loadDefaultStopWords("english")
    returns), read from the spark-mllib jar itself: the same 181 words, without starting a JVM at import.

    The jar is pyspark's own (pip install) or $SPARK_HOME/jars (spark-submit on a cluster).
    """
    import pyspark

    folders = [Path(pyspark.__file__).parent / "jars"]
    if os.environ.get("SPARK_HOME"):
        folders.append(Path(os.environ["SPARK_HOME"]) / "jars")
    jars = sorted(jar for folder in folders for jar in folder.glob("spark-mllib_*.jar"))
    if not jars:
        raise RuntimeError(f"no spark-mllib jar in {', '.join(map(str, folders))}: reinstall pyspark")
    with zipfile.ZipFile(jars[0]) as jar:
        return tuple(jar.read(_STOP_WORDS_RESOURCE).decode("utf-8").split())


SPARK_ML_ENGLISH_STOP_WORDS: tuple[str, ...] = _load_spark_ml_english_stop_words()
STOP_WORDS: frozenset[str] = frozenset(SPARK_ML_ENGLISH_STOP_WORDS) | frozenset(EXTRA_STOP_WORDS)


def spark_ml_english_stop_words() -> tuple[str, ...]:
    return SPARK_ML_ENGLISH_STOP_WORDS


def stop_words() -> frozenset[str]:
    return STOP_WORDS


def clean_text(text: Column) -> Column:
    """Steps 2 and 3: entities decoded, apostrophes straightened, lower-cased, URLs and mentions gone."""
    cleaned = text
    for entity, character in _ENTITIES:
        cleaned = F.replace(cleaned, F.lit(entity), F.lit(character))
    cleaned = F.lower(F.translate(cleaned, "\u2019", "'"))
    cleaned = F.regexp_replace(cleaned, _URLS, " ")
    return F.regexp_replace(cleaned, _MENTIONS, " ")


def _candidates(text: Column) -> Column:
    return F.regexp_extract_all(clean_text(text), F.lit(_WORD), F.lit(0))


def _keep_word(word: Column) -> Column:
    """Step 5 as one boolean expression; `isin` over the stop words becomes a hash-set lookup."""
    core = F.regexp_replace(word, "^#", "")
    base_characters = F.length(F.regexp_replace(core, r"\p{M}", ""))
    return (base_characters > 1) & ~core.rlike(_ALL_DIGITS) & ~core.isin(*sorted(STOP_WORDS))


def words_column(text: Column, is_retweet: Column, *, count_retweets: bool = False) -> Column:
    """array<string>: the tweet's words in order, repeats kept (an empty array for a retweet)."""
    words = F.filter(_candidates(text), _keep_word)
    if count_retweets:
        return F.coalesce(words, F.array().cast("array<string>"))
    return F.when(F.coalesce(is_retweet, F.lit(False)), F.array().cast("array<string>")).otherwise(
        F.coalesce(words, F.array().cast("array<string>"))
    )


def exploded_words(
    tweets: DataFrame, *, keep: list[str], text: str = "text", is_retweet: str = "is_retweet",
    count_retweets: bool = False,
) -> DataFrame:
    """One row per word occurrence: the ``keep`` columns and ``word``; the same words as words_column.

    For large inputs (the batch layer): the candidates are exploded first and filtered as rows, which
    Spark compiles to code, while a filter inside an array (a lambda) is interpreted row by row.
    """
    rows = tweets if count_retweets else tweets.where(~F.coalesce(F.col(is_retweet), F.lit(False)))
    exploded = rows.select(*keep, F.explode(_candidates(F.col(text))).alias("word"))
    return exploded.where(_keep_word(F.col("word")))


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
    exploded = exploded_words(tweets, keep=keep, text=text, is_retweet=is_retweet, count_retweets=count_retweets)
    return exploded.groupBy(*keep, "word").agg(F.count(F.lit(1)).cast("int").alias("count"))


def user_word_counts(
    tweets: DataFrame,
    *,
    user: str = "user",
    text: str = "text",
    is_retweet: str = "is_retweet",
    count_retweets: bool = False,
) -> DataFrame:
    """(user, word, count) over all rows of ``tweets``, the user as the views key it (lower-cased, no @).

    Counts every row: dedup by tweet id first when the input may repeat one.
    """
    from trendoff.view_keys import user_key_column

    keyed = tweets.select(
        user_key_column(F.col(user)).alias("user"), F.col(text).alias("text"), F.col(is_retweet).alias("is_retweet")
    )
    exploded = exploded_words(keyed, keep=["user"], count_retweets=count_retweets)
    return exploded.groupBy("user", "word").agg(F.count(F.lit(1)).alias("count"))
