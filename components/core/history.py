"""The runs of one production line as a table: what `bertpipe history` prints and each report shows.

A `HistoryEntry` is one run: when it ended, its span, its verdict with the bounds that refused
the model (or the step that stopped the run), its accuracy with the 95% interval, the version it
pushed, and the drift findings. Two sources write the same records:

- `bertpipe history --output DIR` reads a local run folder's MLMD store (pipeline/history.py):
  every run, those that stopped before their Report step included.
- Each Report step writes its run's entry as one JSON file into `<push_dir>/.history/` (the push
  destination, which every orchestrator's steps can read: a local folder or gs://), then reads
  every entry there for its report's table. The Report step has no MLMD store on Kubeflow, so
  this is the portable record; it holds the runs that reached their Report step (a run that
  stopped earlier wrote none), and `bertpipe history --push-dir URI` prints it. One file per
  run: concurrent runs never write the same file, and nothing is appended in place (gs:// cannot).

TF Serving and `ProductionBaseline` read only the numbered version folders of the push
destination, so the `.history` folder beside them changes nothing they see.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any

from tfx.dsl.io import fileio

from components.core.evaluation import ACCURACY, CONFIDENCE, EXAMPLE_COUNT, Evaluation, Interval

HISTORY_DIR = ".history"
# Verdicts: the Evaluator's decision, or no decision (the run stopped, or has not ended).
BLESSED = "BLESSED"
NOT_BLESSED = "NOT BLESSED"
STOPPED = "stopped"
UNFINISHED = "unfinished"
HEADER = [
    "time (UTC)",
    "span",
    "verdict",
    "eval examples",
    f"accuracy ({CONFIDENCE:.0%} interval)",
    "pushed",
    "drift",
]


class HistoryEntryError(ValueError):
    """A history entry file that is not an entry."""


@dataclass(frozen=True)
class HistoryEntry:
    """One run of the table (see the module docstring); None: not known for this run."""

    time: str  # when the run ended (its last step), UTC, ISO 8601 to the second
    run_id: str  # the pipeline run id ("" where the orchestrator gives its steps none: Kubeflow)
    verdict: str  # BLESSED, NOT_BLESSED, STOPPED or UNFINISHED
    span: int | None = None  # None: the data has no spans
    failed_bounds: tuple[str, ...] = ()  # the bounds that refused the model (whole eval split)
    stopped_at: str | None = None  # the step that failed, when one did
    examples: int | None = None
    accuracy: float | None = None
    accuracy_interval: Interval | None = None
    pushed_version: int | None = None
    report: str | None = None  # the run's report folder
    # The drift step's findings for this run, one line each; () when it found none; None when
    # the run has no drift result (printed "n/a"). Filled by pipeline/history.py and
    # components/report/facts.py from the drift step's output.
    drift: tuple[str, ...] | None = None
    # The serving check's verdict on the candidate (None: the run did not get that far): a
    # blessed model that failed it was not pushed.
    serving_check_passed: bool | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "history entry") -> HistoryEntry:
        if not isinstance(values, dict):
            raise HistoryEntryError(f"{where}: expected a JSON object, got {values!r:.60}")
        missing = sorted({"time", "run_id", "verdict"} - set(values))
        if missing:
            raise HistoryEntryError(f"{where}: missing {missing}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in known}  # newer fields are left out
        if values.get("accuracy_interval") is not None:
            values["accuracy_interval"] = Interval(**values["accuracy_interval"])
        values["failed_bounds"] = tuple(values.get("failed_bounds", ()))
        if values.get("drift") is not None:
            values["drift"] = tuple(values["drift"])
        return cls(**values)


def utc_time(seconds: float) -> str:
    """A HistoryEntry's time: `seconds` since the epoch, UTC, to the second."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def outcome(
    *,
    time: str,
    run_id: str,
    evaluation: Evaluation | None,
    blessed: bool | None,
    stopped_at: str | None = None,
    **known: Any,
) -> HistoryEntry:
    """The entry of a run whose Evaluator decided `blessed` on `evaluation` (None for both when
    it did not get that far); `known`: the other fields of HistoryEntry."""
    if blessed is None:
        verdict = STOPPED if stopped_at else UNFINISHED
    else:
        verdict = BLESSED if blessed else NOT_BLESSED
    failed: list[str] = []
    facts: dict[str, Any] = {}
    if evaluation is not None:
        for failure in evaluation.failures:
            if failure.slice is None and failure.bound and failure.bound not in failed:
                failed.append(failure.bound)
        examples = evaluation.metrics.get(EXAMPLE_COUNT)
        facts = {
            "examples": None if examples is None else int(examples),
            "accuracy": evaluation.metrics.get(ACCURACY),
            "accuracy_interval": evaluation.intervals.get(ACCURACY),
        }
    return HistoryEntry(
        time=time,
        run_id=run_id,
        verdict=verdict,
        failed_bounds=tuple(failed),
        stopped_at=stopped_at,
        **facts,
        **known,
    )


def verdict_text(entry: HistoryEntry) -> str:
    """`BLESSED`, `NOT BLESSED: min_accuracy, ...`, `stopped at ValidationGate`, ..."""
    if entry.verdict == STOPPED:
        return f"stopped at {entry.stopped_at}"
    text = entry.verdict
    if entry.verdict == NOT_BLESSED and entry.failed_bounds:
        text += ": " + ", ".join(entry.failed_bounds)
    if entry.serving_check_passed is False:
        text += "; failed the serving check, not pushed"
    if entry.stopped_at:
        text += f"; then stopped at {entry.stopped_at}"
    return text


def rows(entries: list[HistoryEntry], current: HistoryEntry | None = None) -> list[list[str]]:
    """The table's rows (HEADER), newest first; `current` is marked "(this run)"."""
    table = []
    for entry in sorted(entries, key=lambda e: (e.time, e.run_id), reverse=True):
        accuracy = "n/a"
        if entry.accuracy is not None and not math.isnan(entry.accuracy):
            accuracy = f"{entry.accuracy:.4f}"
            if entry.accuracy_interval is not None:
                accuracy += f" ({entry.accuracy_interval})"
        drift = "n/a" if entry.drift is None else "; ".join(entry.drift) or "none"
        table.append(
            [
                entry.time.replace("T", " ").removesuffix("Z")
                + (" (this run)" if entry == current else ""),
                "-" if entry.span is None else str(entry.span),
                verdict_text(entry),
                "n/a" if entry.examples is None else str(entry.examples),
                accuracy,
                "-" if entry.pushed_version is None else f"version {entry.pushed_version}",
                drift,
            ]
        )
    return table


def text_table(header: list[str], body: list[list[str]]) -> str:
    """The table as aligned columns of plain text (the terminal's)."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in body
    ]
    head = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()
    return "\n".join([head, "  ".join("-" * w for w in widths), *lines])


def history_dir(push_dir: str) -> str:
    return os.path.join(push_dir, HISTORY_DIR)


def write_entry(push_dir: str, entry: HistoryEntry) -> str:
    """Writes `entry` as a file of its own into `<push_dir>/.history/`; returns its path."""
    folder = history_dir(push_dir)
    fileio.makedirs(folder)
    identity = hashlib.sha256(f"{entry.run_id}\n{entry.report}".encode()).hexdigest()[:12]
    stamp = entry.time.replace("-", "").replace(":", "")
    path = os.path.join(folder, f"{stamp}-{identity}.json")
    with fileio.open(path, "w") as handle:
        handle.write(entry.to_json())
    return path


def read_entries(push_dir: str) -> tuple[list[HistoryEntry], list[str]]:
    """The entries under `<push_dir>/.history/` (none when there is no such folder), and one
    line for each file there that is not an entry (it is named, not skipped silently)."""
    folder = history_dir(push_dir)
    if not fileio.exists(folder):
        return [], []
    entries, problems = [], []
    for name in sorted(fileio.listdir(folder)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(folder, name)
        try:
            with fileio.open(path) as handle:
                entries.append(HistoryEntry.from_dict(json.loads(handle.read()), where=path))
        except (HistoryEntryError, json.JSONDecodeError, TypeError) as error:
            problems.append(f"{path}: not a history entry ({error})")
    return entries, problems
