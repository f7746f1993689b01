"""Reading what the Transform wrote: the label vocabulary, the sequence length, the truncated share,
the scalar features of the transformed examples, whether it tokenized sentence pairs.

The Trainer, its export and the run report read a Transform output through these functions; the
names they look for are those of components.core.features.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.core.features import (
    LABEL_ID,
    LABEL_VOCAB_NAME,
    MODEL_INPUT_KEYS,
    TEXT_PAIR_FEATURE,
    TRUNCATED,
)

logger = logging.getLogger(__name__)

TRUNCATION_WARNING_SHARE = 0.10
_STATS_FILE = "FeatureStats.pb"
_SHARDED_STATS_PREFIX = "FeatureStats.rio"


def _output(transform_output: tft.TFTransformOutput | str) -> tft.TFTransformOutput:
    """A TFTransformOutput (or anything with its interface) as it is; a folder opened as one."""
    if isinstance(transform_output, str | os.PathLike):
        return tft.TFTransformOutput(os.fspath(transform_output))
    return transform_output


def label_vocabulary(transform_output: tft.TFTransformOutput | str) -> list[str]:
    """The class labels in label-id order (the Transform's `label_vocab` vocabulary), from a
    TFTransformOutput or a `transform_graph` artifact folder."""
    labels = _output(transform_output).vocabulary_by_name(LABEL_VOCAB_NAME)
    return [label.decode("utf-8") if isinstance(label, bytes) else str(label) for label in labels]


def takes_pairs(transform_output: tft.TFTransformOutput | str) -> bool:
    """Whether the Transform tokenized sentence pairs: its raw schema has the second text (as
    has the serving signature of a model trained on its output)."""
    return TEXT_PAIR_FEATURE in _output(transform_output).raw_feature_spec()


def sequence_length(transform_output: tft.TFTransformOutput | str) -> int:
    """max_seq_length as written by the Transform (the static length of input_ids)."""
    spec = _output(transform_output).transformed_feature_spec()
    missing = [name for name in (*MODEL_INPUT_KEYS, LABEL_ID) if name not in spec]
    if missing:
        raise ValueError(
            f"the Transform output lacks the feature(s) {missing}; it has {sorted(spec)}"
        )
    shapes = {name: list(getattr(spec[name], "shape", []) or []) for name in MODEL_INPUT_KEYS}
    lengths = {tuple(shape) for shape in shapes.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError(f"the token features must be fixed-length vectors, got shapes {shapes}")
    return int(next(iter(lengths))[0])


def truncation_share(
    uri: str,
    *,
    split: str = "train",
    warn_above: float = TRUNCATION_WARNING_SHARE,
) -> float:
    """The share (0..1) of examples whose text had more word pieces than max_seq_length - 2.

    `uri` is one of:
      - Transform's `post_transform_stats` artifact folder (or its FeatureStats.pb): the mean of
        the `truncated` feature over everything Transform transformed (all splits together;
        `split` does not apply);
      - Transform's `transformed_examples` artifact folder (its `Split-<split>` is read), or any
        folder of transformed TFRecord files (gzip or not): counted from the `truncated` feature.
    Logs a warning when the share is above `warn_above` (10% by default): the texts are longer than
    the model sees, and a larger max_seq_length may be worth its cost.
    """
    share = _share_from_statistics(uri)
    if share is None:
        share = _share_from_examples(uri, split)
    if share > warn_above:
        logger.warning(
            "%.1f%% of the examples were truncated to max_seq_length (more than %.0f%%): "
            "consider a larger --max-seq-length",
            100 * share,
            100 * warn_above,
        )
    else:
        logger.info("%.2f%% of the examples were truncated to max_seq_length", 100 * share)
    return share


def _share_from_statistics(uri: str) -> float | None:
    if tf.io.gfile.isdir(uri):
        if tf.io.gfile.exists(os.path.join(uri, _STATS_FILE)):
            path = os.path.join(uri, _STATS_FILE)
        elif tf.io.gfile.glob(os.path.join(uri, _SHARDED_STATS_PREFIX + "*")):
            import tensorflow_data_validation as tfdv

            stats = tfdv.load_sharded_statistics(
                input_path_prefix=os.path.join(uri, _SHARDED_STATS_PREFIX)
            ).proto()
            return _truncated_mean(stats)
        else:
            return None
    elif os.path.basename(uri).startswith("FeatureStats"):
        path = uri
    else:
        return None
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    with tf.io.gfile.GFile(path, "rb") as handle:
        stats.ParseFromString(handle.read())
    return _truncated_mean(stats)


def _truncated_mean(stats) -> float:
    for dataset in stats.datasets:
        for feature in dataset.features:
            name = feature.path.step[-1] if feature.path.step else feature.name
            if name == TRUNCATED:
                return float(feature.num_stats.mean)
    raise ValueError(f"the statistics have no {TRUNCATED!r} feature")


def _share_from_examples(uri: str, split: str) -> float:
    flags = read_columns(uri, split, (TRUNCATED,))[TRUNCATED]
    return float(flags.sum()) / flags.size


def read_columns(uri: str, split: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The int64 scalar features `names` of every transformed example of a split, in file order.

    `uri` is the Transform's `transformed_examples` artifact folder (its `Split-<split>` is
    read), or any folder of transformed TFRecord files (gzip or not). Raises ValueError when it
    holds no examples.
    """
    folder = os.path.join(uri, f"Split-{split}")
    if not tf.io.gfile.isdir(folder):
        folder = uri
    files = sorted(
        path for path in tf.io.gfile.glob(os.path.join(folder, "*")) if not tf.io.gfile.isdir(path)
    )
    if not files:
        raise ValueError(f"no statistics or transformed examples found at {uri!r}")
    compression = "GZIP" if all(path.endswith(".gz") for path in files) else None
    dataset = tf.data.TFRecordDataset(files, compression_type=compression)
    spec = {name: tf.io.FixedLenFeature([], tf.int64) for name in names}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for batch in dataset.batch(4096).map(lambda x: tf.io.parse_example(x, spec)):
        for name in names:
            parts[name].append(batch[name].numpy())
    columns = {
        name: np.concatenate(values) if values else np.zeros(0, np.int64)
        for name, values in parts.items()
    }
    if not all(column.size for column in columns.values()):
        raise ValueError(f"no examples at {folder!r}")
    return columns
