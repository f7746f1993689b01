"""The Trainer's input: tf.data pipelines over the Transform's gzip TFRecords.

Training batches have the *global* batch size with drop_remainder=True, shuffled (seeded) and
repeated; evaluation batches are padded to the full batch size with zero-weight copies of an
example, so no example is dropped. With `trim_padding` (the default off TPU; `use_trim_padding`)
every batch is cut to its longest sequence rounded up to a bucket length (16, 32, 64, ...
max_seq_length; `length_buckets`), so the encoder does not run on all-[PAD] columns; XLA compiles
once per bucket that occurs. Without it (TPU) every shape is static.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.core.features import ATTENTION_MASK, LABEL_ID, MODEL_INPUT_KEYS
from components.core.transform_output import sequence_length
from components.trainer import strategy as strategies
from components.trainer.model import INPUT_DTYPE

SHUFFLE_BUFFER = 10_000
_PARSE_BATCH = 256
MIN_BUCKET = 16


def transformed_files(patterns: list[str] | str) -> list[str]:
    """The files matched by TFX file patterns (e.g. `.../Split-train/*`), sorted."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files = sorted({name for pattern in patterns for name in tf.io.gfile.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no transformed examples match {patterns}")
    return files


def length_buckets(max_seq_length: int) -> tuple[int, ...]:
    """The lengths a trimmed batch is cut to: 16, 32, 64, ... below max_seq_length, then it."""
    buckets = []
    length = MIN_BUCKET
    while length < max_seq_length:
        buckets.append(length)
        length *= 2
    return (*buckets, max_seq_length)


def use_trim_padding(train_config, strategy: tf.distribute.Strategy) -> bool:
    """Whether batches are trimmed (config.train.trim_padding; auto = on unless on a TPU)."""
    tpu = strategies.is_tpu(strategy)
    if train_config.trim_padding == "on" and tpu:
        raise ValueError(
            "trim_padding=on gives batches of varying length, but a TPU needs static shapes; "
            "use trim_padding=auto or off on a TPU"
        )
    return train_config.trim_padding == "on" or (train_config.trim_padding == "auto" and not tpu)


def trim_batch(features: dict, buckets: tuple[int, ...]) -> dict:
    """Cuts the [batch, max_seq_length] token features of a batch to the smallest bucket that
    holds its last real token (the last position where any attention_mask is set); only trailing
    positions whose attention_mask is 0 in every row are removed."""
    mask = features[ATTENTION_MASK]
    positions = tf.range(1, tf.shape(mask)[1] + 1, dtype=mask.dtype)
    used = tf.reduce_max(tf.where(mask > 0, positions[tf.newaxis, :], tf.zeros_like(mask)))
    bounds = tf.constant(buckets, dtype=mask.dtype)
    target = tf.gather(bounds, tf.reduce_sum(tf.cast(bounds < used, tf.int32)))
    return {name: value[:, :target] for name, value in features.items()}


def _parser(tf_transform_output: tft.TFTransformOutput, trim_padding: bool = False):
    """serialized [batch] -> (features {name: int32 [batch, length]}, label_id int64 [batch]).

    length = max_seq_length, or with `trim_padding` the batch's bucket (`trim_batch`).
    """
    full_spec = tf_transform_output.transformed_feature_spec()
    spec = {name: full_spec[name] for name in (*MODEL_INPUT_KEYS, LABEL_ID)}
    buckets = length_buckets(sequence_length(tf_transform_output)) if trim_padding else ()

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: tf.cast(parsed[name], INPUT_DTYPE) for name in MODEL_INPUT_KEYS}
        label = tf.reshape(parsed[LABEL_ID], [-1])
        if buckets:
            features = trim_batch(features, buckets)
        return features, label

    return parse


def _options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    # Few, unevenly sized files: shard by element across workers, not by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def make_train_dataset(
    file_patterns: list[str] | str,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    *,
    seed: int = 42,
    skip_batches: int = 0,
    trim_padding: bool = False,
) -> tf.data.Dataset:
    """Shuffled, repeated batches of the global batch size, every shape static unless
    `trim_padding` (then [batch, bucket length]; see `trim_batch`).

    `skip_batches` skips the batches a resumed run has already trained on (the order is
    deterministic for a given seed, so the resumed run sees the batches it would have seen).
    """
    files = transformed_files(file_patterns)
    dataset = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        lambda name: tf.data.TFRecordDataset(name, compression_type="GZIP"),
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    dataset = dataset.map(
        _parser(tf_transform_output, trim_padding), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options())


def make_eval_dataset(
    file_patterns: list[str] | str,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    *,
    steps: int = 0,
    trim_padding: bool = False,
) -> tf.data.Dataset:
    """(features, label_id, weight) batches over the whole split (or its first `steps` batches).

    The last batch is filled up with zero-weight copies of the first example, so every batch has
    the full static batch size (as a TPU needs) and still no example is left out. With
    `trim_padding` each batch is cut to its bucket length (`trim_batch`).
    """
    files = transformed_files(file_patterns)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    dataset = dataset.batch(_PARSE_BATCH).map(_parser(tf_transform_output)).unbatch()
    weighted = dataset.map(lambda x, y: (x, y, tf.constant(1.0)))
    padding = weighted.take(1).map(lambda x, y, w: (x, y, tf.constant(0.0))).repeat(batch_size - 1)
    dataset = weighted.concatenate(padding).batch(batch_size, drop_remainder=True)
    if trim_padding:
        buckets = length_buckets(sequence_length(tf_transform_output))
        dataset = dataset.map(lambda x, y, w: (trim_batch(x, buckets), y, w))
    if steps:
        dataset = dataset.take(steps)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options())


def count_examples(eval_dataset: tf.data.Dataset) -> tuple[int, int]:
    """(real examples, batches) in an eval dataset from make_eval_dataset."""
    counted = eval_dataset.map(lambda x, y, w: (tf.reduce_sum(w), 1.0)).reduce(
        (0.0, 0.0), lambda total, item: (total[0] + item[0], total[1] + item[1])
    )
    return int(round(float(counted[0]))), int(round(float(counted[1])))
