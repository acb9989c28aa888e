"""THE word rule (SPEC §3) as Spark column expressions: the one implementation speed and batch use.

A tweet's words, in order:
1. retweets contribute none (unless ``count_retweets``);
2. HTML entities &amp; &lt; &gt; &quot; &#39; are decoded once, the curly apostrophe (U+2019)
   becomes ', the text is lower-cased as Python's str.lower does (Unicode default case mapping,
   whatever the JVM's default locale);
3. URLs (http://, https://, www.) and @mentions are removed; a URL ends at any Unicode whitespace;
4. a word is a maximal run of Unicode letters, digits and _, inner apostrophes kept (don't), a
   leading # kept (#maga and maga differ); anything else separates words;
5. dropped: one-character words, words of more than 100 characters, all-digit words and stop words
   (Spark ML's English list plus rt, via, amp), each judged on the word without its leading #.

Edge cases, decided here (each has a row in tests/unit/test_words.py):
* Leading and trailing apostrophes are not part of a word ('quoted' -> quoted, rock'n'roll stays);
  only ' (and U+2019, which becomes ') joins word parts, one at a time (a''b -> a, b); U+2018 and
  other quotes separate.
* A lone # (or one followed by punctuation or an emoji) is no word; a # inside a word (c#, a#b) does
  not start a hashtag, like on Twitter: a#b -> a, b.
* Non-Latin scripts are letters (москва, 東京, नमस्ते); combining marks belong to the letter they
  follow (Devanagari vowel signs, decomposed accents), so a mark never starts a word: emoji, their
  variation selectors (U+FE0F), skin tones and keycaps (1️⃣, #️⃣) are all separators. A mark (or a
  run of them) that does not follow a letter separates like a space would, except that it does not
  end a URL: a # or @ right after one starts a hashtag or mention.
* URLs and @mentions count only at the start of a token: "awww.nice" keeps its letters and
  "me@example.com" is an address, not a mention of @example (it gives me, example, com). A mention
  is @ and the word characters after it (no apostrophes: @bob's -> s, dropped); a URL is everything
  up to the next whitespace, where whitespace is exactly Python's str.isspace() set.
* Entities are decoded once (&amp;lt; -> &lt; -> words "lt"), as a browser shows them.
* The one-character test counts base characters, not combining marks: a decomposed "é" (e + U+0301)
  is one character, like the precomposed one. The 100-character limit counts every code point
  (marks too), so no word is ever longer than 101 code points with its #.
* A null text or null is_retweet is treated as an empty text / not a retweet.

Total by construction: every text up to the producer's 25,000 characters (and beyond) gives an
answer in linear time with bounded stack. java.util.regex recurses once per iteration of a repeated
*group* (a 1,300-letter run overflowed the task's stack), so these patterns repeat only single
character classes, possessively, and every repetition can start only where the previous one could
not (each character is looked at a bounded number of times). Spark's lower() is not used on text
that could trip Java's own case mapping: Java looks up the word around every capital sigma (O(n²) on
a 25,000-Σ text, seconds per tweet) and follows the JVM's default locale for I, İ, J, Į, Ì, Í, Ĩ
(Turkish, Azeri and Lithuanian rules); those letters are mapped here first, Python's way.

Everything is a built-in Spark expression (no Python UDF), so it runs in the JVM on the executors.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from trendoff.views.keys import user_key_column
from trendoff.views.text import SUPPLEMENTARY_LETTER, WHITESPACE_CHARACTERS, lowered

EXTRA_STOP_WORDS = ("rt", "via", "amp")
MAX_WORD_CHARS = 100
_STOP_WORDS_RESOURCE = "org/apache/spark/ml/feature/stopwords/english.txt"

# Decoding &amp; last turns "&amp;lt;" into "&lt;" (one decoding step), as a browser would show it.
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))

# Java regular expressions (Spark evaluates them in the JVM). Where a pattern must look behind,
# it first matches a literal character and looks behind that one (h(?<![w]h)...): the scan then
# gives up at most positions after one cheap comparison.
# Then every mark left follows a letter: a word character is a letter, such a mark, a digit or _.
_WORD_CHARACTERS = r"\p{L}\p{M}\p{N}_" + SUPPLEMENTARY_LETTER
_WORD_CHARACTER = f"[{_WORD_CHARACTERS}]"
_URL_START = r"https?://|www\."
_URL = rf"(?:h(?<!{_WORD_CHARACTER}h)ttps?://|w(?<!{_WORD_CHARACTER}w)ww\.)[^{WHITESPACE_CHARACTERS}]*+"
# "@www.x.com" is a URL after an @, as if URLs were removed before mentions.
_MENTION = rf"@(?<!{_WORD_CHARACTER}@)(?!{_URL_START}){_WORD_CHARACTER}++"
# An apostrophe joins two word parts only with a word character on both sides (in the text as it was
# before this replacement; _WORD's last character takes care of one whose neighbour was removed).
_STRAY_APOSTROPHE = rf"'(?<!{_WORD_CHARACTER}')|'(?!{_WORD_CHARACTER})"
_REMOVED = f"{_URL}|{_MENTION}|{_STRAY_APOSTROPHE}"
# A word starts and ends with a word character; the greedy class gives back characters one at a
# time (a loop in Java, not a recursion) to end on one.
_WORD = rf"(?:#(?<!{_WORD_CHARACTER}#))?{_WORD_CHARACTER}(?:[{_WORD_CHARACTERS}']*{_WORD_CHARACTER})?"
# Step 5 looks at a word without its #: "#?" in these patterns, "#" + each stop word below.
_ALL_DIGITS = r"^#?\p{N}++$"
# Words never start with a mark: one base character and marks only is a one-character word.
_ONE_BASE_CHARACTER = r"^#?\P{M}\p{M}*+$"

_CLEAN_TEXT = "__trendoff_clean_text"


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
_DROPPED_WORDS = sorted(STOP_WORDS | {f"#{word}" for word in STOP_WORDS})


def spark_ml_english_stop_words() -> tuple[str, ...]:
    return SPARK_ML_ENGLISH_STOP_WORDS


def stop_words() -> frozenset[str]:
    return STOP_WORDS


def clean_text(text: Column) -> Column:
    """Steps 2 and 3: entities decoded, apostrophes straightened, lower-cased, URLs and mentions gone.

    Stray apostrophes (those that join no word parts) are gone too, and bare marks are separators.
    """
    decoded = text
    for entity, character in _ENTITIES:
        decoded = F.replace(decoded, F.lit(entity), F.lit(character))
    lower_cased = lowered(decoded, "\u2019", "'", bare_marks=True)
    return F.regexp_replace(lower_cased, _REMOVED, " ")


def _candidates(cleaned: Column) -> Column:
    """Step 4 on a clean_text: the words in order, before step 5's drops."""
    return F.regexp_extract_all(cleaned, F.lit(_WORD), F.lit(0))


def _keep_word(word: Column) -> Column:
    """Step 5 as one boolean expression on the word as extracted (with its #): inside words_column it
    is interpreted per element, so it names ``word`` few times and runs the cheapest tests first
    (Spark stops at the first false one); `isin` over the stop words becomes a hash-set lookup."""
    hashtag = word.startswith("#").cast("int")
    return (
        ~word.isin(*_DROPPED_WORDS) & (F.length(word) <= MAX_WORD_CHARS + hashtag)
        & ~word.rlike(_ALL_DIGITS) & ~word.rlike(_ONE_BASE_CHARACTER)
    )


def words_column(text: Column, is_retweet: Column, *, count_retweets: bool = False) -> Column:
    """array<string>: the tweet's words in order, repeats kept (an empty array for a retweet)."""
    words = F.filter(_candidates(clean_text(text)), _keep_word)
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
    # The clean text is a column of its own first: a projection evaluates a text used by several
    # branches of a when() once (common subexpressions), an explode's argument would not.
    cleaned = rows.select(*keep, clean_text(F.col(text)).alias(_CLEAN_TEXT))
    exploded = cleaned.select(*keep, F.explode(_candidates(F.col(_CLEAN_TEXT))).alias("word"))
    return exploded.where(_keep_word(F.col("word")))


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
    keyed = tweets.select(
        user_key_column(F.col(user)).alias("user"), F.col(text).alias("text"), F.col(is_retweet).alias("is_retweet")
    )
    exploded = exploded_words(keyed, keep=["user"], count_retweets=count_retweets)
    return exploded.groupBy("user", "word").agg(F.count(F.lit(1)).alias("count"))
