"""Where a training step's time goes in float32 and mixed_bfloat16, and which oneDNN kernels run.

    .venv/bin/python -m benchmarks.bf16_profile [--seq-len 32] [--steps 5]

For the project's classifier (default checkpoint, batch 32, a fixed length --seq-len, the
Trainer's compile_classifier), per precision (float32, mixed_bfloat16):

1. **Op time by kind, without XLA** (graph mode, TensorFlow's oneDNN kernels): --steps steps
   under the TensorFlow profiler (tf.profiler.experimental), the host events of the trace (each
   TensorFlow op, both CPU threads summed) grouped as: matrix products (MatMul/BatchMatMul, run
   by oneDNN), the AdamW update (ops under `AdamW/`), dropout's RandomUniform, Cast, and the rest
   (element-wise ops, LayerNorm, softmax, GELU, gradients of those).
2. **oneDNN kernels, with and without XLA**: one training step in a fresh process with
   ONEDNN_VERBOSE=1; each oneDNN primitive executed is counted by kind, implementation (ISA:
   `brg:avx512_core_amx` = AMX tiles, `brg:avx512_core` = AVX-512) and data types.

The process CPU time of the profiled steps is printed with them. Results:
benchmarks/results/bf16_profile.json.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import time

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import REPO, scratch_folder, write_results

MARK = "=====STEP====="


def _model_and_batch(precision: str, xla: bool, length: int, batch: int = 32):
    import numpy as np
    import tensorflow as tf

    from components.core.config import ModelConfig, TrainConfig
    from components.trainer.model import build_classifier, compile_classifier, keras_policy

    rng = np.random.default_rng(0)
    features = {
        "input_ids": rng.integers(1000, 2000, (batch, length)).astype(np.int32),
        "attention_mask": np.ones((batch, length), np.int32),
        "token_type_ids": np.zeros((batch, length), np.int32),
    }
    labels = rng.integers(0, 2, batch)
    dataset = tf.data.Dataset.from_tensors((features, labels)).repeat()
    with keras_policy(precision):
        model = build_classifier(ModelConfig(max_seq_length=length), 2)
        compile_classifier(model, TrainConfig(train_steps=1000, jit_compile=xla))
    return model, dataset


def category(op_name: str, op_type: str) -> str:
    if op_name.startswith("AdamW/") or "/AdamW/" in op_name:
        return "AdamW update"
    if "MatMul" in op_type:
        return "matrix products (oneDNN)"
    if op_type == "RandomUniform":
        return "dropout RandomUniform"
    if op_type == "Cast":
        return "Cast"
    return "other (element-wise, LayerNorm, softmax, GELU, ...)"


def op_time_by_kind(precision: str, length: int, steps: int) -> dict:
    """Profiles `steps` steps without XLA; ms per step by category (both threads summed)."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from components.trainer.model import keras_policy

    model, dataset = _model_and_batch(precision, False, length)
    with keras_policy(precision):
        model.fit(dataset, steps_per_epoch=3, verbose=0)  # tracing, first kernels
        logdir = scratch_folder("bf16_profile_")
        started, started_cpu = time.perf_counter(), time.process_time()
        tf.profiler.experimental.start(logdir)
        model.fit(dataset, steps_per_epoch=steps, verbose=0)
        tf.profiler.experimental.stop()
        wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    (path,) = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as handle:
        space.ParseFromString(handle.read())
    ms, ops = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "__inference" in name or "::" in name:
                    continue  # not a TensorFlow op (the step function itself, runtime events)
                op_name, op_type = name.rsplit(":", 1)
                kind = category(op_name, op_type)
                ms[kind] += event.duration_ps / 1e9 / steps
                ops[kind] += 1 / steps
    total = sum(ms.values())
    return {
        "op_ms_per_step": round(total, 1),
        "profiled_wall_s_per_step": round(wall / steps, 3),
        "profiled_cpu_s_per_step": round(cpu / steps, 3),
        "by_kind": {
            kind: {
                "ms_per_step": round(value, 1),
                "share": round(value / total, 3),
                "ops_per_step": round(ops[kind]),
            }
            for kind, value in ms.most_common()
        },
    }


def _one_verbose_step(precision: str, xla: bool, length: int) -> None:
    """(In a child process with ONEDNN_VERBOSE=1.) Two steps, a mark, then one step."""
    from components.trainer.model import keras_policy

    model, dataset = _model_and_batch(precision, xla, length)
    with keras_policy(precision):
        model.fit(dataset, steps_per_epoch=2, verbose=0)
        print(MARK, flush=True)
        model.fit(dataset, steps_per_epoch=1, verbose=0)
        print(MARK, flush=True)


def onednn_kernels(precision: str, xla: bool, length: int) -> dict:
    """oneDNN primitives executed in one training step: count by kind, ISA and data types."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bf16_profile", "--verbose-step", precision]
        + (["--xla"] if xla else [])
        + ["--seq-len", str(length)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "ONEDNN_VERBOSE": "1"},
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    text = done.stdout
    step = text.split(MARK)[1] if text.count(MARK) >= 2 else ""
    counts: collections.Counter = collections.Counter()
    ms: collections.Counter = collections.Counter()
    isa = ""
    for line in text.splitlines():
        if line.startswith("onednn_verbose,info,cpu,isa:"):
            isa = line.split("isa:", 1)[1]
    for line in step.splitlines():
        fields = line.split(",")
        if fields[:3] != ["onednn_verbose", "primitive", "exec"]:
            continue
        # onednn_verbose,primitive,exec,cpu,<kind>,<implementation>,<prop>,<memory>,...,<ms>
        kind, implementation, memory = fields[4], fields[5], fields[7]
        dtypes = "/".join(sorted(set(re.findall(r"(?:src|wei|dst)_(\w+?)::", memory))))
        key = f"{kind} {implementation or '(gemm api)'} {dtypes}"
        counts[key] += 1
        ms[key] += float(fields[-1])
    return {
        "isa": isa,
        "kernels_in_one_step": {
            key: {"count": count, "ms": round(ms[key], 1)} for key, count in counts.most_common()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--verbose-step", default="", help=argparse.SUPPRESS)
    parser.add_argument("--xla", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.verbose_step:
        _one_verbose_step(args.verbose_step, args.xla, args.seq_len)
        return 0

    results: dict = {"seq_len": args.seq_len, "batch": 32, "op_time": {}, "onednn": {}}
    for precision in ("float32", "mixed_bfloat16"):
        profile = op_time_by_kind(precision, args.seq_len, args.steps)
        results["op_time"][precision] = profile
        print(
            f"== {precision}, no XLA: {profile['op_ms_per_step']:.0f} ms of op time per step "
            f"(CPU {profile['profiled_cpu_s_per_step']} s, wall {profile['profiled_wall_s_per_step']} s)"
        )
        for kind, value in profile["by_kind"].items():
            print(
                f"   {kind:<52} {value['ms_per_step']:8.1f} ms {100 * value['share']:5.1f}% "
                f"{value['ops_per_step']:5d} ops"
            )
    for precision in ("float32", "mixed_bfloat16"):
        for xla in (False, True):
            name = f"{precision}, {'XLA' if xla else 'no XLA'}"
            kernels = onednn_kernels(precision, xla, args.seq_len)
            results["onednn"][name] = kernels
            print(f"== oneDNN kernels in one step, {name} (ISA: {kernels['isa']})")
            for key, value in kernels["kernels_in_one_step"].items():
                print(f"   {value['count']:5d} calls {value['ms']:9.1f} ms  {key}")
    matmul = {
        p: results["op_time"][p]["by_kind"].get("matrix products (oneDNN)", {}).get("ms_per_step")
        for p in ("float32", "mixed_bfloat16")
    }
    if all(matmul.values()):
        results["matmul_speedup_bf16"] = round(matmul["float32"] / matmul["mixed_bfloat16"], 2)
        print(f"matrix products, float32 / bfloat16 op time: {results['matmul_speedup_bf16']}x")
    write_results(f"bf16_profile_L{args.seq_len}", json.loads(json.dumps(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
