"""A plain-Python statement of the word rule (SPEC §3, with the edge cases decided in trendoff/views/words.py),
for the property tests: slow and simple, written from the SPEC, sharing no code with the Spark rule.

Python's own ``str.lower`` (Unicode default case mapping) and ``\\s`` (``str.isspace``) are the
reference; the character classes come from ``unicodedata`` (letters L*, marks M*, digits N*).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable

from trendoff.views.words import STOP_WORDS  # data (tested against Spark ML's list), not logic

ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))
MAX_WORD_CHARS = 100


def _character_class(wanted: Callable[[str], bool]) -> str:
    """The inside of a [...] class holding every code point for which ``wanted`` is true, as ranges."""
    ranges: list[str] = []
    start = None
    for code in range(sys.maxunicode + 2):
        inside = code <= sys.maxunicode and wanted(chr(code))
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append(re.escape(chr(start)) + ("" if code - 1 == start else "-" + re.escape(chr(code - 1))))
            start = None
    return "".join(ranges)


def _category_is(first_letter: str) -> Callable[[str], bool]:
    return lambda character: unicodedata.category(character)[0] == first_letter


LETTERS = _character_class(_category_is("L"))
MARKS = _character_class(_category_is("M"))
DIGITS = _character_class(_category_is("N"))
# A word character: a letter, a mark that follows one, a digit or _ (once the other marks are gone).
WORD_CHARACTER = f"[{LETTERS}{MARKS}{DIGITS}_]"
NOT_AFTER_WORD_CHARACTER = f"(?<!{WORD_CHARACTER})"

BARE_MARKS = re.compile(f"(?<![{LETTERS}{MARKS}])[{MARKS}]+")
URLS = re.compile(rf"{NOT_AFTER_WORD_CHARACTER}(?:https?://|www\.)\S*")
MENTIONS = re.compile(f"{NOT_AFTER_WORD_CHARACTER}@{WORD_CHARACTER}+")
WORDS = re.compile(f"(?:{NOT_AFTER_WORD_CHARACTER}#)?{WORD_CHARACTER}+(?:'{WORD_CHARACTER}+)*")


def words(text: str | None, is_retweet: bool | None = False, *, count_retweets: bool = False) -> list[str]:
    """The tweet's words in order, repeats kept."""
    if text is None or (is_retweet and not count_retweets):
        return []
    for entity, character in ENTITIES:
        text = text.replace(entity, character)
    text = text.replace("\u2019", "'").lower()
    # A mark that follows no letter separates words but is no whitespace (a URL goes on over it).
    text = BARE_MARKS.sub("\ufffd", text)
    text = URLS.sub(" ", text)
    text = MENTIONS.sub(" ", text)
    return [word for word in WORDS.findall(text) if kept(word)]


def kept(word: str) -> bool:
    core = word.removeprefix("#")
    base_characters = [character for character in core if unicodedata.category(character)[0] != "M"]
    return (
        len(base_characters) > 1
        and len(core) <= MAX_WORD_CHARS
        and not all(unicodedata.category(character)[0] == "N" for character in core)
        and core not in STOP_WORDS
    )
