"""What components write for other rooms to read back (the run report, `bertpipe explain`, a
later run): the file names and locations, once, and their readers.

    <Examples>-RejectedRows/Split-<input split>/rejected-*.jsonl  rows the text ExampleGen
    <Examples>-RejectedRows/summary.json                         rejected, and its counts
    <ModelRun>/history.json                                        the Trainer's training curve,
                                                                   evaluation and settings
                                                                   (training_history.py)
    <Report report>/report.md, report.html, summary.txt,          the Report's run report, its
                    report.json (+ the plots report.md shows)     terminal summary and facts

The rejected rows lie beside the Examples artifact (`<examples uri>-RejectedRows`), not inside
it: TFX's launcher deletes the output artifacts of a failed execution, and the rejected rows
are needed most when ExampleGen fails on them. The sibling is derived from the artifact's URI,
so it is under the run folder locally and under the pipeline root on Kubeflow (any
tf.io.gfile URI).
"""

from __future__ import annotations

import json
import os
from typing import Any

from tfx.dsl.io import fileio

from components.core.training_history import TrainingHistory

REJECTED_ROWS_DIR = "RejectedRows"
REJECTED_ROWS_PREFIX, REJECTED_ROWS_SUFFIX = "rejected", ".jsonl"  # Split-*/rejected-*.jsonl
REJECTED_SUMMARY_FILE = "summary.json"
HISTORY_FILE = "history.json"
REPORT_MARKDOWN_FILE = "report.md"
REPORT_HTML_FILE = "report.html"
REPORT_SUMMARY_FILE = "summary.txt"
REPORT_FACTS_FILE = "report.json"


def rejected_rows_uri(examples_uri: str) -> str:
    """Where the rejected rows and summary.json of an Examples artifact are: the sibling
    `<examples uri>-RejectedRows`, which outlives a failed run (see the module docstring)."""
    return f"{examples_uri.rstrip('/')}-{REJECTED_ROWS_DIR}"


def rejected_rows_glob(examples_uri: str) -> str:
    """The pattern of the rejected-rows files of every split of an Examples artifact."""
    return os.path.join(
        rejected_rows_uri(examples_uri),
        "Split-*",
        f"{REJECTED_ROWS_PREFIX}-*{REJECTED_ROWS_SUFFIX}",
    )


def read_rejected_summary(examples_uri: str) -> dict[str, Any]:
    """The summary.json of an Examples artifact written by the text ExampleGen ({} when none).

    {"splits": {<input split>: {"rows_read", "rows_accepted", "rows_rejected",
    "rejected_by_reason", ...}}, "max_rejected_fraction", "passed"}
    """
    return _read_json(os.path.join(rejected_rows_uri(examples_uri), REJECTED_SUMMARY_FILE))


def read_training_history(model_run_uri: str) -> TrainingHistory | None:
    """The history.json of a Trainer's model_run output (None when there is none)."""
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not fileio.exists(path):
        return None
    return TrainingHistory.from_dict(_read_json(path), where=path)


def _read_json(path: str) -> dict[str, Any]:
    if not fileio.exists(path):
        return {}
    with fileio.open(path) as handle:
        return json.loads(handle.read())
