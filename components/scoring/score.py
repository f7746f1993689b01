"""Scoring inference examples with an exported model in Beam (`bertpipe predict --data`).

`ScoreExamples` takes windows of serialized inference examples (beam.BatchElements of
`WINDOW_BATCHES` batches, as pipeline/batch_scoring.py cuts them) and yields one ScoredRow per
example (components/core/scoring.py), in the window's order. Within a window the examples are
sorted by the length of their text and cut into batches of `BATCH_SIZE`, so that a batch holds
texts of similar length: the serving signature cuts each batch to its longest text
(components/trainer/export.py), so a sorted batch computes few padding tokens, where a batch of
consecutive rows pays for its longest one on every row. The model is the exported one, called
through its `serving_examples` signature, so every feature that ExampleGen writes for a row (the
text, and a second text for a sentence pair) reaches it as in training and in TF Serving.

`TallyScores` combines the scored rows into a Tally (rows, and true and predicted labels).
"""

from __future__ import annotations

import apache_beam as beam
import tensorflow as tf
from tensorflow.core.example import example_pb2

from components.core.features import LABEL_FEATURE, LABEL_ID, SOURCE_FILE_FEATURE
from components.core.scoring import ScoredRow, Tally, scored_row
from components.core.serving import (
    EXAMPLES_INPUT,
    OUTPUT_PROBABILITIES,
    SERVING_EXAMPLES,
    class_labels,
    load_classifier,
)

BATCH_SIZE = 32  # examples per call of the model (the serving benchmark's batch)
WINDOW_BATCHES = 32  # batches per length-sorted window
_NOT_TEXT = (LABEL_FEATURE, SOURCE_FILE_FEATURE)


def text_length(example: example_pb2.Example) -> int:
    """The bytes of an example's text features (every bytes feature but the label and file)."""
    return sum(
        len(value)
        for name, feature in example.features.feature.items()
        if name not in _NOT_TEXT
        for value in feature.bytes_list.value
    )


class ScoreExamples(beam.DoFn):
    """A window of serialized inference examples -> their ScoredRows (see the module docstring)."""

    def __init__(self, model_dir: str, batch_size: int = BATCH_SIZE):
        self._model_dir = model_dir
        self._batch_size = batch_size
        self._serve = None
        self._classes: list[str] = []

    def setup(self):
        loaded = load_classifier(self._model_dir)
        self._serve = loaded.signatures[SERVING_EXAMPLES]
        self._classes = class_labels(loaded)

    def process(self, window: list[bytes]):
        examples = [example_pb2.Example.FromString(serialized) for serialized in window]
        order = sorted(range(len(window)), key=lambda i: text_length(examples[i]))
        rows: list[ScoredRow | None] = [None] * len(window)
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            inputs = tf.constant([window[i] for i in batch], dtype=tf.string)
            outputs = self._serve(**{EXAMPLES_INPUT: inputs})
            label_ids = outputs[LABEL_ID].numpy()
            probabilities = outputs[OUTPUT_PROBABILITIES].numpy()
            for j, i in enumerate(batch):
                rows[i] = scored_row(examples[i], label_ids[j], probabilities[j], self._classes)
        yield from rows


class TallyScores(beam.CombineFn):
    """ScoredRows -> their Tally, as a dict (Tally.to_dict)."""

    def create_accumulator(self) -> Tally:
        return Tally()

    def add_input(self, tally: Tally, row: ScoredRow) -> Tally:
        return tally.add(row)

    def merge_accumulators(self, tallies) -> Tally:
        merged = Tally()
        for tally in tallies:
            merged.merge(tally)
        return merged

    def extract_output(self, tally: Tally) -> dict:
        return tally.to_dict()
