"""Shared helpers: machine description, results JSON, subprocess runs of `bertpipe`."""

from __future__ import annotations

import atexit
import csv
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SHARED_DATA = REPO.parent / "shared" / "data"
SST2 = SHARED_DATA / "sst2"
# The `bertpipe` entry point of the Python running the benchmark (the project's venv).
BERTPIPE = Path(sys.executable).parent / "bertpipe"
PROGRESS = re.compile(r"\[(\d\d:\d\d:\d\d)\] (\S+) (started|finished in ([0-9.]+) s(.*))")


def machine() -> dict:
    """CPU model, cores, clock, SIMD flags, RAM (from /proc)."""
    info: dict = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        # Other processes' load while the benchmark ran (1, 5, 15 minutes): the cores are shared.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
        mhz = re.search(r"^cpu MHz\s*:\s*(.*)$", text, re.M)
        flags = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
        info["cpu_model"] = model.group(1) if model else "?"
        info["cpu_mhz"] = float(mhz.group(1)) if mhz else None
        have = set(flags.group(1).split()) if flags else set()
        wanted = (
            "avx2",
            "fma",
            "avx512f",
            "avx512_bf16",
            "avx512_fp16",
            "amx_bf16",
            "amx_tile",
            "amx_int8",
            "avx_vnni",
        )
        cpu_model = re.search(r"^model\s*:\s*(\d+)$", text, re.M)
        family = re.search(r"^cpu family\s*:\s*(\d+)$", text, re.M)
        info["cpu_family_model"] = [int(m.group(1)) if m else None for m in (family, cpu_model)]
        info["simd_flags"] = {name: name in have for name in wanted}
        meminfo = Path("/proc/meminfo").read_text()
        total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
        info["ram_gib"] = round(int(total.group(1)) / 2**20, 1) if total else None
    except OSError:
        pass
    return info


def tsv_sentences(path: Path) -> list[str]:
    """The sentences (first column) of an SST-2 TSV file, after its header."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        return [row[0] for row in reader]


def scratch_folder(prefix: str) -> str:
    """A new temporary folder, removed with everything in it when the process exits (a training
    benchmark leaves about 2 GB of checkpoints and datasets there)."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def write_results(name: str, results: dict) -> Path:
    """Writes `results` (plus the machine) to benchmarks/results/<name>.json and returns the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "argv": sys.argv,
        "machine": machine(),
        **results,
    }
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"results written to {path}")
    return path


def peak_rss_mib() -> dict:
    """Peak RSS (MiB) of this process and of its largest terminated child (ru_maxrss is in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"self_mib": round(own / 1024, 1), "children_max_mib": round(children / 1024, 1)}


def run_bertpipe(
    args: list[str],
    log_path: Path | None = None,
    code: Path | None = None,
    cpu_of: Callable[[int], float] | None = None,
) -> dict:
    """Runs `bertpipe run <args>` as a subprocess; wall time, peak child RSS, component times.

    With `code`, the `pipeline` and `components` packages of that source tree are used
    (PYTHONPATH=code), e.g. an export of an earlier commit for a before/after comparison.
    With `cpu_of` (CPU seconds of a process tree, given its pid), each progress line is stamped
    with the seconds since the start and the CPU seconds of the `bertpipe` process tree then
    (`marks`: [name, event, wall s, CPU s]), so each component's CPU time is known too.
    """
    command = [str(BERTPIPE), "run", *args]
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(Path(code).resolve())
    print(("" if code is None else f"PYTHONPATH={env['PYTHONPATH']} ") + "$ " + " ".join(command))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
    )
    lines: list[str] = []
    components: dict[str, dict] = {}
    assert process.stdout is not None
    marks: list[list] = []
    for line in process.stdout:
        lines.append(line)
        for match in PROGRESS.finditer(line):
            print(match.group(0), flush=True)
            if cpu_of is not None:
                event = "start" if match.group(4) is None else "end"
                wall_now = round(time.monotonic() - started, 2)
                marks.append([match.group(2), event, wall_now, round(cpu_of(process.pid), 2)])
            if match.group(4) is not None:
                components[match.group(2)] = {
                    "seconds": float(match.group(4)),
                    "cached": "cached" in match.group(5),
                }
    code = process.wait()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if log_path is not None:
        log_path.write_text("".join(lines), encoding="utf-8")
    if code != 0:
        print("".join(lines[-40:]), file=sys.stderr)
        raise RuntimeError(f"bertpipe run exited with {code}")
    return {
        "command": " ".join(command),
        "wall_s": round(wall, 1),
        # ru_maxrss of RUSAGE_CHILDREN is the largest peak RSS among waited-for descendants.
        "peak_rss_children_mib": round(after.ru_maxrss / 1024, 1),
        "child_cpu_s": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1
        ),
        "components": components,
        "marks": marks,
        "output": lines,
    }


def mlmd_component_times(metadata_path: Path) -> dict:
    """Seconds per component execution from the run's MLMD store (create -> last update).

    A fallback for the progress lines, which stop after the Transform (its Beam run changes the
    absl logging set-up, so the ComponentProgress handler sees no more events).
    """
    import sqlite3

    if not Path(metadata_path).exists():
        return {}
    with sqlite3.connect(str(metadata_path)) as db:
        rows = db.execute(
            "SELECT t.name, e.create_time_since_epoch, e.last_update_time_since_epoch "
            "FROM Execution e JOIN Type t ON e.type_id = t.id ORDER BY e.id"
        ).fetchall()
    times = {}
    for name, created, updated in rows:
        short = name.rsplit(".", 1)[-1]
        times[short] = round((updated - created) / 1000, 1)
    return times
