"""`bertpipe predict --model DIR --data PATH --output OUT`: batch scoring in Beam.

Scores any input that `bertpipe run` reads (CSV/TSV with or without a header, JSON Lines, a
folder per label, a train/eval folder, the newest {SPAN}; the same data settings and flags), the
label column optional, with an exported model, in one Beam pipeline on the DirectRunner in this
process, with memory flat in the rows:

    input files -> ReadTextFiles (the text ExampleGen's own reading, in inference mode)
                -> windows of WINDOW_BATCHES x BATCH_SIZE examples (beam.BatchElements)
                -> ScoreExamples (length-sorted batches through the model's serving_examples)
                -> one JSON line (or CSV row, for an OUT ending in .csv) per row
    rejected rows -> <OUT without extension>.rejected.jsonl, with file, line and reason

The reading is ExampleGen's and the scored rows are the scoring package's (components/core/
scoring.py), so a row is accepted, and written, as in the pipeline. Beam writes its shards into a
temporary folder beside OUT, which are then joined into OUT in input order (the DirectRunner
keeps it; each window is restored to it after sorting) and the folder removed. The summary
(rows, rejected rows by reason, time, and the accuracy and per-class table where rows have a
true label) is printed at the end. When no row could be scored, NothingToScoreError (exit 2)
names the reasons, after the rejected rows are written.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import apache_beam as beam
from tfx.dsl.io import fileio

from components.core.config import Config
from components.core.errors import UserError
from components.core.scoring import ScoringSummary, Tally, csv_header
from components.core.serving import class_labels, find_saved_model, load_classifier
from components.scoring import ScoreExamples, TallyScores
from components.scoring.score import BATCH_SIZE, WINDOW_BATCHES
from components.scoring.writer import join_files
from components.text_example_gen import (
    COUNTS,
    EXAMPLES,
    REJECTED,
    ReadTextFiles,
    scoring_input,
    sum_counts,
)

REJECTED_SUFFIX = ".rejected.jsonl"
_SCORES, _REJECTED = "scores", "rejected"  # Beam's shards in the temporary folder


class NothingToScoreError(UserError, ValueError):
    """Every row of the input was rejected: there is nothing to score."""


def rejected_path(output: str) -> str:
    """Where the rejected rows of a scoring run that writes `output` go."""
    return os.path.splitext(output)[0] + REJECTED_SUFFIX


def _shards(folder: str, prefix: str) -> list[str]:
    """The files Beam wrote as `<folder>/<prefix>-*`, in shard order."""
    return sorted(fileio.glob(os.path.join(folder, f"{prefix}-*")))


def _read_json(path: str) -> dict:
    with fileio.open(path) as handle:
        return json.loads(handle.read())


def _run_pipeline(files, config: Config, model_dir: str, classes, as_csv: bool, work: str) -> None:
    """The Beam pipeline: `files` read and scored; its outputs as shards in `work`."""
    with beam.Pipeline() as pipeline:
        parsed = pipeline | "Read" >> ReadTextFiles(files, config, inference=True)
        window = BATCH_SIZE * WINDOW_BATCHES
        scored = (
            parsed[EXAMPLES]
            | "Windows" >> beam.BatchElements(min_batch_size=window, max_batch_size=window)
            | "Score" >> beam.ParDo(ScoreExamples(model_dir))
        )
        _ = (
            scored
            | "Lines" >> beam.Map(lambda row: row.to_csv(classes) if as_csv else row.to_json())
            | "WriteScores" >> beam.io.WriteToText(os.path.join(work, _SCORES))
        )
        _ = parsed[REJECTED] | "WriteRejected" >> beam.io.WriteToText(os.path.join(work, _REJECTED))
        for name, records, combine in (
            ("Tally", scored, TallyScores()),
            ("Counts", parsed[COUNTS], sum_counts),
        ):
            _ = (
                records
                | f"Combine{name}" >> beam.CombineGlobally(combine)
                | f"{name}Json" >> beam.Map(json.dumps)
                | f"Write{name}"
                >> beam.io.WriteToText(os.path.join(work, name), shard_name_template="")
            )


def _count_reasons(shards: list[str]) -> dict[str, int]:
    """Rejected rows by reason, from their JSON lines."""
    rejected: dict[str, int] = {}
    for shard in shards:
        with fileio.open(shard) as lines:
            for row in lines:
                reason = json.loads(row)["reason"]
                rejected[reason] = rejected.get(reason, 0) + 1
    return rejected


def score_data(config: Config, model_dir: str, output: str) -> ScoringSummary:
    """Scores `config.data` with the model at `model_dir` into `output` (see the module
    docstring); returns the run's summary."""
    started = time.monotonic()
    classes = class_labels(load_classifier(model_dir))  # a folder with no model: one line
    files = scoring_input(config.data)
    as_csv = output.lower().endswith(".csv")
    work = f"{output}.tmp-{uuid.uuid4().hex[:8]}"
    target = rejected_path(output)
    fileio.makedirs(work)
    try:
        _run_pipeline(files, config, model_dir, classes, as_csv, work)
        join_files(_shards(work, _SCORES), output, csv_header(classes) + "\n" if as_csv else "")
        counts = _read_json(os.path.join(work, "Counts"))
        tally = Tally.from_dict(_read_json(os.path.join(work, "Tally")))
        rejected_rows = _shards(work, _REJECTED)
        rejected = _count_reasons(rejected_rows)
        if rejected:
            join_files(rejected_rows, target)
        elif fileio.exists(target):  # left by an earlier run: it would tell of rows not rejected
            fileio.remove(target)
    finally:
        if fileio.exists(work):
            fileio.rmtree(work)
    summary = ScoringSummary(
        data=config.data.data,
        model=find_saved_model(model_dir),
        classes=tuple(classes),
        files=counts["files"],
        rows_read=counts["rows_read"],
        tally=tally,
        rejected_by_reason=rejected,
        output=output,
        rejected_output=target if rejected else "",
        seconds=time.monotonic() - started,
    )
    if tally.scored == 0:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(rejected.items()))
        raise NothingToScoreError(
            f"no row of {config.data.data} could be scored: the reader rejected all"
            f" {summary.rows_read} ({reasons or 'no rows'}); the rejected rows are in"
            f" {target}; check the data settings (--format, --header, --text-column)"
        )
    return summary
