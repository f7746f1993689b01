"""The Tokenization Transform's module code: tf.Transform `preprocessing_fn` for TFX `Transform`.

Wiring (component.py)::

    Transform(
        runtime=..., examples=..., schema=...,
        preprocessing_fn=PREPROCESSING_FN,   # "components.transform.preprocessing.preprocessing_fn"
        custom_config={"config": config.to_json()},
    )

Raw features (`core.features.TEXT_FEATURE` / `LABEL_FEATURE`, both tf.string, one value per
example, arriving as shape [batch] or [batch, 1], and `TEXT_PAIR_FEATURE` for a sentence-pair
task, config.data.text_pair_column) become, per example:

    input_ids       int64 [max_seq_length]  [CLS] word pieces [SEP] [PAD]... (checkpoint vocab);
                                            a pair: [CLS] text [SEP] text_pair [SEP] [PAD]...
    attention_mask  int64 [max_seq_length]  1 on real tokens, 0 on padding
    token_type_ids  int64 [max_seq_length]  all 0; a pair: 1 on `text_pair [SEP]`
    truncated       int64 scalar            1 when a word piece of the text (or either text of
                                            a pair) was cut (its mean in the post-transform
                                            statistics is the truncated share)
    label_id        int64 scalar            index of the label in the `label_vocab` asset;
                                            -1 for a label that is not in it

The label vocabulary is computed by the Transform over the analysed (train) data and written as
the asset `label_vocab` of the transform graph: one label per line, in the declared order of
`config.data.labels` when labels are declared (other labels then fail the analysis), otherwise in
lexicographic (UTF-8 byte) order, so ids are stable across runs, runners and worker counts
(`tft.vocabulary` would order by frequency). `core.transform_output.label_vocabulary` reads it
back; `tft.TFTransformOutput(dir).vocabulary_by_name("label_vocab")` works too.

The checkpoint's `vocab.txt` is an asset of the transform graph as well (the tokenizer's lookup
table is tracked), so the graph does not depend on the checkpoint folder after the Transform.

The graph contains tensorflow_text ops: every process that loads it must `import tensorflow_text`
first (importing this module or tokenizer.py does it). tf.Transform does it itself before
it loads a transform graph, so Transform's Beam worker processes are covered; the Trainer, the
Evaluator and any server that loads the graph (or a model that embeds it) must do it.

It runs in TF2 mode (TFX's default, `force_tf_compat_v1=False`) and in compat-v1 mode.
"""

from __future__ import annotations

import os

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of the tokenizer in this process)
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

from components.core.checkpoint import resolve_checkpoint
from components.core.config import Config
from components.core.features import (
    ATTENTION_MASK,
    LABEL_FEATURE,
    LABEL_ID,
    LABEL_VOCAB_NAME,
    LENGTH_BUCKET,
    TEXT_FEATURE,
    TEXT_PAIR_FEATURE,
    TRUNCATED,
)
from components.transform.tokenizer import BertTokenizer

# Token-count buckets ([CLS] and [SEP] included) for slicing the evaluation by text length.
LENGTH_BUCKETS = ((1, 16), (17, 32), (33, 64), (65, 128), (129, 256), (257, 512))

TOKENIZER_OBJECT_NAME = "bert_tokenizer"


# -- preprocessing_fn -------------------------------------------------------------------------------
def config_from_custom_config(custom_config: dict | None) -> Config:
    """The pipeline Config carried in Transform's custom_config ({"config": Config.to_json()})."""
    return Config.from_custom_config(custom_config, "Transform")


def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    """tf.Transform preprocessing: tokenizes `text` (with `text_pair`, for a sentence-pair task),
    maps `label` through `label_vocab`."""
    config = config_from_custom_config(custom_config)
    texts = _as_vector(inputs[TEXT_FEATURE], TEXT_FEATURE)
    labels = _as_vector(inputs[LABEL_FEATURE], LABEL_FEATURE)
    text_pairs = None
    if config.data.pairs:
        if TEXT_PAIR_FEATURE not in inputs:
            raise ValueError(
                f"data.text_pair_column is set but the raw schema has no {TEXT_PAIR_FEATURE!r}"
                f" feature (it has {sorted(inputs)}): use a sentence-pair schema"
            )
        text_pairs = _as_vector(inputs[TEXT_PAIR_FEATURE], TEXT_PAIR_FEATURE)

    def make_tokenizer() -> BertTokenizer:
        return BertTokenizer(
            resolve_checkpoint(config.model.checkpoint), config.model.max_seq_length
        )

    if tf.inside_function():  # TF2 tracing: track the tokenizer so its table and vocab are saved
        tokenizer = tft.make_and_track_object(make_tokenizer, name=TOKENIZER_OBJECT_NAME)
    else:  # compat.v1 graph: the table's TextFileInitializer registers vocab.txt as an asset
        tokenizer = make_tokenizer()
    outputs = tokenizer.tokenize(texts, text_pairs)

    outputs[LENGTH_BUCKET] = length_bucket(outputs[ATTENTION_MASK], outputs[TRUNCATED])

    vocab_path = label_vocabulary_analyzer(labels, declared=config.data.labels)
    outputs[LABEL_ID] = tft.apply_vocabulary(labels, vocab_path, default_value=-1)
    return outputs


def length_bucket(attention_mask: tf.Tensor, truncated: tf.Tensor) -> tf.Tensor:
    """A readable token-count bucket per example ("1-16", ..., "truncated"), for TFMA slices."""
    tokens = tf.reduce_sum(tf.cast(attention_mask, tf.int64), axis=1)
    names = tf.constant([f"{lo}-{hi}" for lo, hi in LENGTH_BUCKETS] + ["truncated"])
    index = tf.zeros_like(tokens)
    for lo, _ in LENGTH_BUCKETS[1:]:
        index += tf.cast(tokens >= lo, tf.int64)
    index = tf.where(truncated > 0, tf.cast(len(LENGTH_BUCKETS), tf.int64), index)
    return tf.gather(names, index)


def _as_vector(tensor, name: str) -> tf.Tensor:
    """A [batch] tensor from a one-value-per-example feature ([batch], [batch, 1], sparse, ragged)."""
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor)
    elif isinstance(tensor, tf.RaggedTensor):
        tensor = tensor.to_tensor()
    if tensor.shape.rank == 1:
        return tensor
    if tensor.shape.rank == 2 and tensor.shape[1] in (1, None):
        if tensor.shape[1] == 1:
            return tensor[:, 0]
        # Sparse/ragged input: the first value, or '' for an example without one.
        return tf.pad(tensor, [[0, 0], [0, 1]], constant_values=tf.zeros([], tensor.dtype))[:, 0]
    raise ValueError(f"feature {name!r} must hold one value per example, got shape {tensor.shape}")


# -- the label vocabulary analyzer ------------------------------------------------------------------
def label_vocabulary_analyzer(labels: tf.Tensor, declared: tuple[str, ...] = ()) -> tf.Tensor:
    """Analyzer: the path of the `label_vocab` asset (declared order, else sorted distinct labels).

    Returns a deferred asset path for `tft.apply_vocabulary`; the file is registered under the
    name `label_vocab` (`TFTransformOutput.vocabulary_by_name`).
    """
    (path,) = tft.experimental.ptransform_analyzer(
        inputs=[labels],
        ptransform=SortedLabelVocabulary(declared),
        output_dtypes=[tf.string],
        output_shapes=[[]],
        output_asset_default_values=["\n".join(declared).encode("utf-8") or b"label"],
        name=LABEL_VOCAB_NAME,
    )
    tft.annotate_asset(LABEL_VOCAB_NAME, LABEL_VOCAB_NAME)
    return path


class SortedLabelVocabulary(tft_beam.experimental.PTransformAnalyzer):
    """Beam side of `label_vocabulary_analyzer`: distinct labels -> ordered vocabulary file.

    Input: a PCollection of 1-tuples of label batches (numpy arrays of bytes). Output: a single
    element, the path of the written file (named `label_vocab`, in a fresh temporary folder).
    """

    def __init__(self, declared: tuple[str, ...] = ()):
        super().__init__()
        self._declared = tuple(declared)

    def expand(self, pcoll):
        folder = self.base_temp_dir
        return (
            pcoll
            | "DistinctPerBatch" >> beam.FlatMap(_distinct_labels)
            | "Distinct" >> beam.Distinct()
            | "ToList" >> beam.combiners.ToList()
            | "Write" >> beam.Map(_write_label_vocab, folder=folder, declared=self._declared)
        )


def _distinct_labels(batches) -> list[bytes]:
    (labels,) = batches
    return sorted({tf.compat.as_bytes(label) for label in np.asarray(labels).ravel()})


def ordered_labels(seen, declared: tuple[str, ...] = ()) -> list[bytes]:
    """The vocabulary order: `declared` (all seen labels must be in it), else sorted `seen`."""
    seen = {tf.compat.as_bytes(label) for label in seen}
    bad = sorted(label for label in seen if b"\n" in label or b"\r" in label)
    if bad:
        raise ValueError(f"labels may not contain line breaks: {bad}")
    if not declared:
        return sorted(seen)
    order = [tf.compat.as_bytes(label) for label in declared]
    unknown = sorted(seen - set(order))
    if unknown:
        raise ValueError(
            f"the data holds labels {[u.decode('utf-8', 'replace') for u in unknown]} "
            f"that are not among the declared labels {list(declared)}"
        )
    return order


def _write_label_vocab(seen, folder: str, declared: tuple[str, ...]) -> bytes:
    labels = ordered_labels(seen, declared)
    tf.io.gfile.makedirs(folder)
    path = os.path.join(folder, LABEL_VOCAB_NAME)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(b"".join(label + b"\n" for label in labels))
    return path.encode("utf-8")
