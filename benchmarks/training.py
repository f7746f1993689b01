"""Training throughput: our Trainer against the PyTorch peer on the same batches (issue 21).

    .venv/bin/python -m benchmarks.training            # the goal's comparison (~4 min idle)
    .venv/bin/python -m benchmarks.training [--seq-len 128] [--batch 32] [--warmup 3]
        [--steps 8] [--rounds 3] [--threads 0] [--variants project-auto-auto+sort,...]

By default: SST-2 training sentences at max_seq_length 128, batch 32, and

- `project-auto-auto+sort`: our Trainer as it runs by default (TrainConfig's XLA setting, the
  precision `--mixed-precision auto` picks on this CPU: mixed_bfloat16 where it has avx512_bf16
  or amx_bf16, else float32; length-sorted windows and buckets);
- `peer-eager-auto+sort`: the peer on exactly those batches, each padded only to its longest
  sequence, in the matching precision (torch.autocast bf16 where ours is mixed_bfloat16);
- `peer-eager-auto+dynamic`: the peer's own default, random batches padded to their longest;
- the same three in float32 (`project-noxla-float32+sort`, `peer-eager-float32+sort`,
  `peer-eager-float32+dynamic`); on a CPU where `auto` is float32 they coincide (run once).

Variant names and batchings: benchmarks/training_variants.py. All variants are built and warmed
up (--warmup steps), then take turns (benchmarks/method.py: take_turns, a pause before each turn,
the order rotated every round) for --rounds rounds; in each round every variant trains on the
next --steps + 1 batches of its stream (variants on the same stream on the same batches) and the
first step of each turn (fit set-up, threads waking after the pause) is not timed, nor, with
XLA, a step meeting a length for the first time (a compilation). Per round: examples/s (wall)
and examples per CPU second (process CPU time, all threads; the peer's is measured in its
worker), their median and spread over the rounds; the CPU figure is the steadier one on a
shared machine. Ratios ours / peer are printed with the conditions' verdict (idle, or loaded:
not a result) and written, with the conditions, to benchmarks/results/training_<name>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import scratch_folder, write_results
from benchmarks.method import MIN_ROUNDS, SETTLE_S, Watch, ratio_text, take_turns
from benchmarks.peer import Peer, add_peer_arguments, use_threads
from benchmarks.training_variants import (
    PEER_PRECISION,
    SORT_WINDOW,
    Data,
    KerasVariant,
    PeerVariant,
    Variant,
    old_buckets,
    parameter_counts,
    parse_variant,
)

DEFAULT_VARIANTS = (
    "project-auto-auto+sort,peer-eager-auto+sort,peer-eager-auto+dynamic,"
    "project-noxla-float32+sort,peer-eager-float32+sort,peer-eager-float32+dynamic"
)


def round_figures(steps, batch: int) -> dict[str, float]:
    """One turn's figures over its timed steps (the first and first-length steps left out)."""
    timed = [s for s in steps[1:] if not s.first_length]
    if not timed:
        return {}
    wall = sum(s.wall for s in timed)
    cpu = sum(s.cpu for s in timed)
    return {
        "examples_per_s": batch * len(timed) / wall,
        "examples_per_cpu_s": batch * len(timed) / cpu,
        "cpu_ms_per_example": 1000 * cpu / (batch * len(timed)),
    }


def paired_ratios(ours: dict, theirs: dict, our_steps: list, their_steps: list) -> dict:
    """Where both sides trained on the very same batches: the ratio in each round (ours / the
    peer's examples per second), and over all rounds together, the peer's wall time for all the
    timed steps over ours (the same work, so the ratio of throughputs; the ratio of the two
    medians above may take the two medians from different rounds, whose batches differ)."""
    per_round = [
        a / b
        for a, b in zip(ours["examples_per_s"].rounds, theirs["examples_per_s"].rounds, strict=True)
    ]
    paired = {"wall_per_round": [round(r, 3) for r in per_round]}
    timed = [[s.wall for s in steps if not s.first_length] for steps in (our_steps, their_steps)]
    if len(timed[0]) == len(timed[1]):  # (a step left out on one side only: not the same work)
        paired["wall_pooled"] = round(sum(timed[1]) / sum(timed[0]), 3)
    return paired


def pairs(specs: dict) -> list[tuple[str, str, str]]:
    """(ours, peer, what) pairs to compare: ours +sort against the peer on the same batches (the
    goal's ratio) and against the peer's own dynamic padding, matching precision and length."""
    found = []
    for a, sa in specs.items():
        for b, sb in specs.items():
            if sa.kind != "project" or sb.kind != "peer" or sa.length != sb.length:
                continue
            if PEER_PRECISION[sa.precision] != sb.precision:
                continue
            if sa.batching == "sort" and sb.batching == "sort":
                found.append((a, b, "same batches"))
            elif sa.batching == "sort" and sb.batching == "dynamic":
                found.append((a, b, "the peer's dynamic padding"))
            elif sa.batching == sb.batching == "none":
                found.append((a, b, "same fixed-length batches"))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant first")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--examples", type=int, default=4096, help="SST-2 sentences used")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="s to wait for load after")
    add_peer_arguments(parser)
    parser.add_argument("--output-name", default="", help="results/training_<name>.json")
    args = parser.parse_args(argv)
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}")

    import tensorflow as tf

    use_threads(args.threads)

    from components.core.checkpoint import resolve_checkpoint
    from components.core.config import TrainConfig
    from components.trainer.data import length_buckets
    from components.trainer.precision import select_precision

    defaults = TrainConfig()
    precision = select_precision(defaults, tf.distribute.get_strategy())
    print(f"our default precision here: {precision.policy} ({precision.reason})", flush=True)
    specs = {}
    for name in [v for v in args.variants.split(",") if v]:
        spec = parse_variant(name, args.seq_len, precision.policy, defaults.jit_compile)
        specs.setdefault(spec.name, spec)  # `auto` may resolve to a variant already listed

    work = scratch_folder("bench_training_")
    data = Data(args.examples, args.batch, work)
    total_steps = args.warmup + args.rounds * (args.steps + 1) + 100
    peer: Peer | None = None
    variants: dict[str, Variant] = {}
    for name, spec in specs.items():
        if spec.kind == "peer":
            if peer is None:
                peer = Peer(resolve_checkpoint(""), 2, venv=args.peer_venv, threads=args.threads)
                print(f"peer: {peer.info}", flush=True)
            variants[name] = PeerVariant(spec, data)
            variants[name].peer = peer
        else:
            variants[name] = KerasVariant(spec, data)
            variants[name].build(args.batch, total_steps, work)
            print(f"built {name} in {variants[name].build_s:.1f} s", flush=True)

    position = {name: 0 for name in variants}
    steps: dict[str, list] = {name: [] for name in variants}
    for name, v in variants.items():
        started = time.perf_counter()
        v.run(0, args.warmup)
        position[name] = args.warmup
        print(f"warm-up {name}: {time.perf_counter() - started:.1f} s", flush=True)

    def turn(name: str):
        def go() -> dict[str, float]:
            done = variants[name].run(position[name], args.steps + 1)
            position[name] += args.steps + 1
            steps[name].extend(done[1:])
            return round_figures(done, args.batch)

        return go

    watch = Watch(settle_s=args.settle).start()
    figures = take_turns({name: turn(name) for name in variants}, args.rounds)
    if peer is not None:
        peer.close()
    conditions = watch.stop()

    first_keras = next((v for v in variants.values() if isinstance(v, KerasVariant)), None)
    results: dict = {
        "conditions": conditions.to_dict(),
        "seq_len": args.seq_len,
        "batch": args.batch,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "our_default_precision": {"policy": precision.policy, "reason": precision.reason},
        "sort_window": SORT_WINDOW,
        "buckets": {
            "sort": length_buckets(args.seq_len),
            "trim (before issue 14)": old_buckets(args.seq_len),
        },
        "mean_real_tokens_per_example": {k: round(x, 2) for k, x in data.mean_tokens.items()},
        "parameters": parameter_counts(first_keras.model) if first_keras else None,
        "peer": peer.info if peer is not None else None,
        "threads": args.threads or "all cores",
        "variants": {},
        "ratios": {},
    }
    print(f"\nconditions: {conditions.describe()}")
    for name, v in variants.items():
        timed = [s for s in steps[name] if not s.first_length]
        computed = sum(s.length for s in timed) * args.batch
        lengths = sorted({s.length for s in timed})
        results["variants"][name] = {
            "spec": vars(v.spec),
            "build_s": round(v.build_s, 1),
            **{key: figure.to_dict() for key, figure in figures[name].items()},
            "timed_steps": len(timed),
            "computed_tokens_per_example": round(computed / max(1, args.batch * len(timed)), 2),
            "real_token_share": round(sum(s.real_tokens for s in timed) / max(1, computed), 3),
            "lengths": lengths,
            "step_s_median_by_length": {
                n: round(statistics.median(s.wall for s in timed if s.length == n), 4)
                for n in lengths
            },
            "first_length_steps": [
                {"length": s.length, "seconds": round(s.wall, 2)}
                for s in steps[name]
                if s.first_length
            ],
            "mean_loss": round(statistics.fmean(v.losses), 4) if v.losses else None,
        }
        f = figures[name]
        r = results["variants"][name]
        print(
            f"{name:<34} {f['examples_per_s'].text('ex/s')}\n{'':<34} "
            f"{f['examples_per_cpu_s'].text('ex/CPU-s')}; "
            f"{r['computed_tokens_per_example']} tokens/ex, real {100 * r['real_token_share']:.0f}%"
        )
    for ours, theirs, what in pairs(specs):
        value = {
            key: figures[ours][key].median / figures[theirs][key].median
            for key in ("examples_per_s", "examples_per_cpu_s")
        }
        key = f"{ours} / {theirs}"
        results["ratios"][key] = {
            "compares": what,
            "wall": round(value["examples_per_s"], 3),
            "cpu": round(value["examples_per_cpu_s"], 3),
            "verdict": conditions.verdict,
        }
        print(ratio_text(f"{key} ({what}), wall", value["examples_per_s"], conditions))
        print(ratio_text(f"{key} ({what}), CPU time", value["examples_per_cpu_s"], conditions))
        if what == "same batches":
            paired = paired_ratios(figures[ours], figures[theirs], steps[ours], steps[theirs])
            results["ratios"][key].update(paired)
            rounds = ", ".join(f"{r:.2f}" for r in paired["wall_per_round"])
            if "wall_pooled" in paired:
                name = f"{key} ({what}), wall over all rounds' steps"
                print(ratio_text(name, paired["wall_pooled"], conditions))
            print(f"{key} ({what}), wall per round: {rounds}")
    write_results(f"training_{args.output_name or f'L{args.seq_len}'}", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
