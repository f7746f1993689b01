"""Batch scoring's results, in one place for both ways of scoring: a scored row, the JSON line and
CSV row it is written as, and the summary of a scoring run.

`bertpipe predict --data` (pipeline/batch_scoring.py, components/scoring/score.py) calls the
model itself; the scoring package (`bertpipe compile --inference`) runs TFX's BulkInferrer, whose
prediction logs keep each input example beside its outputs (components/scoring/writer.py). Both
have an inference example (the text ExampleGen writes it in inference mode: text, the label when
the row has one, and the row's file and line, components/core/features.py) and the model's
`label_id` and `probabilities` for it, and both turn those into a `ScoredRow` with `scored_row`,
written as one JSON line:

    {"file": "/data/dev.tsv", "line": 2, "label": "positive",
     "probabilities": {"negative": 0.031, "positive": 0.969}, "true_label": "positive"}

(`true_label` only when the row has a label) or as a CSV record (`csv_header`, `ScoredRow.to_csv`).
The scoring package writes into its output folder (`output_dir`):

    predictions.jsonl, predictions.csv   one line per scored row (in no particular order)
    rejected.jsonl                       the rows the reader rejected, as ExampleGen writes them
    summary.json, summary.txt            the `ScoringSummary`, as data and as printed

`Tally` counts a run's scored rows and its (true label, predicted label) pairs, mergeable (Beam
combines it); `ScoringSummary.text` is what both print at the end: the counts, rejected rows by
reason, and, where rows have a true label, the accuracy and the per-class table.
"""

from __future__ import annotations

import collections
import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tensorflow.core.example import example_pb2

from components.core.features import LABEL_FEATURE, SOURCE_FILE_FEATURE, SOURCE_LINE_FEATURE

PREDICTIONS_JSONL = "predictions.jsonl"
PREDICTIONS_CSV = "predictions.csv"
REJECTED_JSONL = "rejected.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_TEXT = "summary.txt"
PROBABILITY_DIGITS = 6
CSV_FIXED_COLUMNS = ("file", "line", "label", "true_label")
CSV_PROBABILITY_PREFIX = "probability_"


@dataclass(frozen=True)
class ScoredRow:
    """One scored input row: where it is, the top-1 label, every class's probability and the
    row's own label when it has one."""

    file: str
    line: int
    label: str
    probabilities: dict[str, float]
    true_label: str | None = None

    def to_json(self) -> str:
        record = {
            "file": self.file,
            "line": self.line,
            "label": self.label,
            "probabilities": self.probabilities,
        }
        if self.true_label is not None:
            record["true_label"] = self.true_label
        return json.dumps(record, ensure_ascii=False)

    def to_csv(self, classes: Sequence[str]) -> str:
        """The row as a CSV record, its fields in the order of `csv_header(classes)`."""
        fixed = [self.file, self.line, self.label, self.true_label or ""]
        return csv_record(fixed + [self.probabilities[name] for name in classes])


def csv_header(classes: Sequence[str]) -> str:
    """The header record of the scores as CSV."""
    return csv_record([*CSV_FIXED_COLUMNS, *(f"{CSV_PROBABILITY_PREFIX}{c}" for c in classes)])


def csv_record(values: Sequence) -> str:
    """One CSV record as the csv module writes it, without its final line ending."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()[:-1]


def _bytes_feature(example: example_pb2.Example, name: str) -> str | None:
    values = (
        example.features.feature[name].bytes_list.value if name in example.features.feature else []
    )
    return values[0].decode("utf-8") if values else None


def scored_row(
    example: example_pb2.Example,
    label_id: int,
    probabilities: Sequence[float],
    classes: Sequence[str],
) -> ScoredRow:
    """The ScoredRow of an inference example and the model's outputs for it (`label_id`, the
    top-1 class, and `probabilities` by label id; `classes`, the model's labels by id)."""
    features = example.features.feature
    if SOURCE_FILE_FEATURE not in features or SOURCE_LINE_FEATURE not in features:
        raise ValueError(
            f"an example without {SOURCE_FILE_FEATURE!r} and {SOURCE_LINE_FEATURE!r}: scoring"
            " reads inference examples (the text ExampleGen in inference mode writes them)"
        )
    if len(probabilities) != len(classes):
        raise ValueError(
            f"{len(probabilities)} probabilities for the model's {len(classes)} classes {classes}"
        )
    return ScoredRow(
        file=_bytes_feature(example, SOURCE_FILE_FEATURE),
        line=int(features[SOURCE_LINE_FEATURE].int64_list.value[0]),
        label=classes[int(label_id)],
        probabilities={
            name: round(float(p), PROBABILITY_DIGITS)
            for name, p in zip(classes, probabilities, strict=True)
        },
        true_label=_bytes_feature(example, LABEL_FEATURE),
    )


# -- the summary of a run ---------------------------------------------------------------------------
@dataclass
class Tally:
    """What a scoring run scored: rows, and (true label, predicted label) -> rows for the rows
    that have a true label."""

    scored: int = 0
    confusion: collections.Counter = field(default_factory=collections.Counter)

    def add(self, row: ScoredRow) -> Tally:
        self.scored += 1
        if row.true_label is not None:
            self.confusion[(row.true_label, row.label)] += 1
        return self

    def merge(self, other: Tally) -> Tally:
        self.scored += other.scored
        self.confusion.update(other.confusion)
        return self

    @property
    def labelled(self) -> int:
        return sum(self.confusion.values())

    @property
    def correct(self) -> int:
        return sum(
            count for (true, predicted), count in self.confusion.items() if true == predicted
        )

    def to_dict(self) -> dict:
        pairs = sorted(self.confusion.items())
        return {"scored": self.scored, "confusion": [[t, p, n] for (t, p), n in pairs]}

    @classmethod
    def from_dict(cls, values: dict) -> Tally:
        confusion = collections.Counter({(t, p): n for t, p, n in values["confusion"]})
        return cls(scored=values["scored"], confusion=confusion)


@dataclass(frozen=True)
class ClassRow:
    """Precision, recall and F1 of one class (from the top-1 label), with its support (rows
    whose true label it is) and how often it was predicted; 0 where undefined, as in the
    Evaluator's per-class metrics."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


def per_class(tally: Tally, classes: Sequence[str]) -> list[ClassRow]:
    """One row per class of the model and per true label that is not one, in that order."""
    support = collections.Counter()
    predicted = collections.Counter()
    for (true, guess), count in tally.confusion.items():
        support[true] += count
        predicted[guess] += count
    names = list(classes) + sorted(set(support) - set(classes))
    rows = []
    for name in names:
        correct = tally.confusion[(name, name)]
        precision = correct / predicted[name] if predicted[name] else 0.0
        recall = correct / support[name] if support[name] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(ClassRow(name, precision, recall, f1, support[name], predicted[name]))
    return rows


@dataclass(frozen=True)
class ScoringSummary:
    """A scoring run: what it read and scored, what the reader rejected, where it wrote."""

    data: str  # what was scored (the data path, or the files' input base)
    model: str  # the model folder (or the version in production)
    classes: tuple[str, ...]
    files: int
    rows_read: int
    tally: Tally
    rejected_by_reason: dict[str, int]
    output: str  # where the scored rows are
    rejected_output: str = ""  # where the rejected rows are ('' when none were)
    seconds: float | None = None

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def to_dict(self) -> dict:
        return {
            "data": self.data,
            "model": self.model,
            "classes": list(self.classes),
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_scored": self.tally.scored,
            "rows_rejected": self.rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "labelled_rows": self.tally.labelled,
            "accuracy": self.tally.correct / self.tally.labelled if self.tally.labelled else None,
            "tally": self.tally.to_dict(),
            "output": self.output,
            "rejected_output": self.rejected_output,
            "seconds": self.seconds,
        }

    def text(self) -> str:
        """What a scoring run prints at its end (and the scoring package writes to summary.txt)."""
        tally = self.tally
        files = f"{self.files} file{'s' if self.files != 1 else ''}"
        lines = [f"scored {tally.scored} of {self.rows_read} rows ({files} of {self.data})"]
        lines.append(f"model: {self.model}; classes {', '.join(self.classes)}")
        lines.append(f"scores: {self.output}")
        if self.rejected:
            reasons = ", ".join(f"{r}: {n}" for r, n in _most_first(self.rejected_by_reason))
            lines.append(f"rejected rows: {self.rejected} ({reasons}): {self.rejected_output}")
        else:
            lines.append("rejected rows: none")
        if self.seconds:
            rate = tally.scored / self.seconds
            lines.append(f"time: {self.seconds:.1f} s, {rate:.1f} rows/s")
        if tally.labelled:
            lines.extend(_accuracy_lines(tally, self.classes))
        else:
            lines.append("no row has a true label: no accuracy")
        return "\n".join(lines)


def _most_first(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _accuracy_lines(tally: Tally, classes: Sequence[str]) -> Iterable[str]:
    yield (
        f"accuracy {tally.correct / tally.labelled:.4f} ({tally.correct} of {tally.labelled} rows"
        " with a true label, top-1)"
    )
    rows = per_class(tally, classes)
    unknown = [row.name for row in rows if row.name not in classes]
    if unknown:
        yield (
            f"note: true label(s) {', '.join(map(repr, unknown))} are not classes of the model"
            f" ({', '.join(map(repr, classes))}): their rows count as wrong"
        )
    width = max(len("macro average"), *(len(row.name) for row in rows))
    yield f"{'class':<{width}}  precision  recall     F1  support  predicted"
    for row in rows:
        yield (
            f"{row.name:<{width}}  {row.precision:9.4f}  {row.recall:6.4f}  {row.f1:.4f}"
            f"  {row.support:7d}  {row.predicted:9d}"
        )
    present = [row for row in rows if row.support or row.predicted]
    if present:
        macro = [
            sum(getattr(r, key) for r in present) / len(present)
            for key in ("precision", "recall", "f1")
        ]
        yield f"{'macro average':<{width}}  {macro[0]:9.4f}  {macro[1]:6.4f}  {macro[2]:.4f}  {tally.labelled:7d}"
