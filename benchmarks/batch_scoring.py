"""Batch scoring throughput (`bertpipe predict --data`) against the serving benchmark's batch 32.

    .venv/bin/python -m benchmarks.batch_scoring --model runs/default/serving \
        [--train-rows 4000] [--rounds 2]

On SST-2 dev (872 rows) and on the first --train-rows rows of SST-2 train, in --rounds interleaved
rounds (so that the machine's load hits both alike), with one exported model loaded once in this
process (the serving model of `bertpipe run`, e.g. the default checkpoint's):

- batch scoring: pipeline/batch_scoring.score_data, the whole command's work (the Beam pipeline
  reading the file, the length-sorted windows through `serving_examples`, the JSON lines written
  and joined, the summary); rows / wall time of the call;
- serving at batch 32, as benchmarks/serving.py measures it: `serving_default` on consecutive
  batches of 32 of the same sentences; examples / time inside the calls (reading, batching and
  writing not counted).

Prints rows/s of both and their ratio per dataset, with the load average before and after; the
first round also loads the model and traces its functions, so the last round is the figure.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import SST2, scratch_folder, tsv_sentences, write_results

BATCH = 32


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="exported model (or a serving folder)")
    parser.add_argument("--train-rows", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output-name", default="", help="results/batch_scoring_<name>.json")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from components.core.config import Config
    from components.core.serving import SERVING_DEFAULT, TEXT_INPUT, load_classifier
    from pipeline.batch_scoring import score_data

    load_before = [round(x, 2) for x in os.getloadavg()]
    work = Path(scratch_folder("bench_batch_scoring_"))
    train = work / "train_head.tsv"
    with open(SST2 / "train.tsv", encoding="utf-8") as source:  # the header and the first rows
        train.write_text("".join(itertools.islice(source, args.train_rows + 1)))
    datasets = {"sst2_dev": SST2 / "dev.tsv", f"sst2_train_{args.train_rows}": train}
    serve = load_classifier(args.model).signatures[SERVING_DEFAULT]

    def batch_scoring(path: Path) -> dict:
        config = Config().replace(data={"data": str(path)})
        begin = time.perf_counter()
        summary = score_data(config, args.model, str(work / "scores.jsonl"))
        seconds = time.perf_counter() - begin
        return {"rows": summary.tally.scored, "seconds": round(seconds, 2)}

    def serving_batch_32(path: Path) -> dict:
        texts = tsv_sentences(path)
        seconds = 0.0
        for start in range(0, len(texts), BATCH):
            batch = tf.constant(texts[start : start + BATCH])
            begin = time.perf_counter()
            serve(**{TEXT_INPUT: batch})["probabilities"].numpy()
            seconds += time.perf_counter() - begin
        return {"rows": len(texts), "seconds": round(seconds, 2)}

    rounds = []
    for r in range(args.rounds):
        measured = {}
        for name, path in datasets.items():
            for variant, run in (
                ("batch_scoring", batch_scoring),
                ("serving_batch_32", serving_batch_32),
            ):
                result = run(path)
                result["rows_per_s"] = round(result["rows"] / result["seconds"], 1)
                measured[f"{name} {variant}"] = result
                print(f"round {r + 1} {name:<22} {variant:<17} {result}", flush=True)
        rounds.append(measured)
    last = rounds[-1]
    ratios = {
        f"{name}: batch scoring / serving batch 32": round(
            last[f"{name} batch_scoring"]["rows_per_s"]
            / last[f"{name} serving_batch_32"]["rows_per_s"],
            3,
        )
        for name in datasets
    }
    load_after = [round(x, 2) for x in os.getloadavg()]
    for key, value in ratios.items():
        print(f"  {key}: {value}")
    print(f"load average before {load_before}, after {load_after}")
    results = {
        "model": args.model,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rounds": rounds,
        "ratios_last_round": ratios,
    }
    write_results(f"batch_scoring{'_' + args.output_name if args.output_name else ''}", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
