"""Reading raw text data: CSV, TSV, JSON Lines and folder-per-label files, row by row.

Everything here is plain Python (no Beam, no TensorFlow at import time), so it can be unit tested
directly; the Beam executor calls `parse_file` / `parse_text_file` once per input file.

Parsing never drops a row silently: every record of a file comes back as a `Row`, either accepted
(`reason is None`, with `text` and `label`) or rejected (`reason` says why, `content` holds the raw
record, truncated). Fully blank lines are not rows; they are only counted.

Finding the input (files, splits, spans) and the preflight checks are in input_layout.py.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from components.core.config import DataConfig

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

MAX_CONTENT_CHARS = 200

_SURROGATE = re.compile("[\udc80-\udcff]")  # what undecodable bytes become (surrogateescape)


HEAD_BYTES = 1 << 20  # what format detection (and the preflight) reads of a file

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class InputError(ValueError):
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


@dataclass(frozen=True)
class Columns:
    """Where text and label are in a CSV/TSV file."""

    has_header: bool
    text_index: int
    label_index: int
    num_columns: int


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


def _records(lines: list[str], fmt: str) -> Iterator[tuple[int, int, list[str] | None]]:
    """(first line index, end line index, fields or None when malformed) per record.

    A malformed record (bad quoting, e.g. a quote that never closes) is reported on its first
    physical line only, and parsing resumes on the next line, so one stray quote cannot swallow
    the rest of the file.
    """
    options = _reader_options(fmt)
    start = 0
    while start < len(lines):
        reader = csv.reader((lines[i] for i in range(start, len(lines))), **options)
        consumed = 0
        try:
            for fields in reader:
                yield start + consumed, start + reader.line_num, fields
                consumed = reader.line_num
            return
        except csv.Error:
            yield start + consumed, start + consumed + 1, None
            start = start + consumed + 1


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


def resolve_columns(first_row: list[str], data_config: DataConfig, path: str) -> Columns:
    """Header or not, and the text and label column indexes, from a file's first record.

    With data.header=auto the first row is a header when it holds the configured column names
    (when names are configured) or else any known alias (TEXT_ALIASES, LABEL_ALIASES).
    """
    has_header = _is_header(first_row, data_config)
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


def _parse_delimited(path: str, text: str, fmt: str, data_config: DataConfig) -> ParsedFile:
    lines = split_lines(text)
    result = ParsedFile(rows=[])
    columns: Columns | None = None
    for first, end, fields in _records(lines, fmt):
        raw = "".join(lines[first:end])
        line = first + 1
        if fields is not None and not raw.strip():
            result.blank_lines += end - first
            continue
        if fields is None:
            reason = INVALID_UTF8 if _SURROGATE.search(raw) else MALFORMED_CSV
            result.rows.append(Row(path, line, reason=reason, content=display(raw)))
            continue
        if columns is None:
            columns = resolve_columns(fields, data_config, path)
            if columns.has_header:
                continue
        if len(fields) != columns.num_columns:
            reason = INVALID_UTF8 if _SURROGATE.search(raw) else WRONG_COLUMN_COUNT
            result.rows.append(Row(path, line, reason=reason, content=display(raw)))
            continue
        result.rows.append(
            _check_row(
                path,
                line,
                fields[columns.text_index],
                fields[columns.label_index],
                raw,
                data_config.labels,
            )
        )
    return result


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


def _parse_jsonl(path: str, text: str, data_config: DataConfig) -> ParsedFile:
    result = ParsedFile(rows=[])
    keys: tuple[str, str] | None = None
    for number, raw in enumerate(split_lines(text), start=1):
        if not raw.strip():
            result.blank_lines += 1
            continue
        if _SURROGATE.search(raw):
            result.rows.append(Row(path, number, reason=INVALID_UTF8, content=display(raw)))
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            result.rows.append(Row(path, number, reason=MALFORMED_JSON, content=display(raw)))
            continue
        if keys is None:
            keys = (
                _resolve_key("text", data_config.text_column, TEXT_ALIASES, record, path, number),
                _resolve_key(
                    "label", data_config.label_column, LABEL_ALIASES, record, path, number
                ),
            )
        text_value, label_value = record.get(keys[0]), record.get(keys[1])
        result.rows.append(
            _check_row(path, number, text_value, label_value, raw, data_config.labels)
        )
    return result


# -- entry points -----------------------------------------------------------------------------------
def parse_file(path: str, data: bytes, data_config: DataConfig) -> ParsedFile:
    """Every record of one CSV, TSV or JSON Lines file (its whole content in `data`).

    Raises InputError when the file's columns or keys cannot be resolved (see `resolve_columns`).
    """
    return parse_text(path, decode(data), data_config)


def parse_text(path: str, text: str, data_config: DataConfig) -> ParsedFile:
    """Every record of CSV, TSV or JSON Lines text (decoded) from the file `path`."""
    fmt = detect_format(path, text[:HEAD_BYTES], data_config.format)
    if fmt == "jsonl":
        return _parse_jsonl(path, text, data_config)
    return _parse_delimited(path, text, fmt, data_config)


def parse_text_file(path: str, data: bytes, data_config: DataConfig) -> Row:
    """One folder-per-label file: the whole file is the text, its folder's name the label."""
    label = posixpath.basename(posixpath.dirname(path.rstrip("/")))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Row(path, 1, reason=INVALID_UTF8, content=display(decode(data)))
    return _check_row(path, 1, text, label, text, data_config.labels)
