"""Training throughput: the Trainer's loop vs a bare Keras fit; XLA on/off; float32 vs bfloat16.

    .venv/bin/python -m benchmarks.training [--seq-len 128] [--batch 32] [--warmup 3]
        [--steps 10] [--rounds 2] [--variants project-xla-float32,bare-xla-float32,...]

Every variant is the project's classifier (components.trainer.model.build_classifier with the default
checkpoint, 2 classes). Variants:
  - project-*: compiled with components.trainer.model.compile_classifier (AdamW + schedule, weighted
    accuracy, do_not_convert) and trained with the Trainer's input pipeline
    (components.trainer.data.make_train_dataset over gzip TFRecords of tokenized SST-2 sentences,
    written to a temporary folder in the transformed-examples format) and the Trainer's callbacks
    (ResumableBackup, TrainingHistory, TensorBoard), as in trainer.train_and_evaluate;
  - bare-*: the same model and the same optimizer, model.compile(loss, "accuracy") and fit on
    in-memory batches (tf.data.Dataset.from_tensor_slices of the same token ids), no callbacks.
  - *-xla / *-noxla: jit_compile on/off;  *-float32 / *-mixed_bfloat16: Keras policy;
  - *+trim (project only): the Trainer's trim_padding (make_train_dataset(trim_padding=True),
    build_classifier(variable_length=True)): each batch cut to its longest sequence rounded up to
    16/32/64/.../--seq-len; without it every batch has --seq-len tokens;
  - @L<n>: a variant's own --seq-len.
Each fit() of a project variant continues in the data where the previous one stopped
(make_train_dataset(skip_batches=...)), so the timed steps see a representative mix of batches
(and so of bucket lengths). The length of each step's batch is recorded; with XLA a step whose
length is met for the first time includes an XLA compilation: such steps are left out of the
steady-state figures and reported separately (`first_length_steps`). `examples_per_s_mean` =
batch x steps / their summed time (the figure for a mix of lengths), `examples_per_s` = batch /
median step.
All models are built first and warmed up (--warmup steps, includes tracing/XLA compilation); then
the variants take turns (--rounds rounds of --steps // --rounds steps each). The step time is the
interval between consecutive on_train_batch_end calls (so input pipeline and callback work count).

FLOP accounting: FLOPs/example ~= 6 x non-embedding parameters x tokens per example (the padded
length, which is what the model computes on); peak = cores x GHz x 32 FP32 FLOPs/cycle (AVX2, two
256-bit FMA units) or 64 with AVX-512.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import machine, write_results
from benchmarks.tokenization import read_sentences

DEFAULT_VARIANTS = (
    "project-xla-float32,bare-xla-float32,project-noxla-float32,bare-noxla-float32,"
    "project-xla-mixed_bfloat16,project-noxla-mixed_bfloat16"
)


class StepTimer:
    """Keras callback factory: timestamps at every on_train_batch_end."""

    def __init__(self):
        import tensorflow as tf

        class _Timer(tf.keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.stamps: list[float] = []

            def on_train_begin(self, logs=None):
                self.stamps = [time.perf_counter()]

            def on_train_batch_end(self, batch, logs=None):
                self.stamps.append(time.perf_counter())

        self.cls = _Timer


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


def make_data(examples: int, length: int, folder: str):
    """Tokenized SST-2 sentences: numpy arrays, and the same as a gzip TFRecord file."""
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
    mean_tokens = float(arrays["attention_mask"].sum(axis=1).mean())
    return arrays, label, path, mean_tokens


def step_records(variant: dict, data: dict, batch: int, make_train_dataset) -> list[dict]:
    """Every recorded step of a variant: phase, batch length, seconds, first time of the length.

    The first interval of each fit (fit() set-up) is dropped. Batch lengths of a trimmed variant
    come from iterating its (deterministic) dataset again over the batches the fits consumed.
    """
    lengths = [variant["length"]] * variant["consumed"]
    if variant["trim"]:
        dataset = make_train_dataset(
            data["tfrecord"], data["spec"], batch, seed=42, trim_padding=True
        )
        lengths = [int(x["input_ids"].shape[1]) for x, _ in dataset.take(variant["consumed"])]
    records, seen = [], set()
    for index, (start, times) in enumerate(variant["fits"]):
        for offset, seconds in enumerate(times):
            length = lengths[start + offset]
            first = length not in seen
            seen.add(length)
            if offset == 0 and len(times) > 1:
                continue
            phase = "warmup" if index == 0 else "timed"
            records.append(
                {"phase": phase, "length": length, "seconds": seconds, "first_length": first}
            )
    return records


def parameter_counts(model) -> dict:
    total = embedding = 0
    for weight in model.trainable_weights:
        n = int(weight.shape.num_elements())
        total += n
        name = weight.name
        if "embeddings" in name and "LayerNorm" not in name:
            embedding += n
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--rounds", type=int, default=2, help="interleaving rounds")
    parser.add_argument("--examples", type=int, default=2048, help="SST-2 sentences used")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    parser.add_argument("--output-name", default="", help="results/training_<name>.json")
    parser.add_argument("--ghz", type=float, default=0.0, help="clock for the peak (0 = cpuinfo)")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from components.core.config import ModelConfig, TrainConfig
    from components.trainer.callbacks import ResumableBackup, TrainingHistory
    from components.trainer.data import make_train_dataset
    from components.trainer.model import (
        build_classifier,
        compile_classifier,
        keras_policy,
        learning_rate_schedule,
        make_optimizer,
    )

    work = tempfile.mkdtemp(prefix="bench_training_")
    data: dict[int, dict] = {}

    def data_for(length: int) -> dict:
        """Tokenized data at `length`: TFRecord file, in-memory dataset, spec (cached)."""
        if length not in data:
            folder = tempfile.mkdtemp(dir=work)
            arrays, labels, tfrecord, mean_tokens = make_data(args.examples, length, folder)
            n = len(labels) - len(labels) % args.batch
            in_memory = (
                tf.data.Dataset.from_tensor_slices(
                    ({k: tf.cast(v[:n], tf.int32) for k, v in arrays.items()}, labels[:n])
                )
                .batch(args.batch, drop_remainder=True)
                .cache()
                .repeat()
            )
            data[length] = {
                "tfrecord": tfrecord,
                "in_memory": in_memory,
                "spec": _SpecOnly(length),
                "mean_tokens": mean_tokens,
            }
        return data[length]

    timer = StepTimer()
    total_steps = args.warmup + args.steps + 100

    variants = {}
    for name in [v for v in args.variants.split(",") if v]:
        # A variant may carry its own length: "project-noxla-float32@L32".
        base_name, _, length_text = name.partition("@L")
        length = int(length_text) if length_text else args.seq_len
        trim = base_name.endswith("+trim")
        kind, xla, precision = base_name.removesuffix("+trim").split("-", 2)
        if trim and kind != "project":
            raise ValueError(f"{name}: +trim is a variant of the project's input pipeline only")
        model_config = ModelConfig(max_seq_length=length)
        d = data_for(length)
        train_config = TrainConfig(
            train_steps=total_steps,
            batch_size=args.batch,
            jit_compile=xla == "xla",
            mixed_precision=precision,
        )
        started = time.perf_counter()
        tf.keras.utils.set_random_seed(42)
        with keras_policy(precision):
            model = build_classifier(model_config, 2, variable_length=trim)
            if kind == "project":
                compile_classifier(model, train_config)
                dataset = functools.partial(
                    make_train_dataset,
                    d["tfrecord"],
                    d["spec"],
                    args.batch,
                    seed=42,
                    trim_padding=trim,
                )
            else:
                model.compile(
                    optimizer=make_optimizer(train_config),
                    loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                    metrics=["accuracy"],
                    jit_compile=xla == "xla",
                )
                dataset = d["in_memory"]
        variants[name] = {
            "kind": kind,
            "precision": precision,
            "trim": trim,
            "length": length,
            "consumed": 0,
            "fits": [],
            "config": train_config,
            "model": model,
            "iterator": dataset,
            "build_s": time.perf_counter() - started,
            "step_s": [],
        }
        print(f"built {name} in {variants[name]['build_s']:.1f} s", flush=True)

    def fit(variant: dict, steps: int) -> list[float]:
        cb = timer.cls()
        callbacks = [cb]
        if variant["kind"] == "project":
            backup = tempfile.mkdtemp(dir=work)
            history = TrainingHistory(
                os.path.join(backup, "history.json"),
                learning_rate_schedule(variant["config"]),
            )
            callbacks = [
                ResumableBackup(
                    backup, variant["config"].checkpoint_every, 1, history.save_progress
                ),
                history,
                tf.keras.callbacks.TensorBoard(
                    log_dir=tempfile.mkdtemp(dir=work),
                    update_freq=max(1, total_steps // 100),
                    write_graph=False,
                    profile_batch=0,
                ),
                cb,
            ]
        dataset = variant["iterator"]
        if variant["kind"] == "project":  # continue where the last fit stopped
            dataset = dataset(skip_batches=variant["consumed"])
        with keras_policy(variant["precision"]):
            variant["model"].fit(
                dataset, epochs=1, steps_per_epoch=steps, callbacks=callbacks, verbose=0
            )
        times = list(np.diff(cb.stamps))
        variant["fits"].append((variant["consumed"], times))
        variant["consumed"] += steps
        return times

    for name, v in variants.items():
        started = time.perf_counter()
        fit(v, args.warmup)
        v["warmup_s"] = time.perf_counter() - started
        print(
            f"warm-up {name}: {v['warmup_s']:.1f} s ({args.warmup} steps, incl. tracing)",
            flush=True,
        )

    per_round = max(1, args.steps // args.rounds)
    for r in range(args.rounds):
        for name, v in variants.items():
            steps = fit(v, per_round)
            # The first interval includes the fit() set-up; keep the steps after it.
            v["step_s"].extend(steps[1:] if len(steps) > 1 else steps)
            print(f"round {r + 1} {name}: median step {statistics.median(steps):.3f} s", flush=True)

    info = machine()
    ghz = args.ghz or (info.get("cpu_mhz") or 0) / 1000
    flops_per_cycle = 64 if info.get("simd_flags", {}).get("avx512f") else 32
    cores = info.get("cores") or 1
    peak = cores * ghz * 1e9 * flops_per_cycle
    params = parameter_counts(next(iter(variants.values()))["model"])
    flops_per_example = 6 * params["non_embedding"] * args.seq_len
    mean_tokens = data[args.seq_len]["mean_tokens"] if args.seq_len in data else None

    results: dict = {
        "seq_len": args.seq_len,
        "batch": args.batch,
        "mean_real_tokens_per_example": {k: round(v["mean_tokens"], 1) for k, v in data.items()},
        "parameters": params,
        "flops_per_example": flops_per_example,
        "peak": {
            "cores": cores,
            "ghz": ghz,
            "flops_per_cycle_per_core": flops_per_cycle,
            "peak_flops": peak,
            "assumption": "cpuinfo 'cpu MHz' as the sustained clock; AVX2 FMA = 32 FP32 "
            "FLOPs/cycle/core (64 with AVX-512)",
        },
        "variants": {},
    }
    print(
        f"\nparameters: {params['total']:,} total, {params['embedding']:,} embedding, "
        f"{params['non_embedding']:,} non-embedding"
    )
    print(
        f"FLOPs/example = 6 x {params['non_embedding']:,} x {args.seq_len} tokens = "
        f"{flops_per_example / 1e9:.2f} GFLOP (padded length; real tokens average {mean_tokens})"
    )
    print(f"peak = {cores} cores x {ghz:.3f} GHz x {flops_per_cycle} = {peak / 1e9:.1f} GFLOP/s")
    for name, v in variants.items():
        steps = step_records(v, data[v["length"]], args.batch, make_train_dataset)
        warm = [s for s in steps if s["phase"] == "warmup"]
        timed = [s for s in steps if s["phase"] == "timed"]
        steady = [s for s in timed if not s["first_length"]]
        times = [s["seconds"] for s in steady]
        median = statistics.median(times)
        eps = args.batch / median
        eps_mean = args.batch * len(times) / sum(times)
        tokens = statistics.fmean(s["length"] for s in steady)  # padded tokens per example
        achieved = eps_mean * 6 * params["non_embedding"] * tokens
        by_length = {}
        for length in sorted({s["length"] for s in steady}):
            these = [s["seconds"] for s in steady if s["length"] == length]
            by_length[length] = {
                "steps": len(these),
                "step_s_median": round(statistics.median(these), 4),
            }
        results["variants"][name] = {
            "seq_len": v["length"],
            "trim_padding": v["trim"],
            "build_s": round(v["build_s"], 1),
            "warmup_s": round(v["warmup_s"], 1),
            "warmup_lengths": [s["length"] for s in warm],
            "step_s_median": round(median, 4),
            "step_s_min": round(min(times), 4),
            "timed_steps": len(times),
            "examples_per_s": round(eps, 2),
            "examples_per_s_mean": round(eps_mean, 2),
            "padded_tokens_per_example": round(tokens, 1),
            "by_length": by_length,
            "first_length_steps": [
                {"length": s["length"], "seconds": round(s["seconds"], 2)}
                for s in timed
                if s["first_length"]
            ],
            "keras_traces": v["model"].train_function.experimental_get_tracing_count(),
            "achieved_gflops": round(achieved / 1e9, 2),
            "share_of_peak": round(achieved / peak, 4) if peak else None,
        }
        r = results["variants"][name]
        print(
            f"{name:<30} {r['examples_per_s_mean']:7.2f} ex/s (mean)  median step {median:.3f} s "
            f" {tokens:5.1f} tokens/ex  {r['achieved_gflops']:6.1f} GFLOP/s = "
            f"{100 * (r['share_of_peak'] or 0):4.1f}% of peak  lengths {by_length}"
        )
    base = results["variants"]
    ratios = {}
    for a, b in (
        ("project-xla-float32", "bare-xla-float32"),
        ("project-noxla-float32", "bare-noxla-float32"),
        ("project-xla-float32", "project-noxla-float32"),
        ("bare-xla-float32", "bare-noxla-float32"),
        ("project-xla-mixed_bfloat16", "project-xla-float32"),
        ("project-noxla-mixed_bfloat16", "project-noxla-float32"),
    ):
        if a in base and b in base:
            ratios[f"{a} / {b}"] = round(base[a]["examples_per_s"] / base[b]["examples_per_s"], 3)
    lengths = sorted({v["length"] for v in variants.values()})
    for name in variants:
        for other in variants:
            a, b = variants[name], variants[other]
            if (
                len(lengths) > 1
                and a["length"] == lengths[0]
                and b["length"] == lengths[-1]
                and name.split("@")[0] == other.split("@")[0]
            ):
                ratios[f"{name} / {other}"] = round(
                    base[name]["examples_per_s"] / base[other]["examples_per_s"], 3
                )
    for name in variants:
        if name.replace("+trim", "") != name and name.replace("+trim", "") in base:
            other = name.replace("+trim", "")
            ratios[f"{name} / {other} (mean ex/s)"] = round(
                base[name]["examples_per_s_mean"] / base[other]["examples_per_s_mean"], 3
            )
    results["throughput_ratios"] = ratios
    for k, value in ratios.items():
        print(f"  {k}: {value}")
    write_results(f"training_{args.output_name or f'L{args.seq_len}'}", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
