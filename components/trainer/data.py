"""The Trainer's input: tf.data pipelines over the Transform's gzip TFRecords.

Training batches have the *global* batch size with drop_remainder=True, shuffled (seeded) and
repeated; evaluation batches are padded to the full batch size with zero-weight copies of an
example, so no example is dropped.

With `trim_padding` (the default off TPU; `use_trim_padding`) the encoder computes only the
tokens a batch needs:

- **length-sorted windows** (training): the shuffled examples are taken `sort_window` batches at
  a time; each window is sorted by the bucket of its real length (attention_mask), cut into
  batches, and the
  batches of the window are put in a seeded random order. A batch thus holds sentences of
  similar length, every example of the window is trained on once, and the global batch size
  stays as configured. On SST-2 (mean 13.3 tokens) a window of 64 batches of 32 with the buckets
  below computes about 80% real tokens, against about 23% for trimming unsorted batches.
- **batch shapes**: each batch is cut to its longest sequence. Where training is compiled
  (`jit_compile`: XLA builds one program per shape) that length is rounded up to a bucket
  (`length_buckets`: 8, 12, 16, 24, 32, 48, 64, 96, 128, ... up to max_seq_length), so XLA
  builds a handful of programs, not one per length. Without a compiler TensorFlow runs any
  length at no extra cost, so the batch keeps its own length: on SST-2's sorted windows, rounding
  up to a bucket added 2.4% of computed tokens, up to a fifth in the longest batches, where the
  time goes (BENCHMARKS.md section 13).

Only trailing positions whose attention_mask is 0 in every row of the batch are cut, so the model
computes the same function. The order is deterministic for a given seed, and `skip_batches` skips
whole windows without parsing them, so a resumed run sees the batches it would have seen.
Without trimming (TPU) every shape is static.
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
MIN_BUCKET = 8


def transformed_files(patterns: list[str] | str) -> list[str]:
    """The files matched by TFX file patterns (e.g. `.../Split-train/*`), sorted."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files = sorted({name for pattern in patterns for name in tf.io.gfile.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no transformed examples match {patterns}")
    return files


def length_buckets(max_seq_length: int) -> tuple[int, ...]:
    """The lengths a trimmed batch is cut to: 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, ...
    (powers of two and 1.5 times powers of two, so rounding up adds at most half) below
    max_seq_length, then max_seq_length itself (9 lengths at 128, 13 at 512)."""
    buckets = []
    power = MIN_BUCKET
    while power < max_seq_length:
        buckets.extend(n for n in (power, power * 3 // 2) if n < max_seq_length)
        power *= 2
    return (*sorted(set(buckets)), max_seq_length)


def use_trim_padding(train_config, strategy: tf.distribute.Strategy) -> bool:
    """Whether batches are trimmed (config.train.trim_padding; auto = on unless on a TPU)."""
    tpu = strategies.is_tpu(strategy)
    if train_config.trim_padding == "on" and tpu:
        raise ValueError(
            "trim_padding=on gives batches of varying length, but a TPU needs static shapes; "
            "use trim_padding=auto or off on a TPU"
        )
    return train_config.trim_padding == "on" or (train_config.trim_padding == "auto" and not tpu)


def row_lengths(mask: tf.Tensor) -> tf.Tensor:
    """[batch]: the positions each row of a [batch, length] attention_mask uses, one past its
    last real token (0 for a row without one)."""
    positions = tf.range(1, tf.shape(mask)[1] + 1, dtype=mask.dtype)
    return tf.reduce_max(tf.where(mask > 0, positions[tf.newaxis, :], tf.zeros_like(mask)), 1)


def used_length(mask: tf.Tensor) -> tf.Tensor:
    """The number of leading positions a [batch, length] attention_mask uses: one past the last
    position where any row has a real token (at least 1, so an empty batch keeps a column)."""
    return tf.maximum(tf.reduce_max(row_lengths(mask)), tf.ones([], mask.dtype))


def trim_batch(features: dict, buckets: tuple[int, ...] | None) -> dict:
    """Cuts the [batch, max_seq_length] token features of a batch to the smallest bucket that
    holds its last real token (the last position where any attention_mask is set), or with
    `buckets` None to that last real token itself; only trailing positions whose attention_mask
    is 0 in every row are removed."""
    mask = features[ATTENTION_MASK]
    target = used_length(mask)
    if buckets is not None:
        bounds = tf.constant(buckets, dtype=mask.dtype)
        target = tf.gather(bounds, tf.reduce_sum(tf.cast(bounds < target, tf.int32)))
    return {name: value[:, :target] for name, value in features.items()}


def _parser(
    tf_transform_output: tft.TFTransformOutput,
    trim_padding: bool = False,
    buckets: tuple[int, ...] = (),
    cut_to_bucket: bool = True,
):
    """serialized [batch] -> (features {name: int32 [batch, length]}, label_id int64 [batch]).

    length = max_seq_length, or with `trim_padding` the batch's bucket, or its longest sequence
    without `cut_to_bucket` (`trim_batch`).
    """
    full_spec = tf_transform_output.transformed_feature_spec()
    spec = {name: full_spec[name] for name in (*MODEL_INPUT_KEYS, LABEL_ID)}
    if trim_padding:
        buckets = buckets or length_buckets(sequence_length(tf_transform_output))
    else:
        buckets = ()

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: tf.cast(parsed[name], INPUT_DTYPE) for name in MODEL_INPUT_KEYS}
        label = tf.reshape(parsed[LABEL_ID], [-1])
        if buckets:
            features = trim_batch(features, buckets if cut_to_bucket else None)
        return features, label

    return parse


def sorted_window(
    features: dict, label: tf.Tensor, batches: int, seed: tf.Tensor, buckets: tuple[int, ...]
):
    """One window of `batches` x batch_size examples -> `batches` batches of similar length.

    The examples are sorted by the bucket their real length falls in (stable, so the examples of
    one bucket keep their shuffled order) and cut into consecutive batches; the batches are then
    put in a random order drawn from `seed` (shape [2]), so training does not see a
    short-to-long sweep within each window. Sorting by bucket rather than by exact length costs
    no computed tokens (a batch is cut to its bucket either way) and keeps batches mixed where
    length goes with the label (spam is longer than ham; a word of one class that the
    vocabulary splits into more pieces): sorted by exact length, such a window's batches each
    hold mostly one class, which slows or stalls learning.
    Returns features {name: [batches, batch_size, L]} and labels [batches, batch_size].
    """
    lengths = tf.reduce_sum(tf.cast(features[ATTENTION_MASK] > 0, tf.int32), axis=1)
    bucket = tf.searchsorted(tf.constant(buckets, lengths.dtype), lengths, side="left")
    order = tf.argsort(bucket, stable=True)
    batch_order = tf.random.experimental.stateless_shuffle(tf.range(batches), seed=seed)

    def arrange(value):
        value = tf.gather(value, order)
        value = tf.reshape(value, [batches, -1, *value.shape[1:]])  # static: [W, B, ...]
        return tf.gather(value, batch_order)

    return {name: arrange(value) for name, value in features.items()}, arrange(label)


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
    sort_window: int = 1,
    buckets: tuple[int, ...] = (),
    cut_to_bucket: bool = True,
) -> tf.data.Dataset:
    """Shuffled, repeated batches of the global batch size, every shape static unless
    `trim_padding` (then [batch, bucket length], or with `cut_to_bucket` False [batch, longest
    sequence]; see `trim_batch`). With `trim_padding` and `sort_window` > 1, each window of
    that many batches is sorted by length bucket (`sorted_window`).

    `skip_batches` skips the batches a resumed run has already trained on (the order is
    deterministic for a given seed, so the resumed run sees the batches it would have seen).
    `buckets` replaces the default bucket lengths (`length_buckets(max_seq_length)`).
    """
    if sort_window < 1:
        raise ValueError(f"sort_window must be at least 1 batch, got {sort_window}")
    files = transformed_files(file_patterns)
    dataset = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        lambda name: tf.data.TFRecordDataset(name, compression_type="GZIP"),
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).repeat()
    if not trim_padding or sort_window == 1:
        dataset = dataset.batch(batch_size, drop_remainder=True)
        if skip_batches:
            dataset = dataset.skip(skip_batches)
        dataset = dataset.map(
            _parser(tf_transform_output, trim_padding, buckets, cut_to_bucket),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options())

    parse = _parser(tf_transform_output)
    buckets = buckets or length_buckets(sequence_length(tf_transform_output))
    # Windows are numbered before the skip, so a window's batch order (seeded by its number)
    # does not depend on where a run starts; whole windows are skipped unparsed.
    windows = dataset.batch(batch_size * sort_window, drop_remainder=True).enumerate()
    windows = windows.skip(skip_batches // sort_window)

    def arrange(index, serialized):
        features, label = parse(serialized)
        window_seed = tf.stack([tf.constant(seed, tf.int64), index])
        return sorted_window(features, label, sort_window, window_seed, buckets)

    dataset = windows.map(arrange, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    dataset = dataset.skip(skip_batches % sort_window)
    cut = buckets if cut_to_bucket else None
    dataset = dataset.map(lambda x, y: (trim_batch(x, cut), y))
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
