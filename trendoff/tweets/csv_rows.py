"""Records of an input file, read physical line by physical line with bounded memory (producer and csv_loader).

A bad line costs that line: an overlong line is skipped in chunks (never read whole), and a
quote that opens a field and never closes it properly costs the first line of the damaged record,
after which the lines it swallowed are read again. Every physical line of a file ends up in exactly
one record, one rejection, or is blank.
"""

from __future__ import annotations

import codecs
import csv
import os
import sys
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from trendoff.errors import TrendoffError
from trendoff.tweets.limits import MAX_TEXT_CHARS, RowRejected

# A CSV record holds the text with every quote doubled plus the other columns; four texts is room
# for any real record, and the most one record (a single line, or all the lines of a quoted
# multi-line field) may hold in memory.
MAX_CSV_RECORD_CHARS = 4 * MAX_TEXT_CHARS
# The bundled exports' longest record spans 32 lines. A quote left open swallows the lines after
# it until this many (or the size above), then the record is given up and they are read again.
MAX_RECORD_LINES = 500
SKIP_CHUNK_CHARS = 1 << 16
_LINE_ENDS = ("\n", "\r")


@dataclass(frozen=True)
class ColumnSpec:
    """Which CSV columns hold the tweet fields, and how to read them."""

    id_col: str | None
    user_col: str
    text_col: str
    time_col: str
    time_format: str = "iso"
    # A second column holding the time of day, for exports that split date and hour (followthehashtag).
    hour_col: str | None = None
    lang_col: str | None = None
    retweet_col: str | None = None
    retweets_col: str | None = None
    favorites_col: str | None = None
    # The id is the last part of a status URL in this column (the 538 files have no id column).
    id_from_url: bool = False
    encoding: str = "utf-8"
    # Text fixes for an export's known mojibake: (broken sequence, what it stood for).
    repairs: tuple[tuple[str, str], ...] = ()

    def columns(self) -> list[str]:
        named = [self.id_col, self.user_col, self.text_col, self.time_col, self.hour_col, self.lang_col,
                 self.retweet_col, self.retweets_col, self.favorites_col]
        return [name for name in named if name]


class BrokenInputError(TrendoffError):
    """The input cannot be read on from here (a truncated or corrupt gzip, an I/O error).

    What came before was delivered; the producer prints this one line, its summary and exits 1.
    """

    def __init__(self, message: str) -> None:
        super().__init__("broken-input", message)


def bounded_lines(handle: IO[str], limit: int, where: str, compressed: IO[bytes] | None = None
                  ) -> Iterator[str | None]:
    """The physical lines of ``handle`` (line ends kept), or None for a line longer than ``limit``.

    A longer line is skipped in chunks of SKIP_CHUNK_CHARS, so a 2 GB line never sits in memory.
    A read error (a truncated or corrupt gzip, an I/O error) is a BrokenInputError saying after which
    line, and how far into ``compressed`` (the raw file under a gzip stream), the input broke.
    """
    readline = handle.readline
    number = 0
    # A read cut by the limit right after a '\r' leaves the '\n' of its '\r\n' for the next read.
    cut_after_cr = False
    while True:
        try:
            line = readline(limit + 1)
            if cut_after_cr and line == "\n":
                line = readline(limit + 1)
            cut_after_cr = len(line) > limit and line[-1] == "\r"
            if len(line) > limit and line[-1] not in _LINE_ENDS:
                rest = line
                while rest and rest[-1] not in _LINE_ENDS:
                    rest = readline(SKIP_CHUNK_CHARS)
                cut_after_cr = rest[-1:] == "\r"
                line = None
        except (OSError, EOFError, zlib.error) as error:
            # gzip.BadGzipFile is an OSError, a cut stream an EOFError, bad deflate data a zlib.error.
            offset = ""
            if compressed is not None:
                offset = f" ({compressed.tell():,} of {os.fstat(compressed.fileno()).st_size:,} bytes read)"
            raise BrokenInputError(f"{where}: the input breaks after line {number:,}{offset}: {error}") from error
        if line == "":
            return
        number += 1
        yield line


def check_readable(path: Path) -> None:
    """A TrendoffError unless ``path`` is a file this process may read."""
    if not path.exists():
        raise TrendoffError("no-file", f"{path}: no such file")
    if not path.is_file():
        raise TrendoffError("not-a-file", f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise TrendoffError("unreadable-file", f"{path}: permission denied")


def check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise TrendoffError("unknown-encoding", f"--encoding {encoding!r} is not an encoding Python knows "
                            "(e.g. utf-8, latin-1, mac_roman, cp1252)") from None


class DecodeErrors:
    """Counts undecodable bytes seen by the 'trendoff-keep' error handler (which keeps them as surrogates).

    Decoding runs ahead of CSV parsing, so a row parsed while the count is still zero cannot hold a
    surrogate, and the per-row search is skipped for clean files (most of them).
    """

    count = 0

    @classmethod
    def handler(cls, error: UnicodeError) -> tuple[str, int]:
        cls.count += 1
        return codecs.lookup_error("surrogateescape")(error)


codecs.register_error("trendoff-keep", DecodeErrors.handler)


def without_bom(header: list[str]) -> list[str]:
    """Spreadsheet exports often start with a UTF-8 byte-order mark, which would hide the first column."""
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    return header


class _GiveUp(Exception):  # noqa: N818 - control flow inside the reader, never escapes it
    """The record being read cannot be a real one (too many lines, too long, an overlong line in it)."""


class _Lines:
    """Physical lines for the csv module, with the lines of the current record kept for re-reading."""

    def __init__(self, lines: Iterator[str | None]) -> None:
        self.source = lines
        self.number = 0
        self.pending: deque[tuple[int, str | None]] = deque()  # lines given back, read again first
        self.record: list[tuple[int, str | None]] = []  # the lines handed out for the current record

    def feed(self) -> Iterator[str]:
        """What csv.reader reads. Raises _GiveUp (ending this generator) when the record is implausible."""
        pending, record, source = self.pending, self.record, self.source
        chars = 0
        while True:
            if pending:
                item = pending.popleft()
            else:
                line = next(source, False)
                if line is False:
                    return
                self.number += 1
                item = (self.number, line)  # type: ignore[assignment]
            text = item[1]
            if not record:
                chars = 0
            record.append(item)
            if text is None:
                raise _GiveUp
            chars += len(text)
            if len(record) > 1 and (chars > MAX_CSV_RECORD_CHARS or len(record) > MAX_RECORD_LINES):
                raise _GiveUp
            yield text

    def give_back_all_but_first(self) -> tuple[int, int]:
        """Put the current record's lines after its first back to be read again: (first line, lines kept)."""
        first = self.record[0][0]
        self.pending.extendleft(reversed(self.record[1:]))
        kept = len(self.record) - 1
        self.record.clear()
        return first, kept


def _lenient(line: str) -> list[str]:
    """One physical line parsed the forgiving way (`say "hi" now` inside quotes), as csv did before."""
    return next(csv.reader([line]), [])


def csv_records(handle: IO[str], where: str) -> Iterator[tuple[int, int, list[str] | RowRejected]]:
    """(first line, physical lines, values or RowRejected) for every record of ``handle``; the header first.

    Quoted fields may span lines. The parse is strict (a quote inside a quoted field must be doubled),
    so a quote left open stops at the next quote instead of gluing rows together; a damaged
    multi-line record costs its first line as a rejection and the rest is read again. Blank lines
    and records with only empty fields are not yielded.
    """
    csv.field_size_limit(sys.maxsize)  # records are bounded by MAX_CSV_RECORD_CHARS instead
    lines = _Lines(bounded_lines(handle, MAX_CSV_RECORD_CHARS, where))
    record = lines.record
    width = -1  # the header's width, once read
    while True:
        reader = csv.reader(lines.feed(), strict=True)
        try:
            for values in reader:
                span = len(record)
                first = record[0][0]
                if span == 1:
                    if len(values) == width or width < 0:
                        if values[0] or "".join(values).strip():  # all-empty records are blank lines
                            if width < 0:
                                width = len(values)
                            yield first, 1, values
                    elif "".join(values).strip():  # blank lines are not rows
                        yield first, 1, RowRejected("malformed-row",
                                                    f"{len(values)} fields where the header has {width}")
                elif len(values) == width or width < 0:
                    if width < 0:
                        width = len(values)
                    yield first, span, values
                else:
                    lines.give_back_all_but_first()
                    yield first, 1, RowRejected(
                        "malformed-row", f"a quoted field from here spans {span} lines and gives {len(values)} "
                        f"fields where the header has {width}; the lines after it are read again")
                record.clear()
            return
        except _GiveUp:
            number = record[-1][0]
            if len(record) == 1:
                record.clear()
                yield number, 1, RowRejected(
                    "line-too-long", f"the line has more than {MAX_CSV_RECORD_CHARS:,} characters (skipped unread)")
                continue
            first, kept = lines.give_back_all_but_first()
            yield first, 1, RowRejected(
                "malformed-row", f"a quote opened here is not closed within {MAX_RECORD_LINES} lines or "
                f"{MAX_CSV_RECORD_CHARS:,} characters; the {kept} lines after it are read again")
        except csv.Error as error:
            if not record:  # the csv module fails only on characters it was given
                raise
            if len(record) == 1:
                first, line = record[0]
                record.clear()
                values = _lenient(line or "")
                if len(values) == width or width < 0:
                    if width < 0:
                        width = len(values)
                    yield first, 1, values
                else:
                    yield first, 1, RowRejected("malformed-row", f"not a CSV record: {error}")
                continue
            last = record[-1][0]
            first, kept = lines.give_back_all_but_first()
            yield first, 1, RowRejected(
                "malformed-row", f"a quoted field opened here does not end well ({error}, line {last}); "
                f"the {kept} lines after it are read again")


def open_csv(path: Path, encoding: str) -> IO[str]:
    """The CSV as text: newline='' keeps line ends for the csv module; bad bytes become surrogates."""
    check_readable(path)
    check_encoding(encoding)
    return path.open(encoding=encoding, errors="trendoff-keep", newline="")


def read_header(path: Path, encoding: str) -> list[str]:
    """The first record of ``path`` (its column names); an empty or unreadable start is a TrendoffError."""
    with open_csv(path, encoding) as handle:
        for _first, _span, values in csv_records(handle, path.name):
            if isinstance(values, RowRejected):
                raise TrendoffError("bad-csv", f"{path} does not start with a CSV header: {values.message}")
            return without_bom(values)
    raise TrendoffError("empty-file", f"{path} is empty: a CSV with a header row is needed")


def iter_csv_spans(
    path: Path, spec: ColumnSpec, header_out: list[str] | None = None
) -> Iterator[tuple[int, int, list[str] | RowRejected]]:
    """(first line, physical lines, values or RowRejected) for each record after the header.

    Every physical line of the file is in exactly one of them, or blank. The header is put in
    ``header_out``. Bytes that are not valid in the encoding are kept as surrogates and the row is
    rejected by :class:`RowReader`, so one bad byte costs one row, not the file.
    """
    with open_csv(path, spec.encoding) as handle:
        records = csv_records(handle, path.name)
        for _first, _span, header in records:
            if isinstance(header, RowRejected):
                raise TrendoffError("bad-csv", f"{path} does not start with a CSV header: {header.message}")
            if header_out is not None:
                header_out[:] = without_bom(header)
            break
        yield from records


def iter_csv_records(
    path: Path, spec: ColumnSpec, header_out: list[str] | None = None
) -> Iterator[tuple[int, list[str] | RowRejected]]:
    """(line number, values) for each record, quoted multi-line fields included; broken rows as RowRejected."""
    for line, _span, values in iter_csv_spans(path, spec, header_out):
        yield line, values


def iter_csv_rows(path: Path, spec: ColumnSpec) -> Iterator[tuple[int, dict[str, str] | RowRejected]]:
    """(line number, column -> value) for each record, or RowRejected for a broken one."""
    header: list[str] = []
    for line, values in iter_csv_records(path, spec, header):
        yield line, values if isinstance(values, RowRejected) else dict(zip(header, values, strict=True))
