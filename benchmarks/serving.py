"""Serving latency and throughput: the exported model at full length and at real length vs the peer.

    .venv/bin/python -m benchmarks.serving [--single 200] [--batches 20] [--rounds 3]

Builds what the Trainer exports, without training (the speed does not depend on the weights):
the real Transform (tf.Transform's Beam implementation of
components.transform.preprocessing.preprocessing_fn over 256 SST-2 training sentences, default
config, L = 128) and the default checkpoint's classifier, exported twice with
components.trainer.export.export_serving_model: `cut_padding=False` (before: the encoder runs on
all 128 positions) and `cut_padding=True` (after: cut to the batch's used length). Both are
loaded with tf.saved_model.load in this process, as TF Serving or TFMA would, and called through
`serving_default` with raw SST-2 dev sentences (tokenization in the graph included).

The peer runs in its own venv (benchmarks/peer.py): BertForSequenceClassification from the same
checkpoint folder, eval mode, `torch.inference_mode()`, BertTokenizerFast with
`padding="longest"` (dynamic padding: the peer's best) and with `padding="max_length"` (128),
tokenization included in its time.

Measured, in --rounds interleaved rounds (each variant in turn, so machine load hits all alike):
- batch 1: latency of each of the first --single dev sentences (p50, p90);
- batch 32: --batches batches of 32 consecutive dev sentences; throughput = examples / time.
The outputs of the two exports are compared on every dev sentence (max |difference| of the
probabilities).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import SST2, write_results
from benchmarks.peer import Peer, add_peer_arguments, use_threads
from benchmarks.tokenization import read_sentences


def dev_sentences() -> list[str]:
    with open(SST2 / "dev.tsv", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        return [row[0] for row in reader]


def transform_output(folder: str, rows: int = 256):
    """Runs the project's preprocessing_fn with tf.Transform (Beam) and returns the output."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from components.core.config import Config
    from components.transform.preprocessing import preprocessing_fn

    texts, labels = read_sentences(rows)
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {
                "text": tf.io.FixedLenFeature([], tf.string),
                "label": tf.io.FixedLenFeature([], tf.string),
            }
        )
    )
    custom = {"config": Config().to_json()}
    data = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=f"{folder}/tmp"):
        (_, _), transform_fn = (
            p | beam.Create(data),
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(lambda x: preprocessing_fn(x, custom))
        _ = transform_fn | tft_beam.WriteTransformFn(f"{folder}/transform_graph")
    metadata_io.write_metadata(metadata, f"{folder}/transform_graph/metadata")
    return tft.TFTransformOutput(f"{folder}/transform_graph")


def summary(seconds: list[float], batch: int) -> dict:
    ordered = sorted(seconds)
    return {
        "calls": len(seconds),
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p90_ms": round(1000 * ordered[int(0.9 * (len(ordered) - 1))], 2),
        "min_ms": round(1000 * ordered[0], 2),
        "examples_per_s": round(batch * len(seconds) / sum(seconds), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=200, help="batch-1 calls per round")
    parser.add_argument("--batches", type=int, default=20, help="batches of 32 per round")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    add_peer_arguments(parser)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--output-name", default="", help="results/serving_<name>.json")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    use_threads(args.threads)

    from components.core.checkpoint import resolve_checkpoint
    from components.core.config import ModelConfig
    from components.trainer.export import export_serving_model
    from components.trainer.model import build_classifier

    work = tempfile.mkdtemp(prefix="bench_serving_")
    started = time.perf_counter()
    output = transform_output(work)
    print(f"Transform (Beam, 256 rows): {time.perf_counter() - started:.1f} s", flush=True)
    tf.keras.utils.set_random_seed(0)
    model = build_classifier(ModelConfig(), 2, variable_length=True)
    loaded = {}
    for name, cut in (("full_length", False), ("real_length", True)):
        folder = f"{work}/{name}"
        export_serving_model(model, output, folder, cut_padding=cut)
        loaded[name] = tf.saved_model.load(folder).signatures["serving_default"]

    texts = dev_sentences()
    single = [[t] for t in texts[: args.single]]
    batched = [texts[i : i + args.batch] for i in range(0, args.batches * args.batch, args.batch)]

    # The two exports compute the same function (on every dev sentence, batches of 32).
    worst = 0.0
    for start in range(0, len(texts), args.batch):
        batch = tf.constant(texts[start : start + args.batch])
        a = loaded["full_length"](text=batch)["probabilities"].numpy()
        b = loaded["real_length"](text=batch)["probabilities"].numpy()
        worst = max(worst, float(np.abs(a - b).max()))
    print(
        f"max |probability difference| full vs real length, {len(texts)} dev sentences: {worst:.2e}"
    )

    def ours(name: str, batches: list[list[str]]) -> list[float]:
        function = loaded[name]
        times = []
        for batch in batches:
            tensor = tf.constant(batch)
            begin = time.perf_counter()
            function(text=tensor)["probabilities"].numpy()
            times.append(time.perf_counter() - begin)
        return times

    peer = (
        None
        if args.no_peer
        else Peer(resolve_checkpoint(""), 2, venv=args.peer_venv, threads=args.threads)
    )
    variants = {
        "ours full_length (before)": lambda b: ours("full_length", b),
        "ours real_length (after)": lambda b: ours("real_length", b),
    }
    if peer is not None:
        print(f"peer: {peer.info}", flush=True)
        for padding in ("longest", "max_length"):
            variants[f"peer padding={padding}"] = lambda b, padding=padding: peer.call(
                "serve", texts=b, padding=padding, max_length=128
            )["seconds"]
    # Warm-up: first calls trace/compile and create kernels.
    for run in variants.values():
        run(single[:5])
        run(batched[:2])
    times: dict = {name: {"batch_1": [], f"batch_{args.batch}": []} for name in variants}
    for r in range(args.rounds):
        for name, run in variants.items():
            times[name]["batch_1"].extend(run(single))
            times[name][f"batch_{args.batch}"].extend(run(batched))
        print(f"round {r + 1} done", flush=True)
    if peer is not None:
        peer.close()

    results: dict = {
        "max_probability_difference_full_vs_real_length": worst,
        "dev_sentences": len(texts),
        "peer": peer.info if peer is not None else None,
        "threads": args.threads or "all cores",
        "variants": {},
    }
    for name, by_batch in times.items():
        results["variants"][name] = {
            "batch_1": summary(by_batch["batch_1"], 1),
            f"batch_{args.batch}": summary(by_batch[f"batch_{args.batch}"], args.batch),
        }
        one, many = (
            results["variants"][name]["batch_1"],
            results["variants"][name][f"batch_{args.batch}"],
        )
        print(
            f"{name:<28} batch 1: p50 {one['p50_ms']:7.2f} ms  p90 {one['p90_ms']:7.2f} ms | "
            f"batch {args.batch}: p50 {many['p50_ms']:8.1f} ms  {many['examples_per_s']:7.1f} ex/s"
        )
    v = results["variants"]
    after, before = v["ours real_length (after)"], v["ours full_length (before)"]
    key = f"batch_{args.batch}"
    ratios = {
        "after / before, batch 1 p50 speed-up": before["batch_1"]["p50_ms"]
        / after["batch_1"]["p50_ms"],
        f"after / before, batch {args.batch} throughput": after[key]["examples_per_s"]
        / before[key]["examples_per_s"],
    }
    if "peer padding=longest" in v:
        peer_dynamic = v["peer padding=longest"]
        ratios[f"after / peer dynamic padding, batch {args.batch} throughput"] = (
            after[key]["examples_per_s"] / peer_dynamic[key]["examples_per_s"]
        )
        ratios["peer dynamic / after, batch 1 p50 (>1: ours faster)"] = (
            peer_dynamic["batch_1"]["p50_ms"] / after["batch_1"]["p50_ms"]
        )
    results["ratios"] = {k: round(value, 3) for k, value in ratios.items()}
    for k, value in results["ratios"].items():
        print(f"  {k}: {value}")
    write_results(f"serving{'_' + args.output_name if args.output_name else ''}", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
