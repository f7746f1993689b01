"""Tokenization throughput: the Transform's in-graph tokenizer vs Hugging Face BertTokenizerFast.

    .venv/bin/python -m benchmarks.tokenization [--limit N] [--repeat 3] [--batch 1024]
        [--beam N] [--beam-workers 1,2]

Part 1 (always): the 67,349 SST-2 training sentences (or the first --limit), same vocabulary (the
default checkpoint folder) and the same length L (--max-seq-length, 128):
  - tf:  components.transform.tokenizer.BertTokenizer.tokenize inside a tf.function, batches of --batch
         (the graph that preprocessing_fn runs; inputs are pre-built tf.string tensors);
  - hf:  transformers.BertTokenizerFast(batch, padding="max_length", truncation=True,
         max_length=L, return_tensors="np"), same batches (Python lists of str).
Variants are interleaved (tf, hf, tf, hf, ...) --repeat times; best and median examples/s are
reported, and the ids and attention masks of both are compared row by row.

Part 2 (--beam N): the whole Transform analysis+transform of tf.Transform
(tft_beam.AnalyzeAndTransformDataset with components.transform.preprocessing.preprocessing_fn) on N and 2N
sentences, with each --beam-workers value (>1 = multi_processing DirectRunner): the difference
between the 2N and N runs gives the per-example cost, the rest is fixed start-up cost. A discarded
warm-up run (1,000 sentences, 1 worker) goes first: the first pipeline of a process also pays
one-time costs (imports, first tracing).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import SST2, write_results


def read_sentences(limit: int = 0) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with open(SST2 / "train.tsv", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            texts.append(row[0])
            labels.append(row[1])
            if limit and len(texts) >= limit:
                break
    return texts, labels


def bench_tokenizers(texts: list[str], length: int, batch: int, repeat: int) -> dict:
    import numpy as np
    import tensorflow as tf
    from transformers import BertTokenizerFast

    from components.core.checkpoint import resolve_checkpoint
    from components.transform.tokenizer import BertTokenizer

    folder = resolve_checkpoint("")
    tf_tokenizer = BertTokenizer(folder, length)
    hf_tokenizer = BertTokenizerFast.from_pretrained(folder)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tf_tokenize(batch_texts):
        return tf_tokenizer.tokenize(batch_texts)

    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    tf_batches = [tf.constant(b) for b in batches]

    def run_tf():
        ids, masks = [], []
        for b in tf_batches:
            out = tf_tokenize(b)
            ids.append(out["input_ids"].numpy())
            masks.append(out["attention_mask"].numpy())
        return np.concatenate(ids), np.concatenate(masks)

    def run_hf():
        ids, masks = [], []
        for b in batches:
            out = hf_tokenizer(
                b,
                padding="max_length",
                truncation=True,
                max_length=length,
                return_tensors="np",
            )
            ids.append(out["input_ids"])
            masks.append(out["attention_mask"])
        return np.concatenate(ids), np.concatenate(masks)

    # Warm-up: traces the tf.function (both batch sizes seen), fills HF's caches.
    tf_tokenize(tf_batches[0])
    tf_tokenize(tf_batches[-1])
    run_hf_small = hf_tokenizer(batches[0][:8], padding="max_length", max_length=length)
    del run_hf_small

    times: dict[str, list[float]] = {"tf": [], "hf": []}
    outputs = {}
    for r in range(repeat):
        for name, fn in (("tf", run_tf), ("hf", run_hf)):
            started = time.perf_counter()
            outputs[name] = fn()
            seconds = time.perf_counter() - started
            times[name].append(seconds)
            print(f"  round {r + 1} {name}: {seconds:.2f} s = {len(texts) / seconds:,.0f} ex/s")

    (tf_ids, tf_mask), (hf_ids, hf_mask) = outputs["tf"], outputs["hf"]
    id_mismatch = int(np.any(tf_ids != hf_ids.astype(np.int64), axis=1).sum())
    mask_mismatch = int(np.any(tf_mask != hf_mask.astype(np.int64), axis=1).sum())
    lengths = tf_mask.sum(axis=1)
    result = {
        "examples": len(texts),
        "max_seq_length": length,
        "batch": batch,
        "repeat": repeat,
        "tokenizers_parallelism_env": os.environ.get("TOKENIZERS_PARALLELISM", "(unset)"),
        "mismatching_rows": {"input_ids": id_mismatch, "attention_mask": mask_mismatch},
        "tokens_per_example_mean": round(float(lengths.mean()), 2),
        "tokens_per_example_p50_p90_p99_max": [
            int(np.percentile(lengths, q)) for q in (50, 90, 99, 100)
        ],
        "padding_share": round(1 - float(lengths.mean()) / length, 4),
        "truncated_rows": int((lengths >= length).sum()),
    }
    for name, seconds in times.items():
        result[name] = {
            "seconds": [round(s, 3) for s in seconds],
            "best_ex_per_s": round(len(texts) / min(seconds), 1),
            "median_ex_per_s": round(len(texts) / statistics.median(seconds), 1),
        }
    result["ratio_tf_over_hf_median"] = round(
        result["tf"]["median_ex_per_s"] / result["hf"]["median_ex_per_s"], 3
    )
    result["ratio_tf_over_hf_best"] = round(
        result["tf"]["best_ex_per_s"] / result["hf"]["best_ex_per_s"], 3
    )
    return result


def bench_beam(
    texts: list[str],
    labels: list[str],
    sizes: list[int],
    workers: list[int],
    warmup_examples: bool = True,
) -> dict:
    """tft_beam.AnalyzeAndTransformDataset(preprocessing_fn) wall time per (workers, size)."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from components.core.config import Config
    from components.transform.preprocessing import preprocessing_fn

    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {
                "text": tf.io.FixedLenFeature([], tf.string),
                "label": tf.io.FixedLenFeature([], tf.string),
            }
        )
    )
    custom = {"config": Config().to_json()}

    def fn(inputs):
        return preprocessing_fn(inputs, custom)

    def run(size: int, n_workers: int) -> float:
        rows = [{"text": t, "label": y} for t, y in zip(texts[:size], labels[:size], strict=True)]
        flags = [f"--direct_num_workers={n_workers}"]
        if n_workers > 1:
            flags.append("--direct_running_mode=multi_processing")
        started = time.perf_counter()
        with (
            tempfile.TemporaryDirectory() as temp,
            beam.Pipeline(options=PipelineOptions(flags)) as p,
            tft_beam.Context(temp_dir=temp, force_tf_compat_v1=False),
        ):
            data = p | "Create" >> beam.Create(rows)
            (transformed, _), _ = (data, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
            _ = transformed | beam.combiners.Count.Globally() | beam.Map(print)
        return time.perf_counter() - started

    # The first pipeline of a process also pays one-time costs (imports, first tracing): a
    # discarded warm-up run, so that they do not land on the first timed size.
    warmup = run(min(1000, sizes[0]), 1) if warmup_examples else None
    if warmup is not None:
        print(f"  beam warm-up (1,000 examples, 1 worker, discarded): {warmup:.1f} s")
    runs = []
    for size in sizes:
        for n_workers in workers:
            seconds = run(size, n_workers)
            print(f"  beam: {size} examples, {n_workers} worker(s): {seconds:.1f} s")
            runs.append({"examples": size, "workers": n_workers, "seconds": round(seconds, 2)})
    result: dict = {"runs": runs, "warmup_s": round(warmup, 2) if warmup else None}
    if len(sizes) == 2:
        small, large = sizes
        for n_workers in workers:
            t = {r["examples"]: r["seconds"] for r in runs if r["workers"] == n_workers}
            per_example = (t[large] - t[small]) / (large - small)
            result[f"workers_{n_workers}"] = {
                "per_example_ms": round(1000 * per_example, 4),
                "marginal_ex_per_s": round(1 / per_example, 1) if per_example > 0 else None,
                "fixed_s": round(t[small] - small * per_example, 2),
            }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="first N sentences (0 = all 67,349)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--beam", type=int, default=0, help="N for the Beam part (0 = skip)")
    parser.add_argument("--beam-workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--skip-tokenizers", action="store_true")
    parser.add_argument("--output-name", default="", help="results/<name>.json instead")
    args = parser.parse_args(argv)

    texts, labels = read_sentences(args.limit)
    results: dict = {}
    if not args.skip_tokenizers:
        print(
            f"tokenizing {len(texts)} SST-2 sentences, L={args.max_seq_length}, batch {args.batch}"
        )
        r = bench_tokenizers(texts, args.max_seq_length, args.batch, args.repeat)
        results["tokenizers"] = r
        for name in ("tf", "hf"):
            print(
                f"{name}: best {r[name]['best_ex_per_s']:,.0f} ex/s, "
                f"median {r[name]['median_ex_per_s']:,.0f} ex/s"
            )
        print(
            f"tf/hf (median): {r['ratio_tf_over_hf_median']}; mismatching rows: "
            f"{r['mismatching_rows']} of {r['examples']}"
        )
    if args.beam:
        all_texts, all_labels = read_sentences(2 * args.beam)
        workers = [int(w) for w in args.beam_workers.split(",") if w]
        results["beam_transform"] = bench_beam(
            all_texts, all_labels, [args.beam, 2 * args.beam], workers
        )
        print(results["beam_transform"])
    name = "tokenization_beam" if args.skip_tokenizers else "tokenization"
    write_results(args.output_name or name, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
