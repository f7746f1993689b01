"""Training throughput: the Trainer's loop (batching, precision, XLA) vs a bare fit and the peer.

    .venv/bin/python -m benchmarks.training [--seq-len 128] [--batch 32] [--warmup 3]
        [--steps 10] [--rounds 2] [--variants project-noxla-float32+sort,peer-eager-bf16@L64,...]

Variants, `kind-compile-precision[+trim|+sort][@L<n>]`:
  - project-*: the project's classifier (components.trainer.model.build_classifier, default
    checkpoint, 2 classes) compiled with compile_classifier and trained with the Trainer's input
    pipeline (components.trainer.data.make_train_dataset over gzip TFRecords of tokenized SST-2
    training sentences, in the transformed-examples format) and the Trainer's callbacks
    (ResumableBackup, StepHistory, TensorBoard), as in trainer.train_and_evaluate;
  - bare-*: the same model and optimizer, model.compile(loss, "accuracy"), fit on in-memory
    batches, no callbacks;
  - peer-eager-*: Hugging Face BertForSequenceClassification on PyTorch (benchmarks/peer.py, its
    own venv), same checkpoint, AdamW (lr 1e-4, weight decay 0.01), the same token ids padded to
    L; `bf16` = torch.autocast("cpu", bfloat16). Forward, loss, backward, optimizer step.
  - compile: xla / noxla (jit_compile on/off; `eager` for the peer);
    precision: float32 / mixed_bfloat16 (Keras policy), float32 / bf16 for the peer;
  - batching (project only): none = every batch has L tokens; `+trim` = the trimming before
    issue 14: unsorted batches cut to their longest sequence rounded up to 16/32/64/.../L;
    `+sort` = the Trainer's default now: length-sorted windows (sort_window 64) and the buckets
    8, 12, 16, 24, 32, 48, 64, 96, 128 (components.trainer.data.length_buckets);
  - @L<n>: a variant's own length (default --seq-len).
All models are built and warmed up first (--warmup steps: tracing, XLA compilation), then the
variants take turns (--rounds rounds of --steps // --rounds steps each), so machine load hits all
alike. Each fit continues in the data where the previous one stopped (skip_batches), so the
timed steps see a representative mix of batches. With XLA a step meeting a bucket length for
the first time includes a compilation: such steps are reported apart (`first_length_steps`).
Per step the wall time and the process CPU time (all threads) are recorded; `examples_per_s` =
batch x steps / summed wall time, `examples_per_cpu_s` the same per CPU second (less sensitive
to other processes on a shared machine). Real tokens: attention_mask sums of the batches each
variant trained on; computed tokens: batch x the batch's length.

FLOP accounting: FLOPs/example ~= 6 x non-embedding parameters x computed tokens per example;
peak = cores x GHz x FP32 FLOPs/cycle (32 with AVX2 FMA, 64 with AVX-512).
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
from benchmarks.peer import Peer, add_peer_arguments, use_threads
from benchmarks.tokenization import read_sentences

DEFAULT_VARIANTS = (
    "project-xla-float32+trim,project-xla-float32+sort,project-noxla-float32+trim,"
    "project-noxla-float32+sort,project-noxla-mixed_bfloat16+sort,project-xla-mixed_bfloat16+sort"
)
SORT_WINDOW = 64
# The peer's name for each Keras policy.
PEER_PRECISION = {"float32": "float32", "mixed_bfloat16": "bf16"}


def old_buckets(length: int) -> tuple[int, ...]:
    """The bucket lengths of the trimming before issue 14: 16, 32, 64, ... below L, then L."""
    buckets, n = [], 16
    while n < length:
        buckets.append(n)
        n *= 2
    return (*buckets, length)


class _Timer:
    """Keras callback factory: wall and CPU timestamps at every on_train_batch_end."""

    def __init__(self):
        import tensorflow as tf

        class Timer(tf.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.stamps = [(time.perf_counter(), time.process_time())]

            def on_train_batch_end(self, batch, logs=None):
                self.stamps.append((time.perf_counter(), time.process_time()))

        self.cls = Timer


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
    return arrays, label, path, float(arrays["attention_mask"].sum(axis=1).mean())


def parameter_counts(model) -> dict:
    total = embedding = 0
    for weight in model.trainable_weights:
        n = int(weight.shape.num_elements())
        total += n
        if "embeddings" in weight.name and "LayerNorm" not in weight.name:
            embedding += n
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def parse_variant(name: str, default_length: int) -> dict:
    base, _, length_text = name.partition("@L")
    batching = "none"
    for suffix in ("+trim", "+sort"):
        if base.endswith(suffix):
            batching, base = suffix[1:], base.removesuffix(suffix)
    kind, compile_mode, precision = base.split("-", 2)
    if kind not in ("project", "bare", "peer"):
        raise ValueError(f"{name}: kind must be project, bare or peer")
    if batching != "none" and kind != "project":
        raise ValueError(f"{name}: +trim/+sort are variants of the project's input pipeline")
    if (kind == "peer") != (compile_mode == "eager"):
        raise ValueError(f"{name}: the peer runs eager (peer-eager-...), the others xla/noxla")
    return {
        "kind": kind,
        "xla": compile_mode == "xla",
        "precision": precision,
        "batching": batching,
        "length": int(length_text) if length_text else default_length,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--rounds", type=int, default=2, help="interleaving rounds")
    parser.add_argument("--examples", type=int, default=4096, help="SST-2 sentences used")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    add_peer_arguments(parser)
    parser.add_argument("--output-name", default="", help="results/training_<name>.json")
    parser.add_argument("--ghz", type=float, default=0.0, help="clock for the peak (0 = cpuinfo)")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    use_threads(args.threads)

    from components.core.checkpoint import resolve_checkpoint
    from components.core.config import ModelConfig, TrainConfig
    from components.trainer.callbacks import ResumableBackup, StepHistory
    from components.trainer.data import length_buckets, make_train_dataset
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
        if length not in data:
            folder = tempfile.mkdtemp(dir=work)
            arrays, labels, tfrecord, mean_tokens = make_data(args.examples, length, folder)
            data[length] = {
                "arrays": arrays,
                "labels": labels,
                "tfrecord": tfrecord,
                "spec": _SpecOnly(length),
                "mean_tokens": mean_tokens,
            }
        return data[length]

    total_steps = args.warmup + args.steps + 100
    timer = _Timer()
    peer: Peer | None = None
    variants: dict[str, dict] = {}
    for name in [v for v in args.variants.split(",") if v]:
        v = parse_variant(name, args.seq_len)
        d = data_for(v["length"])
        v.update(name=name, consumed=0, fits=[], build_s=0.0)
        started = time.perf_counter()
        if v["kind"] == "peer":
            if peer is None:
                peer = Peer(resolve_checkpoint(""), 2, venv=args.peer_venv, threads=args.threads)
                print(f"peer: {peer.info}", flush=True)
            variants[name] = v
            continue
        train_config = TrainConfig(
            train_steps=total_steps,
            batch_size=args.batch,
            jit_compile=v["xla"],
            mixed_precision=v["precision"],
        )
        trim = v["batching"] != "none"
        tf.keras.utils.set_random_seed(42)
        with keras_policy(v["precision"]):
            model = build_classifier(
                ModelConfig(max_seq_length=v["length"]), 2, variable_length=trim
            )
            if v["kind"] == "project":
                compile_classifier(model, train_config)
                dataset = functools.partial(
                    make_train_dataset,
                    d["tfrecord"],
                    d["spec"],
                    args.batch,
                    seed=42,
                    trim_padding=trim,
                    sort_window=SORT_WINDOW if v["batching"] == "sort" else 1,
                    buckets=old_buckets(v["length"]) if v["batching"] == "trim" else (),
                )
            else:
                model.compile(
                    optimizer=make_optimizer(train_config),
                    loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                    metrics=["accuracy"],
                    jit_compile=v["xla"],
                )
                dataset = make_train_dataset(d["tfrecord"], d["spec"], args.batch, seed=42)
        v.update(config=train_config, model=model, dataset=dataset)
        v["build_s"] = time.perf_counter() - started
        variants[name] = v
        print(f"built {name} in {v['build_s']:.1f} s", flush=True)

    def batches_of(v: dict, start: int, count: int) -> list[dict]:
        """The batches a variant trains on, start..start+count, as numpy (for the peer and for
        counting tokens): the same stream make_train_dataset gives the project's variants."""
        d = data_for(v["length"])
        trim = v["batching"] != "none"
        dataset = make_train_dataset(
            d["tfrecord"],
            d["spec"],
            args.batch,
            seed=42,
            skip_batches=start,
            trim_padding=trim,
            sort_window=SORT_WINDOW if v["batching"] == "sort" else 1,
            buckets=old_buckets(v["length"]) if v["batching"] == "trim" else (),
        )
        return [
            {**{k: t.numpy() for k, t in x.items()}, "labels": y.numpy()}
            for x, y in dataset.take(count)
        ]

    def fit(v: dict, steps: int) -> None:
        if v["kind"] == "peer":
            batches = [
                {k: b[k].tolist() for k in ("input_ids", "attention_mask", "token_type_ids")}
                | {"labels": b["labels"].tolist()}
                for b in batches_of(v, v["consumed"], steps)
            ]
            if v["precision"] not in PEER_PRECISION.values():
                raise ValueError(f"{v['name']}: the peer's precisions are float32 and bf16")
            reply = peer.call("train", batches=batches, precision=v["precision"])
            v["fits"].append(
                (v["consumed"], list(zip(reply["seconds"], reply["cpu_seconds"], strict=True)))
            )
            v["consumed"] += steps
            return
        cb = timer.cls()
        callbacks = [cb]
        if v["kind"] == "project":
            backup = tempfile.mkdtemp(dir=work)
            history = StepHistory(
                os.path.join(backup, "history.json"), learning_rate_schedule(v["config"])
            )
            callbacks = [
                ResumableBackup(backup, v["config"].checkpoint_every, 1, history.save_progress),
                history,
                tf.keras.callbacks.TensorBoard(
                    log_dir=tempfile.mkdtemp(dir=work),
                    update_freq=max(1, total_steps // 100),
                    write_graph=False,
                    profile_batch=0,
                ),
                cb,
            ]
            dataset = v["dataset"](skip_batches=v["consumed"])
        else:
            dataset = v["dataset"].skip(v["consumed"])
        with keras_policy(v["precision"]):
            v["model"].fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=callbacks, verbose=0)
        stamps = np.asarray(cb.stamps)
        steps_s = list(zip(np.diff(stamps[:, 0]), np.diff(stamps[:, 1]), strict=True))
        v["fits"].append((v["consumed"], steps_s))
        v["consumed"] += steps

    for name, v in variants.items():
        started = time.perf_counter()
        fit(v, args.warmup)
        v["warmup_s"] = time.perf_counter() - started
        print(f"warm-up {name}: {v['warmup_s']:.1f} s ({args.warmup} steps)", flush=True)
    per_round = max(1, args.steps // args.rounds)
    for r in range(args.rounds):
        for name, v in variants.items():
            fit(v, per_round + 1)  # the first interval of a fit includes its set-up: dropped
            print(f"round {r + 1} {name}: done", flush=True)
    if peer is not None:
        peer.close()

    info = machine()
    ghz = args.ghz or (info.get("cpu_mhz") or 0) / 1000
    flops_per_cycle = 64 if info.get("simd_flags", {}).get("avx512f") else 32
    cores = info.get("cores") or 1
    peak = cores * ghz * 1e9 * flops_per_cycle
    first_model = next((v["model"] for v in variants.values() if "model" in v), None)
    params = parameter_counts(first_model) if first_model is not None else None
    results: dict = {
        "seq_len": args.seq_len,
        "batch": args.batch,
        "sort_window": SORT_WINDOW,
        "buckets": {
            "sort": length_buckets(args.seq_len),
            "trim (before issue 14)": old_buckets(args.seq_len),
        },
        "mean_real_tokens_per_example": {k: round(d["mean_tokens"], 2) for k, d in data.items()},
        "parameters": params,
        "peak": {
            "cores": cores,
            "ghz": ghz,
            "fp32_flops_per_cycle_per_core": flops_per_cycle,
            "peak_gflops": round(peak / 1e9, 1),
            "assumption": "cpuinfo 'cpu MHz' as the sustained clock; FP32 FMA (AMX bf16 peak "
            "not counted)",
        },
        "peer": peer.info if peer is not None else None,
        "threads": args.threads or "all cores",
        "variants": {},
    }
    for name, v in variants.items():
        batches = batches_of(v, 0, v["consumed"])
        records, seen = [], set()
        for index, (start, steps) in enumerate(v["fits"]):
            for offset, (wall, cpu) in enumerate(steps):
                b = batches[start + offset]
                length = int(b["input_ids"].shape[1])
                first = length not in seen
                seen.add(length)
                if index > 0 and offset == 0 and v["kind"] != "peer":
                    continue  # fit() set-up
                records.append(
                    {
                        "timed": index > 0,
                        "length": length,
                        "real_tokens": int(b["attention_mask"].sum()),
                        "wall": float(wall),
                        "cpu": float(cpu),
                        "first_length": first and v["xla"],
                    }
                )
        timed = [r for r in records if r["timed"]]
        steady = [r for r in timed if not r["first_length"]]
        wall = sum(r["wall"] for r in steady)
        cpu = sum(r["cpu"] for r in steady)
        computed = sum(r["length"] for r in steady) * args.batch
        real = sum(r["real_tokens"] for r in steady)
        eps = args.batch * len(steady) / wall
        achieved = (
            eps * 6 * params["non_embedding"] * computed / (args.batch * len(steady))
            if params
            else 0
        )
        by_length = {}
        for length in sorted({r["length"] for r in steady}):
            these = [r["wall"] for r in steady if r["length"] == length]
            by_length[length] = {
                "steps": len(these),
                "step_s_median": round(statistics.median(these), 4),
            }
        results["variants"][name] = {
            "length": v["length"],
            "batching": v["batching"],
            "precision": v["precision"],
            "xla": v["xla"],
            "build_s": round(v["build_s"], 1),
            "warmup_s": round(v["warmup_s"], 1),
            "timed_steps": len(steady),
            "step_s_median": round(statistics.median(r["wall"] for r in steady), 4),
            "step_s_min": round(min(r["wall"] for r in steady), 4),
            "examples_per_s": round(eps, 2),
            "examples_per_cpu_s": round(args.batch * len(steady) / cpu, 2),
            "computed_tokens_per_example": round(computed / (args.batch * len(steady)), 1),
            "real_token_share": round(real / computed, 3),
            "by_length": by_length,
            "first_length_steps": [
                {"length": r["length"], "seconds": round(r["wall"], 2)}
                for r in timed
                if r["first_length"]
            ],
            "keras_traces": (
                v["model"].train_function.experimental_get_tracing_count() if "model" in v else None
            ),
            "achieved_gflops": round(achieved / 1e9, 2),
            "share_of_fp32_peak": round(achieved / peak, 4) if peak else None,
        }
        r = results["variants"][name]
        print(
            f"{name:<40} {r['examples_per_s']:7.2f} ex/s  {r['examples_per_cpu_s']:6.2f} ex/CPU-s  "
            f"median step {r['step_s_median']:.3f} s  {r['computed_tokens_per_example']:5.1f} "
            f"tokens/ex, real {100 * r['real_token_share']:4.1f}%  lengths {list(by_length)}"
        )

    base = results["variants"]

    def ratio(a: str, b: str) -> dict:
        return {
            "wall": round(base[a]["examples_per_s"] / base[b]["examples_per_s"], 3),
            "cpu": round(base[a]["examples_per_cpu_s"] / base[b]["examples_per_cpu_s"], 3),
        }

    ratios = {}
    names = list(base)
    for a in names:
        for b in names:
            va, vb = base[a], base[b]
            if a == b or va["length"] != vb["length"]:
                continue
            same = {k: va[k] == vb[k] for k in ("batching", "xla", "precision")}
            differs = [k for k, equal in same.items() if not equal]
            peer_pair = a.startswith("peer") != b.startswith("peer")
            if (
                not peer_pair
                and (
                    (differs == ["batching"] and va["batching"] == "sort")
                    or (differs == ["precision"] and va["precision"] in ("mixed_bfloat16", "bf16"))
                    or (differs == ["xla"] and va["xla"])
                )
            ) or (
                peer_pair
                and not a.startswith("peer")
                and va["batching"] == "none"
                and PEER_PRECISION[va["precision"]] == vb["precision"]
            ):
                ratios[f"{a} / {b}"] = ratio(a, b)
    results["throughput_ratios"] = ratios
    for k, value in ratios.items():
        print(f"  {k}: {value['wall']} (wall), {value['cpu']} (CPU time)")
    write_results(f"training_{args.output_name or f'L{args.seq_len}'}", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
