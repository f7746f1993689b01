"""First-request latency of a pushed model in a fresh process, with and without TF Serving's warmup.

    .venv/bin/python -m benchmarks.warmup --model runs/default/serving [--rounds 5]

`--model` is a pushed version (or a serving folder: its newest version) that carries the serving
check's `assets.extra/tf_serving_warmup_requests`. Each round starts two fresh processes of this
Python, one after the other, each as a model server starts a version:

- cold: `tf.saved_model.load`, then the first request;
- warm: `tf.saved_model.load`, then every record of the warmup file replayed through its
  signature (what TF Serving does before it marks a version available, once per record by
  default), then the first request.

The first request is `serving_default` on one text that is not in the warmup file (`--text`),
timed on its own, then a second request on the same text (the steady latency, for scale). The
processes import tensorflow, tensorflow_text and, to read the warmup file, the project's
components.core.serving_assets (TF Serving reads the same PredictionLogs natively). Rounds
alternate, so that the machine's load hits both alike; the medians are printed with the load
average and the CPU flags, and written to benchmarks/results/warmup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import REPO, machine, write_results
from components.core.serving import find_saved_model

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    from components.core.serving_assets import read_warmup_requests

    model_dir, text, warm = sys.argv[1], sys.argv[2], sys.argv[3] == "warm"
    requests = read_warmup_requests(model_dir)  # read before the clock starts, as it is small
    started = time.perf_counter()
    model = tf.saved_model.load(model_dir)
    loaded = time.perf_counter()
    if warm:
        for request in requests:
            inputs = {k: tf.constant(v, dtype=tf.string) for k, v in request.inputs.items()}
            model.signatures[request.signature](**inputs)
    warmed = time.perf_counter()
    serving = model.signatures["serving_default"]
    first = time.perf_counter()
    serving(text=tf.constant([text]))["probabilities"].numpy()
    second = time.perf_counter()
    serving(text=tf.constant([text]))["probabilities"].numpy()
    done = time.perf_counter()
    print("RESULT", json.dumps({
        "load_s": loaded - started,
        "warmup_s": warmed - loaded,
        "warmup_requests": len(requests) if warm else 0,
        "first_request_ms": 1000 * (second - first),
        "second_request_ms": 1000 * (done - second),
    }))
    """
)
DEFAULT_TEXT = "The delivery came a day early and the blender works as described."


def one_process(model_dir: str, text: str, mode: str) -> dict:
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, model_dir, text, mode],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {mode} process failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def median(rounds: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rounds), 3)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a pushed version or a serving folder")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the first real request's text")
    args = parser.parse_args(argv)
    model_dir = find_saved_model(args.model)
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for index in range(args.rounds):
        for mode in ("cold", "warm") if index % 2 == 0 else ("warm", "cold"):
            runs[mode].append(one_process(model_dir, args.text, mode))
            print(f"round {index + 1} {mode}: {json.dumps(runs[mode][-1])}", flush=True)
    results = {
        mode: {
            key: median(rounds, key)
            for key in ("load_s", "warmup_s", "first_request_ms", "second_request_ms")
        }
        for mode, rounds in runs.items()
    }
    info = machine()
    print(f"model: {model_dir} ({runs['warm'][0]['warmup_requests']} warmup requests)")
    print(f"load average {info.get('load_average')}, {info.get('cpu_model')}, flags", end=" ")
    print(", ".join(name for name, on in info.get("simd_flags", {}).items() if on))
    for mode in ("cold", "warm"):
        r = results[mode]
        print(
            f"{mode}: first request {r['first_request_ms']:.1f} ms (then"
            f" {r['second_request_ms']:.1f} ms); load {r['load_s']:.2f} s, warmup"
            f" {r['warmup_s']:.2f} s (medians of {args.rounds})"
        )
    ratio = results["cold"]["first_request_ms"] / results["warm"]["first_request_ms"]
    print(f"first request without warmup / with warmup: {ratio:.1f}x")
    payload = {"model": model_dir, "text": args.text, "rounds": runs, "medians": results}
    write_results("warmup", payload)
    return payload


if __name__ == "__main__":
    main()
