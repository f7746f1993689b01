"""What parsing a data file gives: a `Row` per record, accepted or rejected with a reason.

Parsing never drops a row silently: every record of a file comes back as a `Row`, either accepted
(`reason is None`, with `text` and `label`, and `text_pair` for a sentence-pair task) or
rejected (`reason`, one of the reasons below, says why; `content` holds the raw record as
`display` shows it, truncated). Fully blank lines are not rows; they are only counted.
`check_row` turns the text, label (and second text) that a format's parser found in a record
into its `Row`. Training needs a label on every row (`missing_label` otherwise); scoring reads
with `require_label=False`, where a row without one is accepted with `label` "". A file that
cannot be read as configured at all (a binary file, an unknown column or key) is not a row but an
`InputError`.

Undecodable bytes survive decoding as lone surrogates (`SURROGATE`), so a record holding any is
rejected as `invalid_utf8` and shown with them as \\xNN.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from components.core.errors import UserError

# The names under which text and label are found when no column or key is configured.
TEXT_ALIASES = ("text", "sentence", "review", "message")
LABEL_ALIASES = ("label", "labels", "class", "category", "target")

# Why a row was rejected (the `reason` of a rejected Row and the keys of `rejected_by_reason`).
INVALID_UTF8 = "invalid_utf8"
EMPTY_TEXT = "empty_text"
EMPTY_TEXT_PAIR = "empty_text_pair"  # a pair task's second text is empty or missing
MISSING_LABEL = "missing_label"
WRONG_COLUMN_COUNT = "wrong_column_count"
MALFORMED_CSV = "malformed_csv"
MALFORMED_JSON = "malformed_json"
INVALID_TEXT = "invalid_text"
INVALID_LABEL = "invalid_label"
UNKNOWN_LABEL = "unknown_label"
RECORD_TOO_LONG = "record_too_long"

MAX_CONTENT_CHARS = 200

SURROGATE = re.compile("[\udc80-\udcff]")  # what undecodable bytes become (surrogateescape)


class InputError(UserError, ValueError):
    """The input cannot be read as configured: missing path, empty input, unknown column."""


@dataclass(frozen=True)
class Row:
    """One record of an input file: accepted (`reason` None) or rejected."""

    file: str
    line: int  # 1-based physical line where the record starts
    text: str = ""
    label: str = ""
    text_pair: str | None = None  # the second text of a sentence-pair task; None: single text
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


def display(raw: str) -> str:
    """A raw record as it appears in reports: undecodable bytes as \\xNN, at most ~200 chars."""
    text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = text.rstrip("\r\n")
    if len(text) > MAX_CONTENT_CHARS:
        text = text[:MAX_CONTENT_CHARS] + "..."
    return text


# The `text_pair` of `check_row` for a single-text task (None stands for a missing second text).
SINGLE_TEXT = object()


def check_row(
    path: str,
    line: int,
    text,
    label,
    raw: str,
    labels: tuple[str, ...],
    text_pair=SINGLE_TEXT,
    *,
    require_label: bool = True,
) -> Row:
    """Validates an extracted text and label, and the second text of a sentence-pair task
    (`text_pair`; SINGLE_TEXT for a single-text task); each may be None when absent. Without
    `require_label`, a row with no label is accepted (its `label` is "")."""

    def reject(reason: str) -> Row:
        return Row(path, line, reason=reason, content=display(raw))

    if SURROGATE.search(raw):
        return reject(INVALID_UTF8)
    if text is not None and not isinstance(text, str):
        return reject(INVALID_TEXT)
    if text is None or not text.strip():
        return reject(EMPTY_TEXT)
    paired = text_pair is not SINGLE_TEXT
    if paired and text_pair is not None and not isinstance(text_pair, str):
        return reject(INVALID_TEXT)
    if paired and (text_pair is None or not text_pair.strip()):
        return reject(EMPTY_TEXT_PAIR)
    if isinstance(label, bool) or not isinstance(label, (str, int, type(None))):
        return reject(INVALID_LABEL)
    label = "" if label is None else str(label).strip()
    pair = text_pair if paired else None
    if not label:
        return (
            reject(MISSING_LABEL) if require_label else Row(path, line, text=text, text_pair=pair)
        )
    if labels and label not in labels:
        return reject(UNKNOWN_LABEL)
    return Row(path, line, text=text, label=label, text_pair=pair)
