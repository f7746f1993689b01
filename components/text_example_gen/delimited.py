"""The rows of a CSV or TSV file: records framed by the csv module as the lines are read.

A record is one physical line, or (CSV only: TSV has no quoting) a quoted record over several
lines; its row says the line where it starts. A malformed record (in practice a quote that never
closes) is rejected as `malformed_csv` on its first line, and parsing resumes on the next line,
so one stray quote cannot swallow the rest of the file. A record longer than `MAX_RECORD_CHARS`
(a line, or a quoted record over several lines) is rejected as `record_too_long` on its first
line in the same way, without being held whole.

The first well-formed record says where text and label are (columns.py): it is the header, or
the first data row. For a headerless two-column file with no column configured, the records up
to `SAMPLE_ROWS` well-formed ones (or `HEAD_BYTES` characters) are read ahead as the sample that
tells its columns apart; no other file is read ahead.
"""

from __future__ import annotations

import collections
import csv
import sys
from collections.abc import Iterable, Iterator

from components.core.config import DataConfig
from components.text_example_gen.columns import (
    SAMPLE_ROWS,
    Columns,
    needs_sample,
    resolve_columns,
)
from components.text_example_gen.rows import (
    INVALID_UTF8,
    MALFORMED_CSV,
    RECORD_TOO_LONG,
    SINGLE_TEXT,
    SURROGATE,
    WRONG_COLUMN_COUNT,
    Row,
    check_row,
    display,
)
from components.text_example_gen.text_files import HEAD_BYTES, LongLine

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


# -- records ----------------------------------------------------------------------------------------
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
        if self._chars > self._max_chars or isinstance(line, LongLine):
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


# -- rows -------------------------------------------------------------------------------------------
def _is_record(raw: str, fields) -> bool:
    """Whether a record of `_records` is a well-formed, non-blank, decodable one."""
    return isinstance(fields, list) and bool(raw.strip()) and not SURROGATE.search(raw)


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


class DelimitedRows:
    """The rows of one CSV or TSV file (`fmt`), parsed from its physical lines (iterate once).

    After the iteration, `blank_lines` holds the number of blank lines skipped and `columns` where
    text and label were found. Raises InputError when the file's columns cannot be resolved (see
    `resolve_columns`). Without `require_label` the label is optional (rows.py, columns.py).
    """

    def __init__(
        self,
        path: str,
        lines: Iterable[str],
        fmt: str,
        data_config: DataConfig,
        max_record_chars: int,
        *,
        require_label: bool = True,
    ):
        self.path = path
        self.blank_lines = 0
        self.columns: Columns | None = None  # set once the first record is read
        self._lines = lines
        self._fmt = fmt
        self._data_config = data_config
        self._max_record_chars = max_record_chars
        self._require_label = require_label

    def __iter__(self) -> Iterator[Row]:
        path, data_config = self.path, self._data_config
        records = _records(self._lines, self._fmt, self._max_record_chars)
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
                self.blank_lines += count
                continue
            if fields is None:
                reason = INVALID_UTF8 if SURROGATE.search(raw) else MALFORMED_CSV
                yield Row(path, line, reason=reason, content=display(raw))
                continue
            if columns is None:
                sample = [fields]
                if needs_sample(fields, data_config):  # only then are rows read ahead
                    ahead.extend(_read_ahead(records))
                    sample += [fields for _, _, raw, fields in ahead if _is_record(raw, fields)]
                columns = resolve_columns(
                    fields, data_config, path, sample, require_label=self._require_label
                )
                self.columns = columns
                if columns.has_header:
                    continue
            if len(fields) != columns.num_columns:
                reason = INVALID_UTF8 if SURROGATE.search(raw) else WRONG_COLUMN_COUNT
                yield Row(path, line, reason=reason, content=display(raw))
                continue
            label = None if columns.label_index is None else fields[columns.label_index]
            pair = columns.text_pair_index
            yield check_row(
                path,
                line,
                fields[columns.text_index],
                label,
                raw,
                data_config.labels,
                SINGLE_TEXT if pair is None else fields[pair],
                require_label=self._require_label,
            )
