"""Input files to serialized tf.Examples in Beam, rejected rows and counts on the side.

`ReadTextFiles` is the reading half of the text ExampleGen (executor.py adds TFX's splits, the
rejected-rows folder and the accounting), and the same reading that batch scoring runs
(`bertpipe predict --data`, pipeline/batch_scoring.py): each input file is one element, parsed
while it is read (parsing.py), and each row goes on as soon as it is parsed, so memory holds a
chunk of a file and a record, not the file. Its three outputs:

    EXAMPLES   the serialized tf.Example of every accepted row (`row_example`)
    REJECTED   every rejected row as its JSON line (rows.Row.to_json: file, line, reason, content)
    COUNTS     per file: {"files": 1, "rows_read", "blank_lines_skipped", "labels": {label: rows}}

In inference mode (scoring) a row needs no label, and each example also says where its row is
(SOURCE_FILE_FEATURE, SOURCE_LINE_FEATURE), so that the scores of TFX's BulkInferrer, which keeps
each input example beside its prediction, can be traced back to the file and line.
"""

from __future__ import annotations

import collections
from typing import Any

import apache_beam as beam
from tensorflow.core.example import example_pb2
from tfx.dsl.io import fileio

from components.core.config import Config
from components.core.features import (
    LABEL_FEATURE,
    SOURCE_FILE_FEATURE,
    SOURCE_LINE_FEATURE,
    TEXT_FEATURE,
    TEXT_PAIR_FEATURE,
)
from components.text_example_gen.parsing import parse_text_file, read_rows
from components.text_example_gen.rows import Row

EXAMPLES = "examples"
REJECTED = "rejected"
COUNTS = "counts"


def row_example(row: Row, *, inference: bool = False) -> bytes:
    """The serialized tf.Example of an accepted row: `text` (and `text_pair`, the second text of a
    sentence-pair task), and `label` when the row has one (in training it always has); in
    inference mode also its file and line. The one place where
    a row becomes an example, for training and scoring alike: a feature added here (a second
    text of a sentence pair) reaches the model in both."""
    example = example_pb2.Example()
    features = example.features.feature
    features[TEXT_FEATURE].bytes_list.value.append(row.text.encode("utf-8"))
    if row.text_pair is not None:
        features[TEXT_PAIR_FEATURE].bytes_list.value.append(row.text_pair.encode("utf-8"))
    if row.label or not inference:
        features[LABEL_FEATURE].bytes_list.value.append(row.label.encode("utf-8"))
    if inference:
        features[SOURCE_FILE_FEATURE].bytes_list.value.append(row.file.encode("utf-8"))
        features[SOURCE_LINE_FEATURE].int64_list.value.append(row.line)
    return example.SerializeToString(deterministic=True)


class _ParseFile(beam.DoFn):
    """(path, folder-per-label) -> serialized tf.Examples; rejected rows and counts on the side."""

    def __init__(self, config_json: str, inference: bool):
        self._config_json = config_json
        self._inference = inference
        self._data_config = None

    def setup(self):
        self._data_config = Config.from_json(self._config_json).data

    def process(self, element: tuple[str, bool]):
        path, folder = element
        with fileio.open(path, "rb") as handle:
            if folder:  # the whole file is one example
                rows = [parse_text_file(path, handle.read(), self._data_config)]
            else:  # rows as they are parsed, a chunk of the file at a time
                rows = read_rows(path, handle, self._data_config, require_label=not self._inference)
            read = 0
            labels: collections.Counter = collections.Counter()
            for row in rows:
                read += 1
                if row.accepted:
                    if row.label:
                        labels[row.label] += 1
                    yield row_example(row, inference=self._inference)
                else:
                    yield beam.pvalue.TaggedOutput(REJECTED, row.to_json())
        blank_lines = 0 if folder else rows.blank_lines
        yield beam.pvalue.TaggedOutput(
            COUNTS,
            {"files": 1, "rows_read": read, "blank_lines_skipped": blank_lines, "labels": labels},
        )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
def ReadTextFiles(  # noqa: N802  (Beam's naming for PTransforms)
    pipeline: beam.Pipeline, files: list[tuple[str, bool]], config: Config, inference: bool
) -> beam.pvalue.DoOutputsTuple:
    """Reads `files`, (path, whether it is a folder-per-label file) each, with `config.data`;
    returns the EXAMPLES, REJECTED and COUNTS outputs (see the module docstring)."""
    return (
        pipeline
        | "Files" >> beam.Create(files)
        | "Parse"
        >> beam.ParDo(_ParseFile(config.to_json(), inference)).with_outputs(
            REJECTED, COUNTS, main=EXAMPLES
        )
    )


def sum_counts(counts) -> dict[str, Any]:
    """Sums per-file COUNTS; `labels` ({label: accepted rows}) is summed label by label."""
    total: dict[str, Any] = {
        "files": 0,
        "rows_read": 0,
        "blank_lines_skipped": 0,
        "labels": collections.Counter(),
    }
    for count in counts:
        for key, value in count.items():
            total[key] += collections.Counter(value) if key == "labels" else value
    return total
