"""Reading raw text data: CSV, TSV, JSON Lines and folder-per-label files, row by row.

Everything here is plain Python (no Beam, no TensorFlow at import time), so it can be unit tested
directly; the Beam executor calls `read_rows` / `parse_text_file` once per input file.

A CSV, TSV or JSON Lines file is parsed while it is read, `CHUNK_BYTES` at a time (`read_rows`):
memory holds one chunk and the record being parsed, never the whole file (text_files.py). Its
format is the configured one, else told from its extension or its first non-blank line
(`detect_format`); its records are then parsed by delimited.py (CSV, TSV) or jsonl.py, and each
comes back as a `Row`, accepted or rejected with a reason (rows.py). `parse_file` parses a file
whose whole content is at hand, after refusing a binary one (`check_text`), as reading outside
Beam does; a folder-per-label file is one row (`parse_text_file`).

Finding the input (files, splits, spans) and the preflight checks are in input_layout.py.
"""

from __future__ import annotations

import io
import itertools
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from components.core.config import DataConfig
from components.text_example_gen.columns import Columns
from components.text_example_gen.delimited import DelimitedRows
from components.text_example_gen.jsonl import JsonLinesRows
from components.text_example_gen.rows import INVALID_UTF8, InputError, Row, check_row, display
from components.text_example_gen.text_files import (
    CHUNK_BYTES,
    HEAD_BYTES,
    MAX_RECORD_CHARS,
    check_text,
    decode,
    file_lines,
    split_lines,
)


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


# -- rows of a file ---------------------------------------------------------------------------------
class RowReader:
    """The rows of one CSV, TSV or JSON Lines file, parsed while its lines are read (iterate once).

    `lines` are the file's physical lines (`file_lines`). After the iteration, `blank_lines` holds
    the number of blank lines skipped, and `columns` where text and label were found in a CSV/TSV
    file. Raises InputError when the format, or the file's columns or keys, cannot be resolved
    (see `resolve_columns`).
    """

    def __init__(
        self,
        path: str,
        lines: Iterable[str],
        data_config: DataConfig,
        max_record_chars: int,
        *,
        require_label: bool = True,
    ):
        self.path = path
        self._lines = lines
        self._data_config = data_config
        self._max_record_chars = max_record_chars
        self._require_label = require_label
        self._rows: DelimitedRows | JsonLinesRows | None = None  # once the format is known

    @property
    def blank_lines(self) -> int:
        return 0 if self._rows is None else self._rows.blank_lines

    @property
    def columns(self) -> Columns | None:
        """CSV/TSV: set once the first record is read."""
        return self._rows.columns if isinstance(self._rows, DelimitedRows) else None

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
        required = {"require_label": self._require_label}
        if fmt == "jsonl":
            self._rows = JsonLinesRows(self.path, lines, self._data_config, **required)
        else:
            self._rows = DelimitedRows(
                self.path, lines, fmt, self._data_config, self._max_record_chars, **required
            )
        return iter(self._rows)


# -- entry points -----------------------------------------------------------------------------------
def read_rows(
    path: str,
    handle: BinaryIO,
    data_config: DataConfig,
    chunk_bytes: int = CHUNK_BYTES,
    max_record_chars: int = MAX_RECORD_CHARS,
    *,
    require_label: bool = True,
) -> RowReader:
    """The rows of one CSV, TSV or JSON Lines file open in `handle` (binary), parsed while the
    file is read `chunk_bytes` at a time (see the module docstring); without `require_label`, as
    scoring reads them: the label is optional (rows.py)."""
    lines = file_lines(handle, chunk_bytes, max_record_chars)
    return RowReader(path, lines, data_config, max_record_chars, require_label=require_label)


@dataclass
class ParsedFile:
    """Every row of one CSV, TSV or JSON Lines file, parsed whole (`parse_file`)."""

    rows: list[Row]
    blank_lines: int = 0
    columns: Columns | None = None  # CSV/TSV: where text and label were found


def parse_file(path: str, data: bytes, data_config: DataConfig) -> ParsedFile:
    """Every record of one CSV, TSV or JSON Lines file (its whole content in `data`).

    Raises InputError when the file is not text (see `check_text`), or when its columns or keys
    cannot be resolved (see `resolve_columns`).
    """
    check_text(path, data)
    reader = read_rows(path, io.BytesIO(data), data_config)
    return ParsedFile(rows=list(reader), blank_lines=reader.blank_lines, columns=reader.columns)


def parse_text_file(path: str, data: bytes, data_config: DataConfig) -> Row:
    """One folder-per-label file: the whole file is the text, its folder's name the label."""
    label = posixpath.basename(posixpath.dirname(path.rstrip("/")))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Row(path, 1, reason=INVALID_UTF8, content=display(decode(data)))
    return check_row(path, 1, text, label, text, data_config.labels)
