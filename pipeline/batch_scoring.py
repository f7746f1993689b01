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
from components.text_example_gen import (
    COUNTS,
    EXAMPLES,
    REJECTED,
    ReadTextFiles,
    scoring_input,
    sum_counts,
)
from components.text_example_gen.input_layout import is_folder_split

REJECTED_SUFFIX = ".rejected.jsonl"
_SCORES, _REJECTED, _TALLY, _COUNTS = "scores", "rejected", "tally.json", "counts.json"


class NothingToScoreError(UserError, ValueError):
    """Every row of the input was rejected: there is nothing to score."""


def rejected_path(output: str) -> str:
    """Where the rejected rows of a scoring run that writes `output` go."""
    return os.path.splitext(output)[0] + REJECTED_SUFFIX


def _join(pattern: str, target: str, header: str | None = None) -> None:
    """Joins the shards matching `pattern` into `target` (atomically, a line at a time)."""
    partial = f"{target}.partial"
    with fileio.open(partial, "w") as out:
        if header is not None:
            out.write(header)
        for shard in sorted(fileio.glob(pattern)):
            with fileio.open(shard) as lines:
                for line in lines:
                    out.write(line)
    fileio.rename(partial, target, overwrite=True)


def _read_json(path: str) -> dict:
    with fileio.open(path) as handle:
        return json.loads(handle.read())


def score_data(config: Config, model_dir: str, output: str) -> ScoringSummary:
    """Scores `config.data` with the model at `model_dir` into `output` (see the module
    docstring); returns the run's summary."""
    started = time.monotonic()
    classes = class_labels(load_classifier(model_dir))  # a folder with no model: one line
    splits = scoring_input(config.data)
    files = [
        (path, is_folder_split(config.data, path)) for paths in splits.values() for path in paths
    ]
    as_csv = output.lower().endswith(".csv")
    work = f"{output}.tmp-{uuid.uuid4().hex[:8]}"
    fileio.makedirs(work)
    try:
        with beam.Pipeline() as pipeline:
            parsed = pipeline | "Read" >> ReadTextFiles(files, config, inference=True)
            scored = (
                parsed[EXAMPLES]
                | "Windows"
                >> beam.BatchElements(
                    min_batch_size=BATCH_SIZE * WINDOW_BATCHES,
                    max_batch_size=BATCH_SIZE * WINDOW_BATCHES,
                )
                | "Score" >> beam.ParDo(ScoreExamples(model_dir))
            )
            _ = (
                scored
                | "Lines" >> beam.Map(lambda row: row.to_csv(classes) if as_csv else row.to_json())
                | "WriteScores" >> beam.io.WriteToText(os.path.join(work, _SCORES))
            )
            _ = (
                scored
                | "Tally" >> beam.CombineGlobally(TallyScores())
                | "TallyJson" >> beam.Map(json.dumps)
                | "WriteTally"
                >> beam.io.WriteToText(os.path.join(work, _TALLY), shard_name_template="")
            )
            _ = parsed[REJECTED] | "WriteRejected" >> beam.io.WriteToText(
                os.path.join(work, _REJECTED)
            )
            _ = (
                parsed[COUNTS]
                | "SumCounts" >> beam.CombineGlobally(sum_counts)
                | "CountsJson" >> beam.Map(json.dumps)
                | "WriteCounts"
                >> beam.io.WriteToText(os.path.join(work, _COUNTS), shard_name_template="")
            )
        header = csv_header(classes) + "\n" if as_csv else None
        _join(os.path.join(work, f"{_SCORES}-*"), output, header)
        counts = _read_json(os.path.join(work, _COUNTS))
        tally = Tally.from_dict(_read_json(os.path.join(work, _TALLY)))
        rejected_rows = sorted(fileio.glob(os.path.join(work, f"{_REJECTED}-*")))
        rejected: dict[str, int] = {}
        for shard in rejected_rows:
            with fileio.open(shard) as lines:
                for row in lines:
                    reason = json.loads(row)["reason"]
                    rejected[reason] = rejected.get(reason, 0) + 1
        target = rejected_path(output)
        if rejected:
            _join(os.path.join(work, f"{_REJECTED}-*"), target)
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
