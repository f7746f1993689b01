"""The rows of a JSON Lines file: one JSON object per line.

The text and label keys are resolved on the first object of the file: the configured key, else
the first of TEXT_ALIASES (LABEL_ALIASES) that the object has, in any letter case; a missing key
is an InputError that names the keys the object has. A label that is optional (scoring) and not
configured is looked for in each object until one has it. A sentence-pair task's second text is
the configured key (data.text_pair_column) only; a later object without it is rejected as
`empty_text_pair`. A line that is not a JSON object is rejected
as `malformed_json`, one longer than `MAX_RECORD_CHARS` as `record_too_long` (text_files.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from components.core.config import DataConfig
from components.text_example_gen.rows import (
    INVALID_UTF8,
    LABEL_ALIASES,
    MALFORMED_JSON,
    RECORD_TOO_LONG,
    SINGLE_TEXT,
    SURROGATE,
    TEXT_ALIASES,
    InputError,
    Row,
    check_row,
    display,
)
from components.text_example_gen.text_files import LongLine


def _resolve_key(
    what: str, setting: str, aliases: tuple[str, ...], record: dict, path, line, required=True
):
    """The key of text or label in a file's first object; None for an optional label that is
    neither configured nor found by its alias."""
    keys = list(record)
    if setting:
        if setting in record or not required:  # an optional label may be absent in any object
            return setting
        raise InputError(
            f"no {what} key {setting!r} in {path}: its first record (line {line}) has keys "
            f"{keys}; set data.{what}_column"
        )
    lowered = {str(key).lower(): key for key in keys}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    if not required:
        return None
    raise InputError(
        f"no {what} key in {path}: expected one of {'|'.join(aliases)} in its first record "
        f"(line {line}), which has keys {keys}; set data.{what}_column"
    )


class JsonLinesRows:
    """The rows of one JSON Lines file, parsed from its physical lines (iterate once).

    After the iteration, `blank_lines` holds the number of blank lines skipped. Raises InputError
    when the text or label key is not in the file's first object (see `_resolve_key`); without
    `require_label` the label is optional (rows.py).
    """

    def __init__(
        self,
        path: str,
        lines: Iterable[str],
        data_config: DataConfig,
        *,
        require_label: bool = True,
    ):
        self.path = path
        self.blank_lines = 0
        self._lines = lines
        self._data_config = data_config
        self._require_label = require_label

    def __iter__(self) -> Iterator[Row]:
        path, data_config = self.path, self._data_config
        keys: tuple[str, str | None] | None = None
        pair_key: str | None = None  # a pair task's second text
        for number, raw in enumerate(self._lines, start=1):
            if isinstance(raw, LongLine):
                yield Row(path, number, reason=RECORD_TOO_LONG, content=display(raw))
                continue
            if not raw.strip():
                self.blank_lines += 1
                continue
            if SURROGATE.search(raw):
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
                    _resolve_key(
                        "text", data_config.text_column, TEXT_ALIASES, record, path, number
                    ),
                    None,
                )
                if data_config.pairs:
                    pair = data_config.text_pair_column.strip()
                    pair_key = _resolve_key("text_pair", pair, (), record, path, number)
            if keys[1] is None:  # an optional label may first appear in a later object
                label_key = _resolve_key(
                    "label",
                    data_config.label_column,
                    LABEL_ALIASES,
                    record,
                    path,
                    number,
                    required=self._require_label,
                )
                keys = (keys[0], label_key)
                named = [key for key in (*keys, pair_key) if key is not None]
                if len(set(named)) < len(named):
                    raise InputError(
                        f"the text, label and text_pair keys must differ, got {named} in {path};"
                        " set data.text_column, data.label_column, data.text_pair_column"
                    )
            text_value = record.get(keys[0])
            label_value = None if keys[1] is None else record.get(keys[1])
            yield check_row(
                path,
                number,
                text_value,
                label_value,
                raw,
                data_config.labels,
                SINGLE_TEXT if pair_key is None else record.get(pair_key),
                require_label=self._require_label,
            )
