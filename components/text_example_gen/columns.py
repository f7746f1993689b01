"""Where text and label (and a pair task's second text) are in a CSV or TSV file: its header row,
if any, and the column indexes.

`resolve_columns` decides from a file's first record. With data.header=auto the first row is a
header when it holds the configured column names (when names are configured) or else any known
alias (TEXT_ALIASES, LABEL_ALIASES); a column is given by header name or by 0-based index, and a
missing one is an InputError that says what the file has.

A headerless two-column file with no column configured has its label and text columns told
apart from its first `SAMPLE_ROWS` rows (`needs_sample` says which files; `_guess_two_columns`
how): the label column is the one with few, short, repeated values. Only such a file is read
ahead, and only that far (delimited.py); when the guess is not confident, InputError says what
was seen and how to give the columns.

Scoring reads with `require_label=False`: a label column is then used when it is configured (and
must exist) or found by its alias in a header, and otherwise there is none (`label_index` None);
a headerless file of one column is all text.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.core.config import DataConfig
from components.text_example_gen.rows import LABEL_ALIASES, TEXT_ALIASES, InputError

SAMPLE_ROWS = 200  # the first rows that tell a headerless file's label and text columns apart
MAX_LABEL_VALUES = 20  # a label column has at most this many distinct values in the sample
MAX_LABEL_CHARS = 32  # ... each at most this long
MIN_SAMPLE_ROWS = 10  # fewer rows than this tell nothing with confidence


@dataclass(frozen=True)
class Columns:
    """Where text and label are in a CSV/TSV file, and the second text of a sentence-pair task
    (`text_pair_index`, None for a single-text task); `guessed` says how a headerless file's
    columns were told apart when no column was configured (empty otherwise)."""

    has_header: bool
    text_index: int
    label_index: int | None  # None: no label column (scoring only, see the module docstring)
    num_columns: int
    guessed: str = ""
    text_pair_index: int | None = None


def _is_index(column: str) -> bool:
    return column.strip().isdigit()


def _is_header(first_row: list[str], data_config: DataConfig) -> bool:
    if data_config.header != "auto":
        return data_config.header == "yes"
    cells = {cell.strip().lower() for cell in first_row}
    configured = (data_config.text_column, data_config.text_pair_column, data_config.label_column)
    names = [
        column.strip().lower() for column in configured if column.strip() and not _is_index(column)
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
    configured = (data_config.text_column, data_config.label_column, data_config.text_pair_column)
    unset = not any(column.strip() for column in configured)
    return unset and len(first_row) == 2 and not _is_header(first_row, data_config)


def _optional_label(first_row: list[str], has_header: bool) -> int | None:
    """Where an unconfigured, optional label column is: its alias in a header, else nowhere."""
    lowered = [cell.strip().lower() for cell in first_row] if has_header else []
    return next((lowered.index(alias) for alias in LABEL_ALIASES if alias in lowered), None)


def resolve_columns(
    first_row: list[str],
    data_config: DataConfig,
    path: str,
    sample: list[list[str]] = (),
    *,
    require_label: bool = True,
) -> Columns:
    """Header or not, and the text and label column indexes, from a file's first record.

    With data.header=auto the first row is a header when it holds the configured column names
    (when names are configured) or else any known alias (TEXT_ALIASES, LABEL_ALIASES). A
    headerless two-column file with no column configured (data.header auto or no) has its label
    and text columns told apart from `sample`, its first rows (see `_guess_two_columns`). Without
    `require_label`, the label column is optional (see the module docstring).
    """
    has_header = _is_header(first_row, data_config)
    if needs_sample(first_row, data_config):
        return _guess_two_columns(first_row, list(sample) or [first_row], data_config, path)
    settings = [
        ("text", data_config.text_column, TEXT_ALIASES),
        ("label", data_config.label_column, LABEL_ALIASES),
    ]
    found: dict[str, int | None] = {}
    if not require_label and not data_config.label_column.strip():
        settings.pop()
        found["label"] = _optional_label(first_row, has_header)
        one_column = len(first_row) == 1 and not has_header
        if one_column and not data_config.text_column.strip() and not data_config.pairs:
            return Columns(False, 0, None, 1)  # one headerless column: the text
    if data_config.pairs:  # no aliases: a pair task names its second text
        settings.append(("text_pair", data_config.text_pair_column, ()))
    if not has_header:  # a configured name that is missing says more than a missing index
        cells = {cell.strip().lower() for cell in first_row}
        settings.sort(
            key=lambda item: (
                _is_index(item[1]) or not item[1].strip(),
                item[1].strip().lower() in cells,  # the name that is not there first
            )
        )
    found.update(
        (what, _column_index(what, setting, aliases, first_row, has_header, path))
        for what, setting, aliases in settings
    )
    indexes = [index for index in found.values() if index is not None]
    if len(set(indexes)) < len(indexes):
        raise InputError(
            f"the {', '.join(found)} columns must differ, got indexes {found} in {path}; set "
            + " and ".join(f"data.{what}_column" for what in found)
        )
    return Columns(
        has_header,
        found["text"],
        found["label"],
        len(first_row),
        text_pair_index=found.get("text_pair"),
    )
