"""Wall time, CPU time, peak memory and per-component times of `bertpipe run` on the bundled sample.

    .venv/bin/python -m benchmarks.end_to_end        # the main job's goal: 3 runs, median wall
        [--rounds 3] [--extra "--train-steps 10"] [--keep]
        [--variants "--trim-padding off;--trim-padding on" --output-name trim_padding]
        [--code "before=PATH;after=."]

By default it runs the main job (`bertpipe run`, the bundled sample, the default settings) three
times, each in a fresh folder (no MLMD cache), and prints the median wall time with its spread
and the verdict of the machine's conditions (benchmarks/method.py: a `Watch` around each run;
"loaded: not a result" unless every run was idle), then where the time went: per component, the
median wall and CPU seconds of the `bertpipe` process tree (its CPU time read from /proc at each
progress line), the gaps between components and the process's start-up before the first one.

With --variants (flag sets separated by ';') or --code "before=PATH;after=." (PYTHONPATH=PATH:
that source tree's `pipeline` and `components`, e.g. a `git archive` export of the commit before
a change), the variants take turns (method.take_turns: at least 3 rounds, the order rotating)
and each ratio to the first variant is printed with the verdict.

With --sst2 TRAIN:EVAL the data is SST-2 instead of the bundled sample: a temporary folder named
`sst2` (so schemas/sst2 applies) with `train.tsv` = the first TRAIN training rows and `dev.tsv` =
the last EVAL training rows (disjoint from them).

Peak memory: ru_maxrss of RUSAGE_CHILDREN (the `bertpipe` process and anything it waited for).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks import method
from benchmarks._common import (
    SST2,
    mlmd_component_times,
    run_bertpipe,
    scratch_folder,
    write_results,
)

STARTUP = "(start-up)"  # process start and imports, up to the first component
GAPS = "(between components)"
TAIL = "(after the last component)"  # the summary, the report's path, the process's exit


def sst2_folder(train_rows: int, eval_rows: int) -> Path:
    """A temporary `sst2` data folder: the first `train_rows` SST-2 training rows as train.tsv,
    the last `eval_rows` as dev.tsv (disjoint as long as together they fit the 67,349 rows)."""
    lines = (SST2 / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    if train_rows + eval_rows > len(rows):
        raise ValueError(f"--sst2 {train_rows}:{eval_rows} asks for more than {len(rows)} rows")
    folder = Path(scratch_folder("bertpipe_e2e_data_")) / "sst2"
    folder.mkdir()
    (folder / "train.tsv").write_text(header + "".join(rows[:train_rows]), encoding="utf-8")
    (folder / "dev.tsv").write_text(header + "".join(rows[-eval_rows:]), encoding="utf-8")
    return folder


def breakdown(marks: list[list], wall_s: float, cpu_s: float) -> dict[str, dict[str, float]]:
    """{part: {"wall_s", "cpu_s"}} from the progress marks [name, event, wall, cpu]: each
    component, the start-up before the first, the gaps between them (while none runs), the tail
    after the last. Components that run at once (the local runner's) overlap: the process tree's
    CPU in the overlap counts for each of them."""
    parts: dict[str, dict[str, float]] = {}
    last_wall, last_cpu, opened = 0.0, 0.0, {}

    def add(name: str, wall: float, cpu: float) -> None:
        part = parts.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
        part["wall_s"] = round(part["wall_s"] + wall, 2)
        part["cpu_s"] = round(part["cpu_s"] + cpu, 2)

    for name, event, wall, cpu in marks:
        if event == "start":
            if not opened:
                add(STARTUP if not parts else GAPS, wall - last_wall, cpu - last_cpu)
            opened[name] = (wall, cpu)
        elif name in opened:
            began_wall, began_cpu = opened.pop(name)
            add(name, wall - began_wall, cpu - began_cpu)
        last_wall, last_cpu = wall, cpu
    add(TAIL, wall_s - last_wall, cpu_s - last_cpu)
    return parts


def run_once(flags: list[str], code: Path | None, keep: bool) -> dict:
    """One `bertpipe run` in a fresh folder, watched; its figures and breakdown."""
    folder = tempfile.mkdtemp(prefix="bertpipe_e2e_")
    with method.Watch(settle_s=45) as watch:
        result = run_bertpipe(
            ["--output", folder, *flags],
            log_path=Path(folder) / "bertpipe.log" if keep else None,
            code=code,
            cpu_of=method.tree_cpu_s,
        )
    result.pop("output")
    result["conditions"] = watch.conditions.to_dict()
    result["parts"] = breakdown(result["marks"], result["wall_s"], result["child_cpu_s"])
    result["mlmd_component_s"] = mlmd_component_times(Path(folder) / "metadata.sqlite")
    histories = sorted(Path(folder).glob("**/Trainer/model_run/*/history.json"))
    if histories:
        history = json.loads(histories[-1].read_text(encoding="utf-8"))
        result["trainer_fit_s"] = history.get("train_seconds")
        result["eval_accuracy_trainer"] = history.get("eval", {}).get("accuracy")
    print(
        f"  wall {result['wall_s']} s, CPU {result['child_cpu_s']} s, peak RSS "
        f"{result['peak_rss_children_mib']} MiB; {watch.conditions.describe()}"
    )
    result["folder"] = folder if keep else None
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def print_breakdown(name: str, runs: list[dict]) -> dict:
    """Median wall and CPU seconds per part over `runs`; printed and returned."""
    names = list(dict.fromkeys(part for run in runs for part in run["parts"]))
    table = {}
    print(f"{name or 'default'}: median over {len(runs)} runs (wall s, CPU s of the process tree)")
    for part in names:
        walls = [run["parts"][part]["wall_s"] for run in runs if part in run["parts"]]
        cpus = [run["parts"][part]["cpu_s"] for run in runs if part in run["parts"]]
        table[part] = {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}
        print(f"  {part:<26} {table[part]['wall_s']:7.1f} {table[part]['cpu_s']:7.1f}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=method.MIN_ROUNDS, help="runs per variant")
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
    extra = shlex.split(args.extra)
    if args.sst2:
        extra += ["--data", str(sst2_folder(*map(int, args.sst2.split(":"))))]
    runs: dict[str, list[dict]] = {}

    def variant(name: str, code: Path | None, flags: str):
        def call() -> dict[str, float]:
            print(f"--- {name or 'default'}")
            result = run_once([*extra, *shlex.split(flags)], code, args.keep)
            runs.setdefault(name, []).append(result)
            return {"wall_s": result["wall_s"], "cpu_s": result["child_cpu_s"]}

        return call

    variants = {
        (f"{tree}: {flags}" if tree and flags else tree or flags): variant(
            f"{tree}: {flags}" if tree and flags else tree or flags, code, flags
        )
        for tree, code in trees
        for flags in flag_sets
    }
    figures = method.take_turns(variants, rounds=args.rounds)
    every = [run for these in runs.values() for run in these]
    idle = all(run["conditions"]["idle"] for run in every)
    verdicts = sorted({run["conditions"]["verdict"] for run in every})
    verdict = "idle" if idle else "; ".join(v for v in verdicts if v != "idle")

    summary: dict = {"verdict": verdict, "by_variant": {}}
    print()
    for name, these in runs.items():
        table = print_breakdown(name, these)
        summary["by_variant"][name or "default"] = {
            "wall_s": figures[name]["wall_s"].to_dict(),
            "cpu_s": figures[name]["cpu_s"].to_dict(),
            "parts": table,
            "peak_rss_children_mib_max": max(r["peak_rss_children_mib"] for r in these),
        }
    print()
    first = next(iter(figures))
    for name, by_key in figures.items():
        print(
            f"{name or 'main job'}: wall {by_key['wall_s'].text('s')}, "
            f"CPU {by_key['cpu_s'].text('s')} [{verdict}]"
        )
        if name != first:
            for key in ("wall_s", "cpu_s"):
                ratio = figures[first][key].median / by_key[key].median
                print(f"  {first} / {name}, {key}: {ratio:.2f}x [{verdict}]")
    name = f"end_to_end_{args.output_name}" if args.output_name else "end_to_end"
    write_results(name, {"runs": every, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
