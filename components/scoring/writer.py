"""The ScoreWriter's executor: TFX BulkInferrer's prediction logs to JSON lines and CSV.

BulkInferrer writes one PredictionLog per example (`<inference_result>/prediction_logs-*.gz`,
gzipped TFRecords) holding the serialized input example in its request and the model's outputs
in its response. Each becomes a ScoredRow (components/core/scoring.py: the same rows, the same
JSON lines as `bertpipe predict --data`), written as it is read, so memory holds one row:

    <output_dir>/span-<span>/predictions.jsonl    one JSON line per scored row
    <output_dir>/span-<span>/predictions.csv      the same, as CSV with a header
    <output_dir>/span-<span>/rejected.jsonl       the rows ExampleGen rejected (file, line, reason)
    <output_dir>/span-<span>/summary.json, summary.txt

`span` is the span ExampleGen read (0 when the data path has no {SPAN}), so that a scheduled run
on a new span leaves the scores of the earlier spans in place and a run on the same span replaces
its files. Each file is written under a temporary name and then renamed into place. The
summary files also go into the step's `scores` output (what `bertpipe run-package` prints).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils

from components.core import runtime_settings
from components.core.artifacts import read_rejected_summary, rejected_rows_glob
from components.core.features import LABEL_ID
from components.core.scoring import (
    PREDICTIONS_CSV,
    PREDICTIONS_JSONL,
    REJECTED_JSONL,
    SUMMARY_JSON,
    SUMMARY_TEXT,
    ScoredRow,
    ScoringSummary,
    Tally,
    csv_header,
    scored_row,
)
from components.core.serving import (
    EXAMPLES_INPUT,
    OUTPUT_PROBABILITIES,
    SOURCE,
    VERSION,
    class_labels,
    load_classifier,
)

PREDICTION_LOGS = "prediction_logs-*.gz"  # what TFX's BulkInferrer writes in its output
PARTIAL = ".partial"
INFERENCE_RESULT_KEY = standard_component_specs.INFERENCE_RESULT_KEY
MODEL_KEY = standard_component_specs.MODEL_KEY
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY
SCORES_KEY = "scores"


def scored_from_log(log: prediction_log_pb2.PredictionLog, classes: list[str]) -> ScoredRow:
    """The ScoredRow of one of BulkInferrer's prediction logs."""
    predict = log.predict_log
    example = example_pb2.Example.FromString(predict.request.inputs[EXAMPLES_INPUT].string_val[0])
    outputs = predict.response.outputs
    label_id = tf.make_ndarray(outputs[LABEL_ID]).reshape(-1)[0]
    probabilities = tf.make_ndarray(outputs[OUTPUT_PROBABILITIES]).reshape(-1)
    return scored_row(example, label_id, probabilities, classes)


def write_scores(logs_uri: str, classes: list[str], folder: str) -> Tally:
    """Writes predictions.jsonl and predictions.csv of the prediction logs under `logs_uri` into
    `folder`, a row at a time; returns their Tally."""
    files = sorted(fileio.glob(os.path.join(logs_uri, PREDICTION_LOGS)))
    tally = Tally()
    jsonl, table = os.path.join(folder, PREDICTIONS_JSONL), os.path.join(folder, PREDICTIONS_CSV)
    with fileio.open(jsonl + PARTIAL, "w") as lines, fileio.open(table + PARTIAL, "w") as rows:
        lines.write("")  # (a file is created on its first write, even an empty one)
        rows.write(csv_header(classes) + "\n")
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            row = scored_from_log(
                prediction_log_pb2.PredictionLog.FromString(record.numpy()), classes
            )
            tally.add(row)
            lines.write(row.to_json() + "\n")
            rows.write(row.to_csv(classes) + "\n")
    for path in (jsonl, table):
        fileio.rename(path + PARTIAL, path, overwrite=True)
    return tally


def join_files(paths: Iterable[str], target: str, header: str = "") -> None:
    """`header`, then the lines of `paths` in order, into `target`, a line at a time; written
    under a temporary name and renamed into place."""
    with fileio.open(target + PARTIAL, "w") as out:
        out.write(header)  # (a file is created on its first write, even an empty one)
        for path in paths:
            with fileio.open(path) as lines:
                for line in lines:
                    out.write(line)
    fileio.rename(target + PARTIAL, target, overwrite=True)


class Executor(base_executor.BaseExecutor):
    """Writes the scores of the BulkInferrer's output into `output_dir` (module docstring)."""

    def Do(  # noqa: N802  (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        _, settings = runtime_settings.pop_settings(exec_properties)
        output_dir = str(settings.get("output_dir", ""))
        if not output_dir:
            raise ValueError("the ScoreWriter has no output_dir (runtime setting) to write to")
        inference = artifact_utils.get_single_instance(input_dict[INFERENCE_RESULT_KEY])
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        classes = class_labels(load_classifier(path_utils.serving_model_path(model.uri)))

        folder = os.path.join(output_dir, f"span-{examples.span}")
        fileio.makedirs(folder)
        tally = write_scores(inference.uri, classes, folder)
        counts = read_rejected_summary(examples.uri).get("splits", {}).values()
        rejected: dict[str, int] = {}
        for split in counts:
            for reason, count in split["rejected_by_reason"].items():
                rejected[reason] = rejected.get(reason, 0) + count
        rejected_rows = sorted(fileio.glob(rejected_rows_glob(examples.uri)))
        join_files(rejected_rows, os.path.join(folder, REJECTED_JSONL))  # every split's
        source = model.get_string_custom_property(SOURCE)
        version = model.get_int_custom_property(VERSION)
        summary = ScoringSummary(
            data=str(settings.get("data_root", "")),
            model=f"{source} (version {version} in production)",
            classes=tuple(classes),
            files=sum(split["files"] for split in counts),
            rows_read=sum(split["rows_read"] for split in counts),
            tally=tally,
            rejected_by_reason=rejected,
            output=os.path.join(folder, PREDICTIONS_JSONL),
            rejected_output=os.path.join(folder, REJECTED_JSONL) if rejected else "",
        )
        scores = artifact_utils.get_single_instance(output_dict[SCORES_KEY])
        fileio.makedirs(scores.uri)
        for where in (folder, scores.uri):
            summary_json = json.dumps(summary.to_dict(), indent=2)
            join_files([], os.path.join(where, SUMMARY_JSON), header=summary_json)
            join_files([], os.path.join(where, SUMMARY_TEXT), header=summary.text() + "\n")
        scores.set_string_custom_property("output_folder", folder)
