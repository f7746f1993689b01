"""Peak memory of the text ExampleGen and the Transform at 1x and 10x SST-2, before and after.

    .venv/bin/python -m benchmarks.memory --component transform --sizes 1,10 [--variant after]
        [--code PATH]
    .venv/bin/python -m benchmarks.memory --parse-speed 3 --sizes 10 --code PATH

Each (component, size) runs the real TFX component in a fresh child process, through TFX's
LocalDagRunner with Beam's DirectRunner (`--direct_num_workers=1`, the project's default):

- example_gen: `text_example_gen` over a folder holding `train.tsv` (SST-2's 67,349 training
  rows, repeated `size` times) and SST-2's `dev.tsv`;
- transform: the project's Transform (the real checkpoint's WordPiece vocabulary, L = 128, the
  curated sst2 schema) over the examples that ExampleGen writes for that size (made once by the
  current code and kept in the work folder, so before and after read the same input).

The 10x file is built in the work folder (`--work`, default /tmp/bertpipe-memory), never in the
repository. `--code PATH` runs the components of another checkout (e.g. an export of main:
`git archive main | tar -x -C /tmp/before`), whose result is recorded under `--variant`.

Memory: this process samples the resident set size of the child's whole process tree every 50 ms
(psutil; Beam worker processes included) and reads the child's own peak (`ru_maxrss` from
wait4). The child reports its RSS after the imports (TensorFlow, TFX, Beam), before the
component starts; `growth` is the peak above that. One size/variant per process, so runs can be
spread out on a busy machine; results accumulate in benchmarks/results/memory.json (an entry per
variant, component and size) with the ratios 10x/1x per variant and after/before per size.

`--parse-speed ROUNDS` times the parsing alone, in this process, interleaved: `parse_file` of the
`--code` checkout (the whole file read, then parsed) against this checkout's `read_rows` (parsed
while read a chunk at a time) on the same train.tsv, ROUNDS times each; it checks that both give
the same rows and records rows/s and their ratio under "parse_speed".
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import components  # noqa: F401  (sets TF_USE_LEGACY_KERAS etc. before TensorFlow is imported)
from benchmarks._common import REPO, RESULTS_DIR, SST2, write_results

RESULT_NAME = "memory"
COMPONENTS = ("example_gen", "transform")
SAMPLE_SECONDS = 0.05


# -- data -------------------------------------------------------------------------------------------
def sst2_folder(work: Path, size: int) -> Path:
    """A folder with train.tsv (SST-2's training rows `size` times) and dev.tsv; built once."""
    if size == 1:
        return SST2
    folder = work / f"sst2x{size}"
    train = folder / "train.tsv"
    if not train.exists():
        folder.mkdir(parents=True, exist_ok=True)
        header, *rows = (SST2 / "train.tsv").read_bytes().splitlines(keepends=True)
        partial = train.with_suffix(".partial")
        with open(partial, "wb") as handle:
            handle.write(header)
            for _ in range(size):
                handle.writelines(rows)
        partial.rename(train)
        shutil.copyfile(SST2 / "dev.tsv", folder / "dev.tsv")
    return folder


def data_rows(folder: Path) -> int:
    with open(folder / "train.tsv", "rb") as handle:
        return sum(1 for _ in handle) - 1


# -- child: runs one component ------------------------------------------------------------------
def _rss_mib() -> dict:
    """VmRSS and VmHWM (peak so far) of this process, MiB."""
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def run_child(component: str, data: str, out: str, examples: str) -> None:
    """Runs one component with LocalDagRunner; prints its RSS after imports as a JSON line."""
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from components.core import runtime_settings
    from components.core.config import Config
    from components.schema import schema_file
    from components.text_example_gen import text_example_gen
    from components.transform.component import PREPROCESSING_FN, Transform

    config = Config().replace(data={"data": data, "labels": ("0", "1")})
    if component == "example_gen":
        nodes = [text_example_gen(config)]
    else:
        imported = tfx.dsl.Importer(
            source_uri=examples,
            artifact_type=tfx.types.standard_artifacts.Examples,
            properties={"split_names": json.dumps(["train", "eval"])},
        ).with_id("import_examples")
        schema = tfx.components.ImportSchemaGen(schema_file=schema_file(config.data))
        transform = Transform(
            runtime=runtime_settings.config_values(config, data),
            examples=imported.outputs["result"],
            schema=schema.outputs["schema"],
            preprocessing_fn=PREPROCESSING_FN,
            custom_config={"config": config.to_json(Config.TRANSFORM_SECTIONS)},
        )
        nodes = [imported, schema, transform]
    print("BEFORE_COMPONENT " + json.dumps(_rss_mib()), flush=True)
    started = time.monotonic()
    tfx.orchestration.LocalDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name=f"memory-{component}",
            pipeline_root=out,
            components=nodes,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                os.path.join(out, "metadata.sqlite")
            ),
            enable_cache=False,
            beam_pipeline_args=["--direct_num_workers=1"],
        )
    )
    print(
        "AFTER_COMPONENT " + json.dumps({**_rss_mib(), "component_s": time.monotonic() - started}),
        flush=True,
    )


# -- parent: measures a child ---------------------------------------------------------------------
def _tree_rss(process) -> int:
    import psutil

    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker that ended meanwhile
            total += proc.memory_info().rss
    return total


def measure(component: str, size: int, code: Path, work: Path) -> dict:
    """Runs one component in a child process; its peak memory, wall time and row count."""
    import psutil

    data = sst2_folder(work, size)
    out = work / "runs" / f"{component}-x{size}-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    examples = ""
    if component == "transform":
        examples = str(examples_for(size, work))
    # The child runs this file as a script, so `--code` needs no copy of this benchmark.
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        component,
        "--child-data",
        str(data),
        "--child-out",
        str(out),
        "--child-examples",
        examples,
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(REPO)])}
    print("$", " ".join(command), f"(PYTHONPATH={env['PYTHONPATH']})", flush=True)
    started = time.monotonic()
    child = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    process = psutil.Process(child.pid)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            with contextlib.suppress(psutil.Error):  # the child ended meanwhile
                peak[0] = max(peak[0], _tree_rss(process))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines, before, after = [], None, None
    assert child.stdout is not None
    for line in child.stdout:
        lines.append(line)
        if line.startswith("BEFORE_COMPONENT "):
            before = json.loads(line.split(" ", 1)[1])
        elif line.startswith("AFTER_COMPONENT "):
            after = json.loads(line.split(" ", 1)[1])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    (out / "child.log").write_text("".join(lines), encoding="utf-8")
    if child.returncode != 0 or before is None or after is None:
        print("".join(lines[-60:]), file=sys.stderr)
        raise RuntimeError(f"{component} x{size} failed (exit {child.returncode}); log: {out}")
    result = {
        "component": component,
        "size": size,
        "rows": data_rows(data),
        "input_mib": round((data / "train.tsv").stat().st_size / 2**20, 1),
        "code": str(code),
        "wall_s": round(wall, 1),
        "component_s": round(after["component_s"], 1),
        "rss_after_imports_mib": round(before["VmRSS"], 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # the child process itself
        "peak_tree_rss_sampled_mib": round(peak[0] / 2**20, 1),  # child + any Beam workers
    }
    result["growth_mib"] = round(result["peak_rss_mib"] - result["rss_after_imports_mib"], 1)
    result["growth_per_row_bytes"] = round(result["growth_mib"] * 2**20 / result["rows"], 1)
    if component == "example_gen":
        result["output"] = str(out)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return result


def examples_for(size: int, work: Path) -> Path:
    """ExampleGen's output for this size (made once, by the code of this checkout)."""
    marker = work / f"examples-x{size}.path"
    if marker.exists() and Path(marker.read_text().strip()).is_dir():
        return Path(marker.read_text().strip())
    print(f"making the x{size} examples for the Transform with this checkout's ExampleGen")
    result = measure("example_gen", size, REPO, work)
    (uri,) = Path(result["output"], "TextExampleGen", "examples").iterdir()
    marker.write_text(str(uri))
    return uri


# -- parsing speed, interleaved -------------------------------------------------------------------
def _module_from(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def parse_speed(size: int, rounds: int, code: Path, work: Path) -> dict:
    """rows/s of `code`'s parse_file (whole file) and this checkout's read_rows, interleaved."""
    from components.core.config import DataConfig
    from components.text_example_gen import parsing

    whole = _module_from(code / "components" / "text_example_gen" / "parsing.py", "parsing_code")
    path = sst2_folder(work, size) / "train.tsv"
    config = DataConfig(data=str(path), labels=("0", "1"))
    times: dict[str, list[float]] = {"whole_file": [], "chunked": []}
    counts = {}
    for _ in range(rounds):
        started = time.perf_counter()
        rows = whole.parse_file(str(path), path.read_bytes(), config).rows
        times["whole_file"].append(time.perf_counter() - started)
        counts["whole_file"] = (len(rows), rows[0], rows[-1])
        del rows
        started = time.perf_counter()
        with open(path, "rb") as handle:
            rows = list(parsing.read_rows(str(path), handle, config))
        times["chunked"].append(time.perf_counter() - started)
        counts["chunked"] = (len(rows), rows[0], rows[-1])
        del rows
    if repr(counts["whole_file"]) != repr(counts["chunked"]):
        raise RuntimeError(f"the two parsers disagree: {counts}")
    count = counts["chunked"][0]
    result = {
        "size": size,
        "rows": count,
        "code": str(code),
        "seconds": {name: [round(t, 2) for t in values] for name, values in times.items()},
        "rows_per_s_best": {name: round(count / min(values)) for name, values in times.items()},
        "rows_per_s_median": {
            name: round(count / statistics.median(values)) for name, values in times.items()
        },
    }
    for kind in ("best", "median"):
        speeds = result[f"rows_per_s_{kind}"]
        result[f"chunked_over_whole_file_{kind}"] = round(
            speeds["chunked"] / speeds["whole_file"], 2
        )
    return result


# -- results ----------------------------------------------------------------------------------------
def summarize(entries: dict) -> dict:
    """10x/1x per variant and component; after/before per component and size."""
    summary: dict = {"growth_ratio_10x_over_1x": {}, "peak_after_over_before": {}}
    for key, entry in entries.items():
        variant, component, size = key.split("/")
        if size != "x10":
            continue
        base = entries.get(f"{variant}/{component}/x1")
        if base:
            summary["growth_ratio_10x_over_1x"][f"{variant}/{component}"] = {
                "peak_rss": round(entry["peak_rss_mib"] / base["peak_rss_mib"], 2),
                "growth_above_imports": round(
                    entry["growth_mib"] / max(base["growth_mib"], 1.0), 2
                ),
            }
    for key, entry in entries.items():
        variant, component, size = key.split("/")
        before = entries.get(f"before/{component}/{size}")
        if variant != "before" and before:
            summary["peak_after_over_before"][f"{variant}/{component}/{size}"] = {
                "peak_rss": round(entry["peak_rss_mib"] / before["peak_rss_mib"], 2),
                "growth_above_imports": round(
                    entry["growth_mib"] / max(before["growth_mib"], 1.0), 2
                ),
            }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--component", choices=COMPONENTS, default="transform")
    parser.add_argument("--sizes", default="1,10", help="comma-separated multiples of SST-2")
    parser.add_argument("--variant", default="after", help="the name recorded (before/after)")
    parser.add_argument("--code", default=str(REPO), help="the checkout whose components run")
    parser.add_argument("--work", default="/tmp/bertpipe-memory", help="data and run folders")
    parser.add_argument("--parse-speed", type=int, default=0, metavar="ROUNDS", help="see above")
    parser.add_argument("--child", choices=COMPONENTS, help=argparse.SUPPRESS)
    parser.add_argument("--child-data", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--child-examples", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, args.child_data, args.child_out, args.child_examples)
        return 0

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{RESULT_NAME}.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    entries = previous.get("entries", {})
    speeds = previous.get("parse_speed", {})
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.parse_speed:
        for size in sizes:
            speeds[f"x{size}"] = parse_speed(size, args.parse_speed, Path(args.code), work)
            print(json.dumps(speeds[f"x{size}"], indent=1), flush=True)
        sizes = []
    for size in sizes:
        result = measure(args.component, size, Path(args.code).resolve(), work)
        result.pop("output", None)
        result["when"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        entries[f"{args.variant}/{args.component}/x{size}"] = result
        print(json.dumps(result, indent=1), flush=True)
    summary = summarize(entries)
    print(json.dumps(summary, indent=1))
    results = {"entries": dict(sorted(entries.items())), "summary": summary, "parse_speed": speeds}
    write_results(RESULT_NAME, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
