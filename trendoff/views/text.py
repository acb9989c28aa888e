"""Unicode text in Spark as Python sees it: str.isspace()'s whitespace and str.lower's lower case, in any JVM
locale and in linear time. The word rule (words.py) and the user key (keys.py) build on it."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# Whitespace is Python's str.isspace() set (what str.strip() and str.split() use): Unicode's
# White_Space plus the four information separators U+001C..U+001F. Java's \s (ASCII only) and even
# (?U)\s (White_Space only) are narrower, so the set is spelled out.
WHITESPACE_CHARACTERS = (
    r"\t\n\x{0B}\f\r\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
)
UNICODE_WHITESPACE = f"[{WHITESPACE_CHARACTERS}]"
# A literal supplementary character in a pattern makes Java's lookbehind step back by code points;
# without one it steps back one UTF-16 unit, sees half of a letter such as U+1D400 and takes it for a
# separator. U+10000 is itself a letter, so adding it to a class of letters changes nothing else.
SUPPLEMENTARY_LETTER = "\U00010000"
# A combining mark (or a run of them) that follows no letter becomes a character that is neither a
# word character nor whitespace, so that it separates words but does not end a URL.
_BARE_MARKS = r"\p{M}(?<![\p{L}\p{M}" + SUPPLEMENTARY_LETTER + r"]\p{M})\p{M}*+"
_BARE_MARK_STANDIN = "\ufffd"
# Python's str.lower maps a capital sigma to final ς when a cased letter comes before it and none
# after it, skipping case-ignorable characters both ways (Unicode's Final_Sigma condition). Cased is
# Unicode's Lowercase or Uppercase (Java's isLowerCase/isUpperCase include the Other_* parts) or Lt;
# Case_Ignorable is Mn, Me, Cf, Lm, Sk and the Word_Break MidLetter, MidNumLet and Single_Quote
# characters, listed here. The match starts at the cased letter (Java's lookbehind cannot be
# unbounded), which is safe: that letter is never itself a final sigma, since a sigma follows it.
_CASED = r"\p{IsLowercase}\p{IsUppercase}\p{Lt}"
_CASE_IGNORABLE = (
    r"\p{Mn}\p{Me}\p{Cf}\p{Lm}\p{Sk}'.:\x{B7}\x{387}\x{55F}\x{5F4}\x{2018}\x{2019}\x{2024}\x{2027}"
    r"\x{FE13}\x{FE52}\x{FE55}\x{FF07}\x{FF0E}\x{FF1A}"
)
_FINAL_SIGMA = (
    rf"([[{_CASED}]&&[^{_CASE_IGNORABLE}]][{_CASE_IGNORABLE}]*+)\x{{3A3}}(?![{_CASE_IGNORABLE}]*+[{_CASED}])"
)
_CAPITAL_SIGMA, _FINAL_SMALL_SIGMA, _SMALL_SIGMA = "\u03a3", "\u03c2", "\u03c3"
# The capitals whose lower case Java changes with the default locale (Turkish and Azeri: I becomes
# a dotless i U+0131 and İ an i; Lithuanian adds a dot above to I, J, Į before accents and to Ì, Í,
# Ĩ), mapped to their Locale.ROOT (and Python) lower case first; what is left has one lower case in
# every locale.
_LOCALE_FREE_FROM = "IJ\u012e\u00cc\u00cd\u0128" + _CAPITAL_SIGMA
_LOCALE_FREE_TO = "ij\u012f\u00ec\u00ed\u0129" + _SMALL_SIGMA
_CAPITAL_I_DOT, _SMALL_I_DOT = "\u0130", "i\u0307"


def lower_text(text: Column) -> Column:
    """Python's ``str.lower`` of ``text``, in any JVM locale and in linear time (Spark's lower() is neither)."""
    return lowered(text)


def lowered(text: Column, replaced: str = "", replacements: str = "", *, bare_marks: bool = False) -> Column:
    """lower_text after translating ``replaced`` into ``replacements`` (non-ASCII characters only), with
    _BARE_MARKS replaced when asked.

    Spark lower-cases an ASCII text byte by byte and locale-free, and an ASCII text holds no mark: only
    other texts need the care below. Inside words_column each mention of ``text`` is evaluated again
    (a higher-order function is interpreted), so it is mentioned few times.
    """
    # A byte search spares texts without a capital sigma the pattern.
    sigmas_done = F.when(text.contains(_CAPITAL_SIGMA), F.regexp_replace(text, _FINAL_SIGMA, "$1" + _FINAL_SMALL_SIGMA))
    translated = F.translate(sigmas_done.otherwise(text), replaced + _LOCALE_FREE_FROM, replacements + _LOCALE_FREE_TO)
    non_ascii = F.lower(F.replace(translated, F.lit(_CAPITAL_I_DOT), F.lit(_SMALL_I_DOT)))
    if bare_marks:
        non_ascii = F.regexp_replace(non_ascii, _BARE_MARKS, _BARE_MARK_STANDIN)
    return F.when(F.length(text) < F.octet_length(text), non_ascii).otherwise(F.lower(text))
