"""Serving latency and throughput: the exported model vs the peer, in turns, with conditions.

    .venv/bin/python -m benchmarks.serving [--rounds 5] [--single 100] [--batches 10]
                                           [--variants] [--pause 1.0] [--threads 0]

Builds what the Trainer exports, without training (the speed does not depend on the weights):
the real Transform (tf.Transform's Beam implementation of
components.transform.preprocessing.preprocessing_fn over 256 SST-2 training sentences, default
config, L = 128) and the default checkpoint's classifier, exported with
components.trainer.export.export_serving_model as the Trainer does. It is loaded with
tf.saved_model.load in this process, as TF Serving or TFMA would, and called through
`serving_default` with raw SST-2 dev sentences (tokenization in the graph included).
`--variants` adds the other exports for comparison: `full_length` (no padding cut) and
`one_group` (the whole batch cut to its longest row: the export before issue 21).

The peer runs in its own venv (benchmarks/peer.py): BertForSequenceClassification from the same
checkpoint folder with *our* classifier head copied in, eval mode, `torch.inference_mode()`,
BertTokenizerFast with `padding="longest"` (dynamic padding: the peer's best), tokenization
included in its time. Before timing, both sides classify every dev sentence (batches of 32) and
the largest |difference| of their probabilities is printed against the 1e-5 bound.

Measured with benchmarks.method: each variant in turn (`take_turns`, a pause of --pause seconds
before each turn, rotating order), --rounds rounds (at least 3), each round giving
- batch 1: p50 latency (ms) of the first --single dev sentences one at a time, and the CPU time
  per call (ours: this process, all threads; the peer: its worker process);
- batch 32: throughput (examples/s) over --batches batches of 32 consecutive dev sentences, and
  the CPU time per example;
- for ours, the CPU time the peer's worker used during our turn, and the reverse: the evidence
  for or against one side's idle threads slowing the other (see BENCHMARKS.md section 9).
Each figure is printed as median (rounds; spread), each ratio with the machine's verdict
(`idle` or `loaded: not a result`), and everything goes to benchmarks/results/serving*.json with
the conditions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import SST2, scratch_folder, tsv_sentences, write_results
from benchmarks.method import PAUSE_S, Watch, process_cpu_s, ratio_text, take_turns
from benchmarks.peer import Peer, add_peer_arguments, use_threads
from benchmarks.tokenization import read_sentences

PROBABILITY_BOUND = 1e-5


def dev_sentences() -> list[str]:
    return tsv_sentences(SST2 / "dev.tsv")


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


def classifier_head(loaded) -> dict:
    """The serving model's classifier kernel and bias (Keras layout), for the peer."""
    found = {}
    for variable in loaded.model_variables:
        name = variable.name.split("/")
        if len(name) >= 2 and name[-2] == "classifier":
            found[name[-1].split(":")[0]] = variable.numpy().tolist()
    if set(found) != {"kernel", "bias"}:
        raise RuntimeError(f"no classifier kernel and bias among the model's variables: {found}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=100, help="batch-1 calls per round")
    parser.add_argument("--batches", type=int, default=10, help="batches of 32 per round")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pause", type=float, default=PAUSE_S, help="seconds before each turn")
    parser.add_argument(
        "--variants", action="store_true", help="also time the full_length and one_group exports"
    )
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

    work = scratch_folder("bench_serving_")
    started = time.perf_counter()
    output = transform_output(work)
    print(f"Transform (Beam, 256 rows): {time.perf_counter() - started:.1f} s", flush=True)
    tf.keras.utils.set_random_seed(0)
    model = build_classifier(ModelConfig(), 2, variable_length=True)
    exports = {"ours": {}}  # the Trainer's export: its defaults
    if args.variants:
        exports["ours full_length"] = {"cut_padding": False}
        exports["ours one_group"] = {"length_groups": False}
    loaded = {}
    for name, options in exports.items():
        folder = f"{work}/{name.replace(' ', '_')}"
        export_serving_model(model, output, folder, **options)
        loaded[name] = tf.saved_model.load(folder)
    functions = {name: model.signatures["serving_default"] for name, model in loaded.items()}

    texts = dev_sentences()
    single = [[t] for t in texts[: args.single]]
    batched = [texts[i : i + args.batch] for i in range(0, args.batches * args.batch, args.batch)]
    every = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]

    def probabilities(function) -> np.ndarray:
        return np.concatenate(
            [function(text=tf.constant(b))["probabilities"].numpy() for b in every]
        )

    started = time.perf_counter()
    reference = probabilities(functions["ours"])  # also the warm-up: every length bucket
    print(
        f"ours, first pass over {len(texts)} dev sentences: {time.perf_counter() - started:.1f} s"
    )
    agreement: dict = {}
    for name, function in functions.items():
        if name != "ours":
            agreement[f"{name} vs ours"] = float(np.abs(probabilities(function) - reference).max())

    peer = None
    if not args.no_peer:
        peer = Peer(
            resolve_checkpoint(""),
            2,
            venv=args.peer_venv,
            threads=args.threads,
            classifier=classifier_head(loaded["ours"]),
        )
        print(f"peer: {peer.info}", flush=True)
        reply = peer.call(
            "serve", texts=every, padding="longest", max_length=128, probabilities=True
        )
        theirs = np.concatenate([np.asarray(p, dtype=np.float32) for p in reply["probabilities"]])
        agreement["peer vs ours"] = float(np.abs(theirs - reference).max())
    for what, worst in agreement.items():
        verdict = "within" if worst <= PROBABILITY_BOUND else "ABOVE"
        print(
            f"max |probability difference| {what}, {len(texts)} dev sentences: {worst:.2e}"
            f" ({verdict} the bound {PROBABILITY_BOUND:.0e})"
        )

    def ours(function) -> dict[str, float]:
        peer_before = process_cpu_s(peer.pid) if peer else 0.0
        figures = {}
        for key, batches in (("batch_1", single), (f"batch_{args.batch}", batched)):
            wall, cpu = [], []
            for batch in batches:
                tensor = tf.constant(batch)
                begin, begin_cpu = time.perf_counter(), time.process_time()
                function(text=tensor)["probabilities"].numpy()
                wall.append(time.perf_counter() - begin)
                cpu.append(time.process_time() - begin_cpu)
            figures.update(timing_figures(key, wall, cpu, len(batches[0])))
        if peer:
            figures["peer_cpu_ms_during_turn"] = 1000 * (process_cpu_s(peer.pid) - peer_before)
        return figures

    def peers() -> dict[str, float]:
        own_before = process_cpu_s(os.getpid())
        figures = {}
        for key, batches in (("batch_1", single), (f"batch_{args.batch}", batched)):
            reply = peer.call("serve", texts=batches, padding="longest", max_length=128)
            figures.update(
                timing_figures(key, reply["seconds"], reply["cpu_seconds"], len(batches[0]))
            )
        figures["ours_cpu_ms_during_turn"] = 1000 * (process_cpu_s(os.getpid()) - own_before)
        return figures

    variants = {name: (lambda f=function: ours(f)) for name, function in functions.items()}
    if peer is not None:
        variants["peer"] = peers
    for run in variants.values():  # warm-up: first calls trace, compile and create kernels
        run()
    with Watch() as watch:
        figures = take_turns(variants, rounds=args.rounds, pause_s=args.pause)
    conditions = watch.conditions
    if peer is not None:
        peer.close()

    print(f"conditions: {conditions.describe()}")
    units = {"p50_ms": "ms", "examples_per_s": "ex/s", "cpu_ms": "ms CPU"}
    for name, by_key in figures.items():
        for key, figure in by_key.items():
            unit = next(u for suffix, u in units.items() if suffix in key)
            print(f"{name:<20} {key:<32} {figure.text(unit, 2)}")
    ratios = {}
    key = f"batch_{args.batch}"
    for name in functions:
        if peer is None:
            break
        mine, theirs = figures[name], figures["peer"]
        ratios[f"{name}: peer batch-1 p50 / ours (goal >= 1)"] = (
            theirs["batch_1_p50_ms"].median / mine["batch_1_p50_ms"].median
        )
        ratios[f"{name}: ours batch-{args.batch} throughput / peer (goal >= 1.5)"] = (
            mine[f"{key}_examples_per_s"].median / theirs[f"{key}_examples_per_s"].median
        )
        ratios[f"{name}: peer batch-1 CPU / ours"] = (
            theirs["batch_1_cpu_ms"].median / mine["batch_1_cpu_ms"].median
        )
        ratios[f"{name}: peer batch-{args.batch} CPU per example / ours"] = (
            theirs[f"{key}_cpu_ms_per_example"].median / mine[f"{key}_cpu_ms_per_example"].median
        )
    for name, value in ratios.items():
        print("  " + ratio_text(name, value, conditions))

    results: dict = {
        "conditions": conditions.to_dict(),
        "rounds": args.rounds,
        "pause_s": args.pause,
        "dev_sentences": len(texts),
        "max_probability_difference": agreement,
        "probability_bound": PROBABILITY_BOUND,
        "peer": peer.info if peer is not None else None,
        "threads": args.threads or "all cores",
        "figures": {
            name: {key: figure.to_dict() for key, figure in by_key.items()}
            for name, by_key in figures.items()
        },
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
    }
    write_results(f"serving{'_' + args.output_name if args.output_name else ''}", results)
    return 0


def timing_figures(key: str, wall: list[float], cpu: list[float], size: int) -> dict[str, float]:
    """A turn's figures at one batch size: p50 latency and CPU per call at batch 1, throughput
    and CPU per example at larger batches."""
    if size == 1:
        return {
            f"{key}_p50_ms": 1000 * statistics.median(wall),
            f"{key}_cpu_ms": 1000 * statistics.mean(cpu),
        }
    return {
        f"{key}_examples_per_s": size * len(wall) / sum(wall),
        f"{key}_cpu_ms_per_example": 1000 * sum(cpu) / (size * len(cpu)),
    }


if __name__ == "__main__":
    from pipeline.console import leave

    # As `bertpipe` does: exit without the interpreter's teardown, which crashes (SIGSEGV in a
    # garbage collection) in a process that ran tf.Transform's Beam pipeline, as this one does.
    leave(main())
