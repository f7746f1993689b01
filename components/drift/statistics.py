"""A span's drift statistics: TFDV statistics of the features the drift checks compare.

Per split, from the Transform's output (the tokenizer's derived features, and the label by its
id in the label vocabulary), one TFDV dataset with the features of components/core/drift.py:

    label             the label (string)
    word_piece_range  word pieces per text before the cut, in the fixed RANGES (string)
    unknown_piece     one value per word piece, 1 for [UNK] and 0 otherwise (categorical int),
                      so that its distribution is the share of [UNK] word pieces
    truncated         1 when the text was cut (categorical int)

TFDV computes them in this process (`generate_statistics_in_memory`: no Beam pipeline), a
second or so for SST-2's 67,349 texts. They are written as an ExampleStatistics artifact
(`Split-<split>/FeatureStats.pb`, as StatisticsGen writes them), which TFX's
DistributionValidator reads, the Pusher carries beside the model, and `rows` turns into the
side-by-side comparison.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.core.drift import UNKNOWN_PIECE, WORD_PIECE_RANGE, Row
from components.core.features import (
    LABEL_FEATURE,
    LABEL_ID,
    TRUNCATED,
    UNKNOWN_PIECES,
    WORD_PIECES,
)
from components.core.transform_output import read_columns

NOT_IN_VOCABULARY = "(not in the label vocabulary)"
_CATEGORICAL_INTS = (UNKNOWN_PIECE, TRUNCATED)
# The upper ends of the ranges of word pieces per text (finer where texts are short).
RANGE_ENDS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def length_range(pieces: int) -> str:
    """The range of `pieces` word pieces: "0", "1-4", "5-8", ..., "385-512", "over 512"."""
    if pieces <= 0:
        return "0"
    low = 1
    for end in RANGE_ENDS:
        if pieces <= end:
            return f"{low}-{end}"
        low = end + 1
    return f"over {RANGE_ENDS[-1]}"


def _range_order(name: str) -> int:
    """Sorts range names by their lower end (an unknown name last)."""
    first = name.removeprefix("over ").split("-")[0]
    return int(first) + (1 if name.startswith("over") else 0) if first.isdigit() else 1 << 30


def drift_schema() -> schema_pb2.Schema:
    """The features of the drift statistics and their types (the flags are categorical)."""
    schema = schema_pb2.Schema()
    for name, kind in (
        (LABEL_FEATURE, schema_pb2.BYTES),
        (WORD_PIECE_RANGE, schema_pb2.BYTES),
        (UNKNOWN_PIECE, schema_pb2.INT),
        (TRUNCATED, schema_pb2.INT),
    ):
        feature = schema.feature.add(name=name, type=kind)
        if name in _CATEGORICAL_INTS:
            feature.int_domain.is_categorical = True
    return schema


def compute_statistics(
    labels: list[str],
    word_pieces: np.ndarray,
    unknown_pieces: np.ndarray,
    truncated: np.ndarray,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics of one split from its per-text values (see the module docstring)."""
    word_pieces = np.asarray(word_pieces, np.int64)
    unknown_pieces = np.asarray(unknown_pieces, np.int64)
    if np.any(unknown_pieces > word_pieces) or np.any(unknown_pieces < 0):
        raise ValueError("a text cannot have more [UNK] pieces than pieces, or fewer than none")
    # Each text's pieces as flags: its [UNK] pieces (1) first, then the others (0).
    offsets = np.concatenate([[0], np.cumsum(word_pieces)])
    flags = np.zeros(int(offsets[-1]), np.int64)
    position = np.arange(flags.size) - np.repeat(offsets[:-1], word_pieces)
    flags[position < np.repeat(unknown_pieces, word_pieces)] = 1

    ranges = [length_range(int(n)).encode("utf-8") for n in word_pieces]

    def singles(values) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(np.arange(len(values) + 1), pa.int32()), values)

    batch = pa.RecordBatch.from_arrays(
        [
            singles(pa.array(labels, pa.binary())),
            singles(pa.array(ranges, pa.binary())),
            pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flags)),
            singles(pa.array(np.asarray(truncated, np.int64))),
        ],
        [LABEL_FEATURE, WORD_PIECE_RANGE, UNKNOWN_PIECE, TRUNCATED],
    )
    options = tfdv.StatsOptions(schema=drift_schema())
    return stats_impl.generate_statistics_in_memory(batch, options)


def split_statistics(
    transformed_examples_uri: str, split: str, vocabulary: list[str]
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The drift statistics of one split of a Transform output (`transformed_examples`)."""
    columns = read_columns(
        transformed_examples_uri, split, (LABEL_ID, WORD_PIECES, UNKNOWN_PIECES, TRUNCATED)
    )
    names = np.array([*vocabulary, NOT_IN_VOCABULARY], dtype=object)
    ids = columns[LABEL_ID]
    ids = np.where((ids >= 0) & (ids < len(vocabulary)), ids, len(vocabulary))
    labels = [name.encode("utf-8") for name in names[ids]]
    return compute_statistics(
        labels, columns[WORD_PIECES], columns[UNKNOWN_PIECES], columns[TRUNCATED]
    )


def write_statistics(
    by_split: dict[str, statistics_pb2.DatasetFeatureStatisticsList], artifact
) -> None:
    """Writes statistics per split into an ExampleStatistics artifact, as StatisticsGen does."""
    for split, statistics in by_split.items():
        path = os.path.join(artifact.uri, f"Split-{split}", stats_artifact_utils.BINARY_PB_BASENAME)
        io_utils.write_bytes_file(path, statistics.SerializeToString())
    artifact.split_names = artifact_utils.encode_split_names(list(by_split))


def load(artifact, split: str) -> statistics_pb2.DatasetFeatureStatistics | None:
    """The statistics of one split of an ExampleStatistics artifact (None when it has none)."""
    if split not in artifact_utils.decode_split_names(artifact.split_names):
        return None
    return stats_artifact_utils.load_statistics(artifact, split).proto().datasets[0]


def _feature(dataset, name: str) -> statistics_pb2.FeatureNameStatistics | None:
    if dataset is None:
        return None
    return next((f for f in dataset.features if list(f.path.step) == [name]), None)


def _shares(feature) -> dict[str, float]:
    """Each value's share of all values of a categorical feature (its rank histogram)."""
    if feature is None:
        return {}
    buckets = feature.string_stats.rank_histogram.buckets
    total = sum(bucket.sample_count for bucket in buckets)
    return {b.label: b.sample_count / total for b in buckets} if total else {}


def rows(feature: str, current, baseline) -> list[Row]:
    """The side-by-side rows of one check: `current` and `baseline` are DatasetFeatureStatistics
    (None for a side that has none). The share of each label and of each length range; for the
    two flags, the share of 1 (an [UNK] piece, a truncated text)."""
    ours, theirs = _shares(_feature(current, feature)), _shares(_feature(baseline, feature))

    def share(shares: dict[str, float], value: str) -> float | None:
        return shares.get(value, 0.0) if shares else None

    if feature in _CATEGORICAL_INTS:
        name = "[UNK] pieces" if feature == UNKNOWN_PIECE else "truncated texts"
        return [Row(name, share(ours, "1"), share(theirs, "1"))]
    values = sorted(set(ours) | set(theirs))
    if feature == WORD_PIECE_RANGE:
        values.sort(key=_range_order)
    return [Row(value, share(ours, value), share(theirs, value)) for value in values]
