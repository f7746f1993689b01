"""Wall time, peak memory and per-component times of `bertpipe run` on the bundled sample.

    .venv/bin/python -m benchmarks.end_to_end [--extra "--train-steps 10"] [--repeat 1]
        [--variants "--trim-padding off;--trim-padding on" --output-name trim_padding]

With --variants (flag sets separated by ';'), every repeat runs each variant in turn (same
--extra flags), so a before/after pair is measured under the same conditions; the Trainer's
`train_seconds` (fit, with tracing/XLA compilation) is read from its history.json.

With --code "before=PATH;after=." each variant runs once per source tree (PYTHONPATH=PATH: that
tree's `pipeline` and `components`), e.g. a `git archive` export of the commit before a change:
a before/after comparison of code, not only of flags, in one invocation.

With --sst2 TRAIN:EVAL the data is SST-2 instead of the bundled sample: a temporary folder named
`sst2` (so schemas/sst2 applies) with `train.tsv` = the first TRAIN training rows and `dev.tsv` =
the last EVAL training rows (disjoint from them), i.e. an eval split of several thousand rows
for the Trainer's evaluation and the Evaluator.

Each run goes to a fresh temporary folder (no MLMD cache). Peak memory: ru_maxrss of
RUSAGE_CHILDREN (the `bertpipe` process and anything it waited for; DirectRunner with one
worker runs Beam inside that process) and RUSAGE_SELF (this driver, for reference).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import tempfile
from pathlib import Path

from benchmarks._common import (
    SST2,
    mlmd_component_times,
    peak_rss_mib,
    run_bertpipe,
    write_results,
)


def sst2_folder(train_rows: int, eval_rows: int) -> Path:
    """A temporary `sst2` data folder: the first `train_rows` SST-2 training rows as train.tsv,
    the last `eval_rows` as dev.tsv (disjoint as long as together they fit the 67,349 rows)."""
    lines = (SST2 / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    if train_rows + eval_rows > len(rows):
        raise ValueError(f"--sst2 {train_rows}:{eval_rows} asks for more than {len(rows)} rows")
    folder = Path(tempfile.mkdtemp(prefix="bertpipe_e2e_data_")) / "sst2"
    folder.mkdir()
    (folder / "train.tsv").write_text(header + "".join(rows[:train_rows]), encoding="utf-8")
    (folder / "dev.tsv").write_text(header + "".join(rows[-eval_rows:]), encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs (each in a fresh folder)")
    parser.add_argument("--extra", default="", help="extra bertpipe flags, e.g. '--train-steps 10'")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--variants", default="", help="';'-separated flag sets to compare")
    parser.add_argument("--output-name", default="", help="results/end_to_end_<name>.json")
    parser.add_argument("--code", default="", help="'name=PATH;...' source trees to compare")
    parser.add_argument("--sst2", default="", help="TRAIN:EVAL rows of SST-2 instead of the sample")
    args = parser.parse_args(argv)

    flag_sets = [v.strip() for v in args.variants.split(";")] if args.variants else [""]
    trees = [item.split("=", 1) for item in args.code.split(";") if item.strip()]
    trees = [(name.strip(), Path(path.strip())) for name, path in trees] or [("", None)]
    variants = [(tree, flags) for tree in trees for flags in flag_sets]
    extra = shlex.split(args.extra)
    if args.sst2:
        extra += ["--data", str(sst2_folder(*map(int, args.sst2.split(":"))))]
    runs = []
    for i, ((tree, code), flags) in ((i, v) for i in range(args.repeat) for v in variants):
        variant = f"{tree}: {flags}" if tree else flags
        folder = tempfile.mkdtemp(prefix="bertpipe_e2e_")
        result = run_bertpipe(
            ["--output", folder, *extra, *shlex.split(flags)],
            log_path=Path(folder) / "bertpipe.log" if args.keep else None,
            code=code,
        )
        output = result.pop("output")
        result["variant"] = variant
        result["evaluator_accuracy"] = next(
            (
                float(line.split(":", 1)[1])
                for line in output
                if line.startswith("sparse_categorical_accuracy:")
            ),
            None,
        )
        result["mlmd_component_s"] = mlmd_component_times(Path(folder) / "metadata.sqlite")
        histories = sorted(Path(folder).glob("**/Trainer/model_run/*/history.json"))
        if histories:
            history = json.loads(histories[-1].read_text(encoding="utf-8"))
            result["trainer_fit_s"] = history.get("train_seconds")
            result["trim_padding"] = history.get("trim_padding")
            result["precision"] = history.get("precision")
            result["eval_accuracy_trainer"] = history.get("eval", {}).get("accuracy")
            result["eval_examples_trainer"] = history.get("eval", {}).get("examples")
            print(
                f"  Trainer fit {result['trainer_fit_s']} s, trim_padding {result['trim_padding']}"
            )
        print(f"  MLMD execution times (s): {result['mlmd_component_s']}")
        print(
            f"run {i + 1}: wall {result['wall_s']} s, peak RSS (bertpipe) "
            f"{result['peak_rss_children_mib']} MiB, child CPU {result['child_cpu_s']} s"
        )
        total = sum(c["seconds"] for c in result["components"].values())
        for name, c in result["components"].items():
            print(
                f"  {name:<22} {c['seconds']:7.1f} s  {100 * c['seconds'] / result['wall_s']:5.1f}%"
            )
        print(
            f"  {'(sum of components)':<22} {total:7.1f} s; rest (start-up, report) "
            f"{result['wall_s'] - total:.1f} s"
        )
        result["startup_and_report_s"] = round(result["wall_s"] - total, 1)
        result["folder"] = folder if args.keep else None
        if not args.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        runs.append(result)
    summary = {
        "wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "peak_rss_children_mib_max": max(r["peak_rss_children_mib"] for r in runs),
        "driver_rss": peak_rss_mib(),
    }
    if len(variants) > 1:
        summary["by_variant"] = {
            variant: {
                "wall_s_median": statistics.median(r["wall_s"] for r in these),
                "trainer_mlmd_s_median": statistics.median(
                    r["mlmd_component_s"].get("Trainer", float("nan")) for r in these
                ),
                "trainer_fit_s_median": statistics.median(
                    r.get("trainer_fit_s") or float("nan") for r in these
                ),
                "evaluator_mlmd_s_median": statistics.median(
                    r["mlmd_component_s"].get("Evaluator", float("nan")) for r in these
                ),
            }
            for variant in dict.fromkeys(r["variant"] for r in runs)
            for these in [[r for r in runs if r["variant"] == variant]]
        }
    print(summary)
    name = f"end_to_end_{args.output_name}" if args.output_name else "end_to_end"
    write_results(name, {"runs": runs, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
