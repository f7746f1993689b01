"""Reading raw text data: CSV, TSV, JSON Lines and folder-per-label files, row by row.

Everything here is plain Python (no Beam, no TensorFlow at import time), so it can be unit tested
directly; the Beam executor calls `read_rows` / `parse_text_file` once per input file.

Parsing never drops a row silently: every record of a file comes back as a `Row`, either accepted
(`reason is None`, with `text` and `label`) or rejected (`reason` says why, `content` holds the raw
record, truncated). Fully blank lines are not rows; they are only counted.

A CSV, TSV or JSON Lines file is parsed while it is read, `CHUNK_BYTES` at a time (`read_rows`):
memory holds one chunk and the record being parsed, never the whole file. The UTF-8 decoding
(BOM dropped, undecodable bytes kept as surrogates) and the line endings (\\n, \\r\\n or \\r, as the
csv module counts them) are those of `decode` and `split_lines` on the whole file, wherever the
chunks end, so line numbers do not depend on the chunk size. A record longer than
`MAX_RECORD_CHARS` (a line, or a quoted CSV record over several lines; in practice a quote that
never closes) is rejected as `record_too_long` on its first line without being held whole, and
parsing resumes on the next line, as after a malformed record.

A file whose first block is not text (a known binary signature, UTF-16, NUL bytes, mostly invalid
UTF-8) is refused as a binary file by `check_text`, before its rows are parsed. A headerless
two-column CSV/TSV file with no column configured has its label and text columns told apart from
its first `SAMPLE_ROWS` rows (`resolve_columns`); only such a file is read ahead, and only that
far.

Finding the input (files, splits, spans) and the preflight checks are in input_layout.py.
"""

from __future__ import annotations

import codecs
import collections
import csv
import io
import itertools
import json
import posixpath
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from components.core.config import DataConfig
from components.core.errors import UserError

# -- names ----------------------------------------------------------------------------------------
TEXT_ALIASES = ("text", "sentence", "review", "message")
LABEL_ALIASES = ("label", "labels", "class", "category", "target")

# Why a row was rejected (the `reason` of a rejected Row and the keys of `rejected_by_reason`).
INVALID_UTF8 = "invalid_utf8"
EMPTY_TEXT = "empty_text"
MISSING_LABEL = "missing_label"
WRONG_COLUMN_COUNT = "wrong_column_count"
MALFORMED_CSV = "malformed_csv"
MALFORMED_JSON = "malformed_json"
INVALID_TEXT = "invalid_text"
INVALID_LABEL = "invalid_label"
UNKNOWN_LABEL = "unknown_label"
RECORD_TOO_LONG = "record_too_long"

MAX_CONTENT_CHARS = 200

_SURROGATE = re.compile("[\udc80-\udcff]")  # what undecodable bytes become (surrogateescape)


HEAD_BYTES = 1 << 20  # what format detection (and the preflight) reads of a file
BINARY_CHECK_BYTES = 4096  # what `check_text` looks at: the first block of a file
MAX_INVALID_UTF8_SHARE = 0.1  # more undecodable bytes than this in that block: a binary file
SAMPLE_ROWS = 200  # the first rows that tell a headerless file's label and text columns apart
MAX_LABEL_VALUES = 20  # a label column has at most this many distinct values in the sample
MAX_LABEL_CHARS = 32  # ... each at most this long
MIN_SAMPLE_ROWS = 10  # fewer rows than this tell nothing with confidence
CHUNK_BYTES = 1 << 20  # what `read_rows` reads of a file at a time
MAX_RECORD_CHARS = 1 << 22  # a longer record is rejected as record_too_long (see the docstring)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class InputError(UserError, ValueError):
    """The input cannot be read as configured: missing path, empty input, unknown column."""


@dataclass(frozen=True)
class Row:
    """One record of an input file: accepted (`reason` None) or rejected."""

    file: str
    line: int  # 1-based physical line where the record starts
    text: str = ""
    label: str = ""
    reason: str | None = None
    content: str = ""  # the raw record, for rejected rows (truncated to MAX_CONTENT_CHARS)

    @property
    def accepted(self) -> bool:
        return self.reason is None

    def to_json(self) -> str:
        """The rejected-rows line for this row."""
        record = {"file": self.file, "line": self.line, "reason": self.reason}
        record["content"] = self.content
        return json.dumps(record, ensure_ascii=False)


@dataclass
class ParsedFile:
    rows: list[Row]
    blank_lines: int = 0
    columns: Columns | None = None  # CSV/TSV: where text and label were found


@dataclass(frozen=True)
class Columns:
    """Where text and label are in a CSV/TSV file; `guessed` says how a headerless file's columns
    were told apart when no column was configured (empty otherwise)."""

    has_header: bool
    text_index: int
    label_index: int
    num_columns: int
    guessed: str = ""


# -- helpers ----------------------------------------------------------------------------------------
def display(raw: str) -> str:
    """A raw record as it appears in reports: undecodable bytes as \\xNN, at most ~200 chars."""
    text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = text.rstrip("\r\n")
    if len(text) > MAX_CONTENT_CHARS:
        text = text[:MAX_CONTENT_CHARS] + "..."
    return text


def decode(data: bytes) -> str:
    """UTF-8 text with any BOM removed; invalid bytes survive as surrogates (see `display`)."""
    text = data.decode("utf-8", "surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def split_lines(text: str) -> list[str]:
    """Physical lines with their endings (\\n, \\r\\n or \\r), as the csv module counts them."""
    return io.StringIO(text, newline="").readlines()


# Leading bytes of file types that are not text, and what to do about them.
_MAGIC = (
    (b"\x1f\x8b", "a gzip archive", "decompress it (gunzip) first"),
    (b"PK\x03\x04", "a zip archive (or an .xlsx/.docx file)", "extract it, or save a sheet as CSV"),
    (b"BZh", "a bzip2 archive", "decompress it (bunzip2) first"),
    (b"\xfd7zXZ\x00", "an xz archive", "decompress it (unxz) first"),
    (b"(\xb5/\xfd", "a zstd archive", "decompress it (unzstd) first"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "point data.data at the text data"),
    (b"\xff\xd8\xff", "a JPEG image", "point data.data at the text data"),
    (b"GIF8", "a GIF image", "point data.data at the text data"),
    (b"%PDF-", "a PDF document", "export its text as CSV first"),
    (b"PAR1", "a Parquet file", "export it as CSV or JSON Lines first"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_EXPECTED_TEXT = "expected CSV, TSV or JSON Lines (UTF-8 text)"


def check_text(path: str, head: bytes) -> None:
    """Raises InputError when the first block of a CSV/TSV/JSON Lines file is not text.

    Looks at the first `BINARY_CHECK_BYTES` only: a known binary signature (gzip, zip, images,
    PDF, Parquet), a UTF-16 byte order mark, a NUL byte, or more than `MAX_INVALID_UTF8_SHARE`
    of the bytes not valid UTF-8. A few invalid bytes in text are left to row rejection.
    """
    block = head[:BINARY_CHECK_BYTES]
    for magic, kind, advice in _MAGIC:
        if block.startswith(magic):
            raise InputError(
                f"{path} looks like a binary file ({kind}: it starts with bytes "
                f"{magic.hex(' ')}), not text: {_EXPECTED_TEXT}; {advice}"
            )
    if block.startswith(_UTF16_BOMS):
        raise InputError(
            f"{path} is UTF-16 text (it starts with the byte order mark {block[:2].hex(' ')}), "
            f"not UTF-8: {_EXPECTED_TEXT}; convert it to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)"
        )
    nul = block.find(b"\x00")
    if nul >= 0:
        raise InputError(
            f"{path} looks like a binary file (NUL bytes at byte {nul}), not text: "
            f"{_EXPECTED_TEXT}; point data.data at the text data"
        )
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(block, final=False)
    invalid = _SURROGATE.findall(text)
    if block and len(invalid) > MAX_INVALID_UTF8_SHARE * len(block):
        first = _SURROGATE.search(text)
        at = len(text[: first.start()].encode("utf-8", "surrogateescape"))
        raise InputError(
            f"{path} looks like a binary file ({len(invalid)} of its first {len(block)} bytes "
            f"are not valid UTF-8, the first at byte {at}), not text: {_EXPECTED_TEXT}; if it "
            "is text in another encoding, convert it to UTF-8"
        )


def _is_index(column: str) -> bool:
    return column.strip().isdigit()


def _check_row(path: str, line: int, text, label, raw: str, labels: tuple[str, ...]) -> Row:
    """Validates an extracted (text, label) pair; `text`/`label` may be None when absent."""

    def reject(reason: str) -> Row:
        return Row(path, line, reason=reason, content=display(raw))

    if _SURROGATE.search(raw):
        return reject(INVALID_UTF8)
    if text is not None and not isinstance(text, str):
        return reject(INVALID_TEXT)
    if text is None or not text.strip():
        return reject(EMPTY_TEXT)
    if isinstance(label, bool) or not isinstance(label, (str, int, type(None))):
        return reject(INVALID_LABEL)
    label = "" if label is None else str(label).strip()
    if not label:
        return reject(MISSING_LABEL)
    if labels and label not in labels:
        return reject(UNKNOWN_LABEL)
    return Row(path, line, text=text, label=label)


# -- reading a file a chunk at a time ---------------------------------------------------------------
class _LongLine(str):
    """The start of a physical line longer than the record limit (the rest was read and dropped)."""


class _ChunkReader(io.RawIOBase):
    """A binary handle (a local file, tf.io.gfile, BytesIO) read at most `chunk_bytes` at a time."""

    def __init__(self, handle: BinaryIO, chunk_bytes: int):
        super().__init__()
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be at least 1, got {chunk_bytes}")
        self._handle = handle
        self._chunk_bytes = chunk_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(min(len(buffer), self._chunk_bytes))
        buffer[: len(data)] = data
        return len(data)


def _physical_lines(readline: Callable[[int], str], max_chars: int) -> Iterator[str]:
    """Physical lines (with their endings) from a text stream opened with newline="".

    A line longer than `max_chars` (its ending included) comes as a `_LongLine` holding only its
    start (what `display` shows); the rest of it is read piece by piece and dropped.
    """
    limit = max_chars + 1
    ahead = None
    while True:
        piece = readline(limit) if ahead is None else ahead
        ahead = None
        if not piece:
            return
        if len(piece) <= max_chars:  # readline stopped at a line ending, or at the end
            yield piece
            continue
        start = piece  # kept up to what `display` shows
        while piece and not piece.endswith(("\n", "\r")):
            piece = readline(limit)
            if len(start) <= MAX_CONTENT_CHARS:
                start += piece
        if len(piece) == limit and piece.endswith("\r"):  # the limit may split a \r\n
            ahead = readline(limit)
            if ahead == "\n":
                ahead = None
        yield _LongLine(start[: MAX_CONTENT_CHARS + 1])


def file_lines(
    handle: BinaryIO, chunk_bytes: int = CHUNK_BYTES, max_line_chars: int = MAX_RECORD_CHARS
) -> Iterator[str]:
    """The physical lines of a UTF-8 file, read `chunk_bytes` at a time: the lines and the text of
    `split_lines(decode(<whole file>))`, whatever the chunk size (lines longer than
    `max_line_chars` come as their start only, see `_physical_lines`)."""
    text = io.TextIOWrapper(
        io.BufferedReader(_ChunkReader(handle, chunk_bytes), buffer_size=chunk_bytes),
        encoding="utf-8-sig",  # drops a BOM at the start, as `decode` does
        errors="surrogateescape",
        newline="",  # \n, \r\n and \r end lines and are kept, as in `split_lines`
    )
    return _physical_lines(text.readline, max_line_chars)


# -- format -----------------------------------------------------------------------------------------
def detect_format(path: str, head: str, data_format: str = "auto") -> str:
    """csv, tsv or jsonl for one file: the configured format, else from its extension or content."""
    if data_format in ("csv", "tsv", "jsonl"):
        return data_format
    ext = posixpath.splitext(path)[1].lower()
    if ext == ".csv":
        return "csv"
    if ext == ".tsv":
        return "tsv"
    if ext in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    first = next((line for line in split_lines(head) if line.strip()), "")
    if "\t" in first:
        return "tsv"
    if first.lstrip().startswith("{"):
        return "jsonl"
    if "," in first:
        return "csv"
    raise InputError(
        f"cannot tell the format of {path}: its first line has no tab or comma and is not a JSON "
        f"object; set data.format to one of csv, tsv, jsonl (first line: {display(first)!r})"
    )


# -- CSV / TSV ----------------------------------------------------------------------------------------
def _reader_options(fmt: str) -> dict:
    if fmt == "tsv":  # TSV has no quoting: quote characters are ordinary text
        return {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    return {"delimiter": ",", "quoting": csv.QUOTE_MINIMAL, "strict": True}


class _RecordTooLong(Exception):
    """Raised through csv.reader when the record being read grows past the record limit."""


_TOO_LONG = object()  # the `fields` of a record longer than the record limit


class _RecordFeed:
    """Lines for csv.reader that keeps the lines (and first line number) of the record being read.

    After each record, `take` hands them over (and forgets them); `put_back` returns lines to be
    read again (to resume parsing after a malformed record). A record that grows past `max_chars`
    raises `_RecordTooLong` out of the csv reader, so no record is held beyond the limit.
    """

    def __init__(self, lines: Iterable[str], max_chars: int):
        self._lines = iter(lines)
        self._max_chars = max_chars
        self._next_number = 1
        self._back: list[tuple[int, str]] = []  # (number, line) to read again, the next one last
        self._first = 1  # the number of the record's first line
        self._record: list[str] = []
        self._chars = 0

    def __iter__(self) -> _RecordFeed:
        return self

    def __next__(self) -> str:
        if self._back:
            number, line = self._back.pop()
        else:
            line = next(self._lines)  # StopIteration ends the csv reader
            number = self._next_number
            self._next_number += 1
        if not self._record:
            self._first = number
        self._record.append(line)
        self._chars += len(line)
        if self._chars > self._max_chars or isinstance(line, _LongLine):
            raise _RecordTooLong
        return line

    def take(self) -> tuple[int, list[str]]:
        """(first line number, lines) of the record read since the last `take`."""
        record, self._record, self._chars = self._record, [], 0
        return self._first, record

    def put_back(self, first_number: int, lines: list[str]) -> None:
        self._back.extend(reversed(list(enumerate(lines, start=first_number))))


def _records(
    lines: Iterable[str], fmt: str, max_chars: int
) -> Iterator[tuple[int, int, str, object]]:
    """(first line number, physical lines, raw record, fields) per record, as the lines are read.

    `fields` is the list of fields, None for a malformed record (bad quoting, e.g. a quote that
    never closes) and `_TOO_LONG` for a record longer than `max_chars`. Those two are reported on
    their first physical line only (raw = that line), and parsing resumes on the next line, so one
    stray quote cannot swallow the rest of the file.
    """
    options = _reader_options(fmt)
    feed = _RecordFeed(lines, max_chars)
    while True:
        reader = csv.reader(feed, **options)
        try:
            for fields in reader:
                number, record = feed.take()
                yield number, len(record), "".join(record), fields
        except (csv.Error, _RecordTooLong) as error:
            fields = _TOO_LONG if isinstance(error, _RecordTooLong) else None
        else:
            fields = None  # the end of the input inside a record (not seen from csv.reader)
        number, record = feed.take()
        if not record:
            return
        yield number, 1, record[0], fields
        feed.put_back(number + 1, record[1:])


def _is_header(first_row: list[str], data_config: DataConfig) -> bool:
    if data_config.header != "auto":
        return data_config.header == "yes"
    cells = {cell.strip().lower() for cell in first_row}
    names = [
        column.strip().lower()
        for column in (data_config.text_column, data_config.label_column)
        if column.strip() and not _is_index(column)
    ]
    if names:
        return all(name in cells for name in names)
    return bool(cells & set(TEXT_ALIASES + LABEL_ALIASES))


def _column_index(
    what: str, setting: str, aliases: tuple[str, ...], first_row: list[str], has_header: bool, path
) -> int:
    column = setting.strip()
    shown = [cell.strip() for cell in first_row]
    if _is_index(column):
        index = int(column)
        if index >= len(first_row):
            row_kind = "header" if has_header else "first row"
            raise InputError(
                f"{what} column {index} does not exist in {path}: its {row_kind} has "
                f"{len(first_row)} column(s) {shown} (indexes are 0-based; set data.{what}_column)"
            )
        return index
    if not has_header and column:
        raise InputError(
            f"no {what} column {column!r} in {path}: it has no header row holding that name "
            f"(its first row is {shown}); set data.{what}_column to a header name or a 0-based "
            "index"
        )
    if not has_header:
        raise InputError(
            f"{path} has no header row (its first row is {shown}), so the {what} column must be "
            f"given as a 0-based index: set data.{what}_column (and data.header=no); or "
            "data.header=yes if that first row is a header"
        )
    lowered = [cell.lower() for cell in shown]
    for name in [column] if column else list(aliases):
        if name in shown:
            return shown.index(name)
        if name.lower() in lowered:
            return lowered.index(name.lower())
    expected = repr(column) if column else "one of " + "|".join(aliases)
    raise InputError(
        f"no {what} column in {path}: expected {expected} in its header {shown}; "
        f"set data.{what}_column to a header name or a 0-based index"
    )


def _shown(values: list[str], limit: int = 5) -> str:
    """A few values for a message: `a, b, c` (and how many more)."""
    head = ", ".join(values[:limit])
    return head + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _guess_two_columns(
    first_row: list[str], sample: list[list[str]], data_config: DataConfig, path: str
) -> Columns:
    """Label and text columns of a headerless two-column file from a sample of its first rows.

    A label column has at most MAX_LABEL_VALUES distinct values, each at most MAX_LABEL_CHARS
    long, every value shared by two rows on average; the text column is not like that and is
    longer on average. Exactly one column must look like labels, and the first row's label must
    occur again (a label seen once in the first row may be a header); otherwise InputError, with
    what was seen.
    """
    rows = [row for row in sample if len(row) == 2]
    columns = [[row[index].strip() for row in rows] for index in (0, 1)]

    def label_like(values: list[str]) -> bool:  # empty values: rows rejected as missing_label
        distinct = {value for value in values if value}
        return (
            0 < len(distinct) <= MAX_LABEL_VALUES
            and 2 * len(distinct) <= len(values)
            and all(len(value) <= MAX_LABEL_CHARS for value in distinct)
        )

    def mean_length(values: list[str]) -> float:
        return sum(map(len, values)) / max(len(values), 1)

    seen = "; ".join(
        f"column {index}: {len(set(values))} distinct values, {mean_length(values):.0f} characters "
        "on average"
        for index, values in enumerate(columns)
    )
    likes = [label_like(values) for values in columns]
    problem = ""
    if len(rows) < MIN_SAMPLE_ROWS:
        problem = f"it has {len(rows)} two-column row(s), fewer than {MIN_SAMPLE_ROWS}"
    elif likes.count(True) != 1:
        problem = (
            "neither column looks like labels"
            if not any(likes)
            else "both columns look like labels"
        )
    else:
        label, text = (0, 1) if likes[0] else (1, 0)
        first = first_row[label].strip()  # the first row's label, or a header's name
        counts: dict[str, int] = {}
        for value in columns[label]:
            counts[value] = counts.get(value, 0) + 1
        if mean_length(columns[text]) <= mean_length(columns[label]):
            problem = f"column {text} is not longer than the label-like column {label}"
        elif data_config.header == "auto" and first and counts[first] == 1:
            problem = (
                f"the first row's {first!r} occurs once in column {label}, "
                "so the first row may be a header"
            )
        else:
            values = sorted(filter(None, counts), key=lambda value: (-counts[value], value))
            guessed = (
                f"{path}: no header; column {label} = label ({len(values)} distinct values in the "
                f"first {len(rows)} rows: {_shown(values)}), column {text} = text "
                "(set data.text_column and data.label_column to choose otherwise)"
            )
            return Columns(False, text, label, 2, guessed)
    raise InputError(
        f"{path} has no header row (its first row is {[cell.strip() for cell in first_row]}) and "
        f"its text and label columns cannot be told apart with confidence: {problem} (first "
        f"{len(rows)} rows, {seen}). Give the columns as 0-based indexes: set data.text_column "
        "and data.label_column (and data.header=no); or data.header=yes if that first row is a "
        "header"
    )


def needs_sample(first_row: list[str], data_config: DataConfig) -> bool:
    """Whether a file's columns are told apart from a sample of its first rows: a headerless
    two-column file with no column configured (data.header auto or no)."""
    unset = not data_config.text_column.strip() and not data_config.label_column.strip()
    return unset and len(first_row) == 2 and not _is_header(first_row, data_config)


def resolve_columns(
    first_row: list[str], data_config: DataConfig, path: str, sample: list[list[str]] = ()
) -> Columns:
    """Header or not, and the text and label column indexes, from a file's first record.

    With data.header=auto the first row is a header when it holds the configured column names
    (when names are configured) or else any known alias (TEXT_ALIASES, LABEL_ALIASES). A
    headerless two-column file with no column configured (data.header auto or no) has its label
    and text columns told apart from `sample`, its first rows (see `_guess_two_columns`).
    """
    has_header = _is_header(first_row, data_config)
    if needs_sample(first_row, data_config):
        return _guess_two_columns(first_row, list(sample) or [first_row], data_config, path)
    settings = [
        ("text", data_config.text_column, TEXT_ALIASES),
        ("label", data_config.label_column, LABEL_ALIASES),
    ]
    if not has_header:  # a configured name that is missing says more than a missing index
        settings.sort(key=lambda item: _is_index(item[1]) or not item[1].strip())
    found = {
        what: _column_index(what, setting, aliases, first_row, has_header, path)
        for what, setting, aliases in settings
    }
    if found["text"] == found["label"]:
        raise InputError(
            f"text and label are the same column ({found['text']}) in {path}; "
            "set data.text_column and data.label_column"
        )
    return Columns(has_header, found["text"], found["label"], len(first_row))


def _is_record(raw: str, fields) -> bool:
    """Whether a record of `_records` is a well-formed, non-blank, decodable one."""
    return isinstance(fields, list) and bool(raw.strip()) and not _SURROGATE.search(raw)


def _read_ahead(records: Iterator) -> list:
    """The next records, up to SAMPLE_ROWS well-formed ones or HEAD_BYTES characters."""
    ahead, good, chars = [], 0, 0
    for record in records:
        ahead.append(record)
        good += _is_record(record[2], record[3])
        chars += len(record[2])
        if good >= SAMPLE_ROWS - 1 or chars >= HEAD_BYTES:
            break
    return ahead


def _parse_delimited(
    path: str, lines: Iterable[str], fmt: str, data_config: DataConfig, rows: RowReader
) -> Iterator[Row]:
    records = _records(lines, fmt, rows.max_record_chars)
    ahead: collections.deque = collections.deque()  # records read ahead as a sample, to come
    columns: Columns | None = None
    while True:
        record = ahead.popleft() if ahead else next(records, None)
        if record is None:
            return
        line, count, raw, fields = record
        if fields is _TOO_LONG:
            yield Row(path, line, reason=RECORD_TOO_LONG, content=display(raw))
            continue
        if fields is not None and not raw.strip():
            rows.blank_lines += count
            continue
        if fields is None:
            reason = INVALID_UTF8 if _SURROGATE.search(raw) else MALFORMED_CSV
            yield Row(path, line, reason=reason, content=display(raw))
            continue
        if columns is None:
            sample = [fields]
            if needs_sample(fields, data_config):  # only then are rows read ahead
                ahead.extend(_read_ahead(records))
                sample += [fields for _, _, raw, fields in ahead if _is_record(raw, fields)]
            columns = resolve_columns(fields, data_config, path, sample)
            rows.columns = columns
            if columns.has_header:
                continue
        if len(fields) != columns.num_columns:
            reason = INVALID_UTF8 if _SURROGATE.search(raw) else WRONG_COLUMN_COUNT
            yield Row(path, line, reason=reason, content=display(raw))
            continue
        yield _check_row(
            path,
            line,
            fields[columns.text_index],
            fields[columns.label_index],
            raw,
            data_config.labels,
        )


# -- JSON Lines -------------------------------------------------------------------------------------
def _resolve_key(what: str, setting: str, aliases: tuple[str, ...], record: dict, path, line):
    keys = list(record)
    if setting:
        if setting in record:
            return setting
        raise InputError(
            f"no {what} key {setting!r} in {path}: its first record (line {line}) has keys "
            f"{keys}; set data.{what}_column"
        )
    lowered = {str(key).lower(): key for key in keys}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    raise InputError(
        f"no {what} key in {path}: expected one of {'|'.join(aliases)} in its first record "
        f"(line {line}), which has keys {keys}; set data.{what}_column"
    )


def _parse_jsonl(
    path: str, lines: Iterable[str], data_config: DataConfig, rows: RowReader
) -> Iterator[Row]:
    keys: tuple[str, str] | None = None
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, _LongLine):
            yield Row(path, number, reason=RECORD_TOO_LONG, content=display(raw))
            continue
        if not raw.strip():
            rows.blank_lines += 1
            continue
        if _SURROGATE.search(raw):
            yield Row(path, number, reason=INVALID_UTF8, content=display(raw))
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            yield Row(path, number, reason=MALFORMED_JSON, content=display(raw))
            continue
        if keys is None:
            keys = (
                _resolve_key("text", data_config.text_column, TEXT_ALIASES, record, path, number),
                _resolve_key(
                    "label", data_config.label_column, LABEL_ALIASES, record, path, number
                ),
            )
        text_value, label_value = record.get(keys[0]), record.get(keys[1])
        yield _check_row(path, number, text_value, label_value, raw, data_config.labels)


# -- rows of a file ---------------------------------------------------------------------------------
class RowReader:
    """The rows of one CSV, TSV or JSON Lines file, parsed while its lines are read (iterate once).

    `lines` are the file's physical lines (`file_lines`, or `split_lines` of decoded text). After
    the iteration, `blank_lines` holds the number of blank lines skipped. Raises InputError when
    the format, or the file's columns or keys, cannot be resolved (see `resolve_columns`).
    """

    def __init__(
        self,
        path: str,
        lines: Iterable[str],
        data_config: DataConfig,
        max_record_chars: int = MAX_RECORD_CHARS,
    ):
        self.path = path
        self.max_record_chars = max_record_chars
        self.blank_lines = 0
        self.columns: Columns | None = None  # CSV/TSV: set once the first record is read
        self._lines = lines
        self._data_config = data_config

    def __iter__(self) -> Iterator[Row]:
        lines = iter(self._lines)
        head: list[str] = []  # the lines up to the first non-blank one, for format detection
        size = 0
        for line in lines:
            head.append(line)
            size += len(line)
            if line.strip() or size >= HEAD_BYTES:
                break
        fmt = detect_format(self.path, "".join(head)[:HEAD_BYTES], self._data_config.format)
        lines = itertools.chain(head, lines)
        if fmt == "jsonl":
            return _parse_jsonl(self.path, lines, self._data_config, self)
        return _parse_delimited(self.path, lines, fmt, self._data_config, self)


# -- entry points -----------------------------------------------------------------------------------
def read_rows(
    path: str,
    handle: BinaryIO,
    data_config: DataConfig,
    chunk_bytes: int = CHUNK_BYTES,
    max_record_chars: int = MAX_RECORD_CHARS,
) -> RowReader:
    """The rows of one CSV, TSV or JSON Lines file open in `handle` (binary), parsed while the
    file is read `chunk_bytes` at a time (see the module docstring)."""
    lines = file_lines(handle, chunk_bytes, max_record_chars)
    return RowReader(path, lines, data_config, max_record_chars)


def parse_file(path: str, data: bytes, data_config: DataConfig) -> ParsedFile:
    """Every record of one CSV, TSV or JSON Lines file (its whole content in `data`).

    Raises InputError when the file's columns or keys cannot be resolved (see `resolve_columns`).
    """
    check_text(path, data)
    reader = read_rows(path, io.BytesIO(data), data_config)
    return ParsedFile(rows=list(reader), blank_lines=reader.blank_lines, columns=reader.columns)


def parse_text(path: str, text: str, data_config: DataConfig) -> ParsedFile:
    """Every record of CSV, TSV or JSON Lines text (decoded) from the file `path`."""
    lines = _physical_lines(io.StringIO(text, newline="").readline, MAX_RECORD_CHARS)
    reader = RowReader(path, lines, data_config)
    return ParsedFile(rows=list(reader), blank_lines=reader.blank_lines, columns=reader.columns)


def parse_text_file(path: str, data: bytes, data_config: DataConfig) -> Row:
    """One folder-per-label file: the whole file is the text, its folder's name the label."""
    label = posixpath.basename(posixpath.dirname(path.rstrip("/")))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Row(path, 1, reason=INVALID_UTF8, content=display(decode(data)))
    return _check_row(path, 1, text, label, text, data_config.labels)
