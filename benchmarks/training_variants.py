"""The variants benchmarks/training.py times: what each trains, on which batches, and how.

A variant is named `kind-compile-precision[+batching][@L<n>]`:

- kind: `project` (the Trainer: build_classifier, compile_classifier, make_train_dataset over gzip
  TFRecords in the transformed-examples format, the Trainer's callbacks), `bare` (the same model
  and optimizer, plain model.compile, fit on the unsorted full-length stream, no callbacks) or
  `peer` (Hugging Face BertForSequenceClassification on PyTorch, benchmarks/peer.py);
- compile: `xla` / `noxla` / `auto` (the TrainConfig default) for ours, `eager` for the peer;
- precision: `float32` / `mixed_bfloat16` / `auto` (what the Trainer's `--mixed-precision auto`
  picks on this machine, components.trainer.precision) for ours; `float32` / `bf16`
  (torch.autocast) / `auto` (bf16 where ours resolves to mixed_bfloat16) for the peer;
- batching: none (every batch L tokens); `+trim` (unsorted batches cut to 16/32/64/.../L, the
  trimming before issue 14); `+sort` (the Trainer's default: length-sorted windows of
  SORT_WINDOW batches, sorted by components.trainer.data.length_buckets, each batch cut to its
  longest sequence, or with XLA to its bucket). For the peer, `+sort` is **exactly our
  batches** (the same examples in the same order, from the same make_train_dataset call), each
  padded only to its own longest sequence, and `+dynamic` is the peer's own default: unsorted
  random batches padded to their longest sequence (what transformers' DataCollatorWithPadding
  gives), from the same shuffled stream;
- @L<n>: the variant's max_seq_length (default --seq-len);
- `:keras-adamw` (ours): tf-keras's AdamW updating op by op, instead of the Trainer's
  FusedAdamW (components/trainer/optimizer.py: the same update as one XLA program).

Every variant reads the batches of its stream by position: `run(start, count)` trains on batches
start..start+count-1, so variants on the same stream train on the same batches in each turn.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from dataclasses import dataclass, field

from benchmarks.peer import Peer
from benchmarks.tokenization import read_sentences

SORT_WINDOW = 64
PEER_PRECISION = {"float32": "float32", "mixed_bfloat16": "bf16"}
BATCHINGS = ("none", "trim", "sort", "dynamic")


def old_buckets(length: int) -> tuple[int, ...]:
    """The bucket lengths of the trimming before issue 14: 16, 32, 64, ... below L, then L."""
    buckets, n = [], 16
    while n < length:
        buckets.append(n)
        n *= 2
    return (*buckets, length)


@dataclass
class Spec:
    """One variant, its `auto` settings resolved for this machine."""

    name: str
    kind: str
    xla: bool
    precision: str
    batching: str
    length: int
    fused: bool = True

    @property
    def stream(self) -> tuple[str, int]:
        """Which batches it trains on: the peer's `+sort` is our `+sort` stream. Our `+sort`
        batches are cut to their longest sequence, as the Trainer cuts them without XLA; with
        XLA the Trainer rounds that length up to a bucket (components.trainer.data), and so
        does the `+sort` stream of an XLA variant."""
        if self.batching == "sort" and self.kind == "project" and self.xla:
            return "sort-bucket", self.length
        return self.batching, self.length


def parse_variant(name: str, default_length: int, auto_precision: str, auto_xla: bool) -> Spec:
    """The Spec of `name` (grammar in the module docstring); `auto` resolves to the Trainer's
    defaults on this machine (auto_precision: a Keras policy name; auto_xla: TrainConfig's)."""
    name, colon, option = name.partition(":")
    if colon and option != "keras-adamw":
        raise ValueError(f"{name}:{option}: the only option is :keras-adamw")
    base, _, length_text = name.partition("@L")
    batching = "none"
    for suffix in ("+trim", "+sort", "+dynamic"):
        if base.endswith(suffix):
            batching, base = suffix[1:], base.removesuffix(suffix)
    parts = base.split("-", 2)
    if len(parts) != 3:
        raise ValueError(f"{name}: expected kind-compile-precision[+batching][@L<n>]")
    kind, compile_mode, precision = parts
    if kind not in ("project", "bare", "peer"):
        raise ValueError(f"{name}: kind must be project, bare or peer")
    if (kind == "peer") != (compile_mode == "eager"):
        raise ValueError(f"{name}: the peer runs eager (peer-eager-...), ours xla/noxla/auto")
    if kind == "bare" and batching != "none":
        raise ValueError(f"{name}: the bare fit reads the full-length stream only")
    if kind == "project" and batching == "dynamic":
        raise ValueError(f"{name}: +dynamic is the peer's own batching")
    if kind == "peer" and batching == "trim":
        raise ValueError(f"{name}: the peer takes +sort (our batches) or +dynamic")
    if precision == "auto":
        precision = PEER_PRECISION[auto_precision] if kind == "peer" else auto_precision
    allowed = PEER_PRECISION.values() if kind == "peer" else PEER_PRECISION
    if precision not in allowed:
        raise ValueError(f"{name}: precision must be one of {', '.join(allowed)} or auto")
    xla = auto_xla if compile_mode == "auto" else compile_mode == "xla"
    resolved = f"{kind}-{'eager' if kind == 'peer' else ('xla' if xla else 'noxla')}-{precision}"
    resolved += "" if batching == "none" else f"+{batching}"
    resolved += f"@L{length_text}" if length_text else ""
    resolved += ":keras-adamw" if option else ""
    if option and kind == "peer":
        raise ValueError(f"{name}: :keras-adamw is an option of ours")
    return Spec(
        resolved,
        kind,
        xla and kind != "peer",
        precision,
        batching,
        int(length_text) if length_text else default_length,
        fused=not option,
    )


# -- data ---------------------------------------------------------------------------------------
class _SpecOnly:
    """What make_train_dataset needs from a TFTransformOutput: the transformed feature spec."""

    def __init__(self, length: int):
        import tensorflow as tf

        self._spec = {
            name: tf.io.FixedLenFeature([length], tf.int64)
            for name in ("input_ids", "attention_mask", "token_type_ids")
        }
        self._spec["label_id"] = tf.io.FixedLenFeature([], tf.int64)

    def transformed_feature_spec(self):
        return dict(self._spec)


def write_examples(examples: int, length: int, folder: str) -> tuple[str, float]:
    """The first `examples` SST-2 training sentences, tokenized at `length` by the project's
    tokenizer, as a gzip TFRecord file of transformed examples; (path, mean real tokens)."""
    import numpy as np
    import tensorflow as tf

    from components.transform.tokenizer import BertTokenizer

    texts, labels = read_sentences(examples)
    out = BertTokenizer.from_checkpoint("", length).tokenize(tf.constant(texts))
    arrays = {k: out[k].numpy() for k in ("input_ids", "attention_mask", "token_type_ids")}
    label = np.asarray([int(y) for y in labels], np.int64)
    path = os.path.join(folder, "transformed_examples-00000-of-00001.gz")
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(path, options) as writer:
        for i in range(len(texts)):
            feature = {
                k: tf.train.Feature(int64_list=tf.train.Int64List(value=v[i]))
                for k, v in arrays.items()
            }
            feature["label_id"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label[i]]))
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    return path, float(arrays["attention_mask"].sum(axis=1).mean())


class Data:
    """The tokenized sentences at each length used, and the batch streams over them."""

    def __init__(self, examples: int, batch: int, work: str):
        self.examples, self.batch, self.work = examples, batch, work
        self.files: dict[int, str] = {}
        self.mean_tokens: dict[int, float] = {}

    def file(self, length: int) -> str:
        if length not in self.files:
            folder = tempfile.mkdtemp(dir=self.work)
            self.files[length], self.mean_tokens[length] = write_examples(
                self.examples, length, folder
            )
        return self.files[length]

    def dataset(self, stream: tuple[str, int], skip_batches: int = 0):
        """The tf.data stream of (features, label) batches, as make_train_dataset gives it."""
        from components.trainer.data import make_train_dataset

        batching, length = stream
        options = {
            "none": {},
            "trim": {"trim_padding": True, "buckets": old_buckets(length)},
            "sort": {"trim_padding": True, "sort_window": SORT_WINDOW, "cut_to_bucket": False},
            "sort-bucket": {"trim_padding": True, "sort_window": SORT_WINDOW},
            # each batch cut to its longest sequence: every length is a bucket
            "dynamic": {"trim_padding": True, "buckets": tuple(range(1, length + 1))},
        }[batching]
        return make_train_dataset(
            self.file(length),
            _SpecOnly(length),
            self.batch,
            seed=42,
            skip_batches=skip_batches,
            **options,
        )

    def batches(self, stream: tuple[str, int], start: int, count: int) -> list[dict]:
        """Batches start..start+count-1 of a stream as numpy ({feature: array, "labels": array})."""
        return [
            {**{k: t.numpy() for k, t in x.items()}, "labels": y.numpy()}
            for x, y in self.dataset(stream, start).take(count)
        ]


def cut_to_longest(batch: dict) -> dict:
    """A batch padded only to its longest sequence (trailing all-padding columns removed)."""
    used = int(batch["attention_mask"].any(axis=0).nonzero()[0].max()) + 1
    return {k: (v[:, :used] if v.ndim == 2 else v) for k, v in batch.items()}


# -- the variants --------------------------------------------------------------------------------
@dataclass
class Step:
    """One training step as timed: the batch's length and real tokens, wall and CPU seconds."""

    length: int
    real_tokens: int
    wall: float
    cpu: float
    first_length: bool = False


@dataclass
class Variant:
    spec: Spec
    data: Data
    build_s: float = 0.0
    seen_lengths: set = field(default_factory=set)
    losses: list = field(default_factory=list)

    def train(self, start: int, batches: list[dict]) -> list[tuple[float, float]]:
        """Trains on `batches` (positions start.. of its stream); (wall, CPU) seconds per step."""
        raise NotImplementedError

    def run(self, start: int, count: int) -> list[Step]:
        batches = self.data.batches(self.spec.stream, start, count)
        if self.spec.kind == "peer":
            batches = [cut_to_longest(b) for b in batches]
        times = self.train(start, batches)
        steps = []
        for b, (wall, cpu) in zip(batches, times, strict=True):
            length = int(b["input_ids"].shape[1])
            first = self.spec.xla and length not in self.seen_lengths
            self.seen_lengths.add(length)
            steps.append(Step(length, int(b["attention_mask"].sum()), wall, cpu, first))
        return steps


class PeerVariant(Variant):
    peer: Peer

    def train(self, start, batches):
        keys = ("input_ids", "attention_mask", "token_type_ids", "labels")
        reply = self.peer.call(
            "train",
            batches=[{k: b[k].tolist() for k in keys} for b in batches],
            precision=self.spec.precision,
        )
        self.losses.extend(reply.get("losses", []))
        return list(zip(reply["seconds"], reply["cpu_seconds"], strict=True))


class KerasVariant(Variant):
    """Ours: the project's Trainer loop, or the bare fit."""

    def build(self, batch: int, total_steps: int, work: str) -> None:
        import tensorflow as tf

        from components.core.config import ModelConfig, TrainConfig
        from components.trainer.model import build_classifier, compile_classifier, keras_policy

        started = time.perf_counter()
        spec = self.spec
        self.work = work
        self.config = TrainConfig(
            train_steps=total_steps,
            batch_size=batch,
            jit_compile=spec.xla,
            mixed_precision=spec.precision,
        )
        trim = spec.batching != "none"
        tf.keras.utils.set_random_seed(42)
        with keras_policy(spec.precision):
            self.model = build_classifier(
                ModelConfig(max_seq_length=spec.length), 2, variable_length=trim
            )
            if spec.kind == "project":
                compile_classifier(self.model, self.config, fused_optimizer=spec.fused)
            else:
                from components.trainer.model import make_optimizer

                self.model.compile(
                    optimizer=make_optimizer(self.config, spec.fused),
                    loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                    metrics=["accuracy"],
                    jit_compile=spec.xla,
                )
        self.build_s = time.perf_counter() - started

    def callbacks(self) -> list:
        import tensorflow as tf

        from components.trainer.callbacks import ResumableBackup, StepHistory
        from components.trainer.model import learning_rate_schedule

        if self.spec.kind != "project":
            return []
        backup = tempfile.mkdtemp(dir=self.work)
        history = StepHistory(
            os.path.join(backup, "history.json"), learning_rate_schedule(self.config)
        )
        return [
            ResumableBackup(backup, self.config.checkpoint_every, 1, history.save_progress),
            history,
            tf.keras.callbacks.TensorBoard(
                log_dir=tempfile.mkdtemp(dir=self.work),
                update_freq=max(1, self.config.train_steps // 100),
                write_graph=False,
                profile_batch=0,
            ),
        ]

    def train(self, start, batches):
        import numpy as np

        from components.trainer.model import keras_policy

        timer = _timer()
        callbacks = [*self.callbacks(), timer]
        dataset = self.data.dataset(self.spec.stream, start)
        with keras_policy(self.spec.precision):
            history = self.model.fit(
                dataset, epochs=1, steps_per_epoch=len(batches), callbacks=callbacks, verbose=0
            )
        self.losses.extend(history.history.get("loss", []))
        stamps = np.asarray(timer.stamps)
        return list(zip(np.diff(stamps[:, 0]), np.diff(stamps[:, 1]), strict=True))


@functools.cache
def _timer_class():
    import tensorflow as tf

    class Timer(tf.keras.callbacks.Callback):
        """Wall and CPU timestamps at the start of training and at every batch end."""

        def on_train_begin(self, logs=None):
            self.stamps = [(time.perf_counter(), time.process_time())]

        def on_train_batch_end(self, batch, logs=None):
            self.stamps.append((time.perf_counter(), time.process_time()))

    return Timer


def _timer():
    return _timer_class()()


def parameter_counts(model) -> dict:
    total = embedding = 0
    for weight in model.trainable_weights:
        n = int(weight.shape.num_elements())
        total += n
        if "embeddings" in weight.name and "LayerNorm" not in weight.name:
            embedding += n
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}
