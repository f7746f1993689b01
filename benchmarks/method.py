"""How every speed claim is measured: the machine's conditions, turns, rounds, median and spread.

A speed figure is only a result when it was taken on an idle machine. `Watch` records the
conditions of a measurement:

- before: the load averages and the CPU's SIMD flags (benchmarks._common.machine), read once
  the 1-minute load average has fallen to the limit, or after `settle_s` (a benchmark that runs
  a 2-core job back to back would otherwise start each run in the load of the one before);
- during: the CPU time that processes *other than this benchmark's process tree* (this process
  and every descendant, the peer's worker among them) used, in cores, from /proc/stat and
  /proc/<pid>/stat: the direct measure of a shared machine;
- after: the load averages and the flags again, once this benchmark's own threads have stopped
  (the 1-minute load average includes them: it is read when it has fallen to the limit, or after
  `settle_s`, whichever comes first).

`Conditions.idle` holds when the 1-minute load average was at most IDLE_LOAD_PER_CORE x cores
(1.5 on 2 cores) before and after, and the other processes used at most FOREIGN_CORES_LIMIT
cores during the run. A benchmark prints `conditions.verdict` beside every ratio: "idle", or
"loaded: not a result (...)" with the reason; figures measured loaded are not written into
BENCHMARKS.md.

`take_turns(variants, rounds)` runs each variant in turn, with the others idle: before each turn
it waits PAUSE_S, so that the threads of the side that ran last (PyTorch's OpenMP workers spin
for a while after each parallel region; TensorFlow's Eigen pool spins too) have gone to sleep,
and it rotates the order every round so that no variant always follows the same one. Each call of
a variant returns one figure for the round (a p50 in ms, examples/s, ...); `Figure` keeps the
rounds and gives the median and the spread ((max - min) / median).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import machine

MIN_ROUNDS = 3
IDLE_LOAD_PER_CORE = 0.75  # 1.5 on 2 cores
FOREIGN_CORES_LIMIT = 0.2  # other processes' CPU during a run, in cores
PAUSE_S = 1.0
SETTLE_S = 60.0


def idle_load_limit(cores: int | None = None) -> float:
    return IDLE_LOAD_PER_CORE * (cores or os.cpu_count() or 1)


def _busy_ticks() -> int:
    """CPU ticks of the whole machine that were not idle (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks[:8]) - idle  # user..steal; guest time is already inside user


def _tree_ticks(root: int) -> int:
    """CPU ticks (user + system, and those of waited-for children) of `root` and every live
    descendant, from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        rest = text.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid ...
        pid = int(entry.name)
        children.setdefault(int(rest[1]), []).append(pid)
        # utime stime cutime cstime are fields 14-17 of stat, i.e. rest[11:15]
        ticks[pid] = sum(int(x) for x in rest[11:15])
    total, frontier = 0, [root]
    while frontier:
        pid = frontier.pop()
        total += ticks.get(pid, 0)
        frontier.extend(children.get(pid, ()))
    return total


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process `pid` alone so far."""
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` and its descendants so far."""
    return _tree_ticks(pid) / os.sysconf("SC_CLK_TCK")


@dataclass
class Conditions:
    """The machine while a benchmark ran (see the module docstring)."""

    cores: int
    load_before: list[float]
    load_after: list[float] = field(default_factory=list)
    foreign_cores: float = 0.0
    seconds: float = 0.0
    flags_before: dict = field(default_factory=dict)
    flags_after: dict = field(default_factory=dict)
    cpu_model: str = ""

    @property
    def limit(self) -> float:
        return idle_load_limit(self.cores)

    @property
    def reasons(self) -> list[str]:
        found = []
        if self.load_before[0] > self.limit:
            found.append(f"load average {self.load_before[0]:.2f} before, above {self.limit:.2f}")
        if self.load_after and self.load_after[0] > self.limit:
            found.append(f"load average {self.load_after[0]:.2f} after, above {self.limit:.2f}")
        if self.foreign_cores > FOREIGN_CORES_LIMIT:
            found.append(
                f"other processes used {self.foreign_cores:.2f} cores during the run"
                f" (limit {FOREIGN_CORES_LIMIT})"
            )
        if self.flags_after and self.flags_after != self.flags_before:
            found.append("the CPU flags changed during the run")
        return found

    @property
    def idle(self) -> bool:
        return not self.reasons

    @property
    def verdict(self) -> str:
        return "idle" if self.idle else f"loaded: not a result ({'; '.join(self.reasons)})"

    def describe(self) -> str:
        flags = ", ".join(name for name, present in self.flags_before.items() if present)
        after = "/".join(f"{x:.2f}" for x in self.load_after) or "?"
        return (
            f"{self.cpu_model}, {self.cores} cores ({flags}); load average (1/5/15 min) before"
            f" {'/'.join(f'{x:.2f}' for x in self.load_before)}, after {after}; other processes"
            f" {self.foreign_cores:.2f} cores over {self.seconds:.0f} s: {self.verdict}"
        )

    def to_dict(self) -> dict:
        return {
            "cpu_model": self.cpu_model,
            "cores": self.cores,
            "simd_flags": self.flags_before,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "foreign_cores": round(self.foreign_cores, 3),
            "seconds": round(self.seconds, 1),
            "idle": self.idle,
            "verdict": self.verdict,
        }


class Watch:
    """Records the Conditions of what runs between `start()` and `stop()` (or a `with` block)."""

    def __init__(self, settle_s: float = SETTLE_S):
        self.settle_s = settle_s
        self.conditions: Conditions | None = None

    def start(self) -> Watch:
        self._settle(idle_load_limit())
        info = machine()
        self.conditions = Conditions(
            cores=info["cores"],
            load_before=info["load_average"],
            flags_before=info.get("simd_flags", {}),
            cpu_model=info.get("cpu_model", "?"),
        )
        self._hz = os.sysconf("SC_CLK_TCK")
        self._busy, self._own = _busy_ticks(), _tree_ticks(os.getpid())
        self._started = time.monotonic()
        return self

    def stop(self) -> Conditions:
        assert self.conditions is not None, "Watch.stop() before start()"
        seconds = time.monotonic() - self._started
        busy = _busy_ticks() - self._busy
        own = _tree_ticks(os.getpid()) - self._own
        conditions = self.conditions
        conditions.seconds = seconds
        conditions.foreign_cores = max(0.0, (busy - own) / self._hz / max(seconds, 1e-9))
        self._settle(conditions.limit)
        info = machine()
        conditions.load_after = info["load_average"]
        conditions.flags_after = info.get("simd_flags", {})
        return conditions

    def _settle(self, limit: float) -> None:
        """Waits until the 1-minute load average is at most `limit`, or settle_s have passed."""
        deadline = time.monotonic() + self.settle_s
        while os.getloadavg()[0] > limit and time.monotonic() < deadline:
            time.sleep(2)

    def __enter__(self) -> Watch:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Figure:
    """One variant's figure over the rounds: each round's value, their median and spread."""

    rounds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds."""
        return (max(self.rounds) - min(self.rounds)) / self.median if self.median else 0.0

    def text(self, unit: str, digits: int = 1) -> str:
        values = ", ".join(f"{x:.{digits}f}" for x in self.rounds)
        return f"{self.median:.{digits}f} {unit} (rounds {values}; spread {100 * self.spread:.0f}%)"

    def to_dict(self) -> dict:
        return {
            "median": round(self.median, 4),
            "spread": round(self.spread, 4),
            "rounds": [round(x, 4) for x in self.rounds],
        }


def take_turns(
    variants: dict[str, Callable[[], dict[str, float]]],
    rounds: int = MIN_ROUNDS,
    pause_s: float = PAUSE_S,
    progress: Callable[[str], None] = print,
) -> dict[str, dict[str, Figure]]:
    """Runs each variant once per round, in turn, the others idle; returns, per variant and per
    figure name (what a variant's call returns: {"batch_1_p50_ms": ..., ...}), the Figure."""
    if rounds < MIN_ROUNDS:
        raise ValueError(f"--rounds must be at least {MIN_ROUNDS}, got {rounds}")
    names = list(variants)
    collected: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            time.sleep(pause_s)
            for key, value in variants[name]().items():
                collected[name].setdefault(key, []).append(value)
        progress(f"round {r + 1} of {rounds} done ({', '.join(order)})")
    return {
        name: {key: Figure(values) for key, values in by_key.items()}
        for name, by_key in collected.items()
    }


def ratio_text(name: str, value: float, conditions: Conditions) -> str:
    """`name: 1.23x` on an idle machine, or `name: 1.23x (loaded: not a result ...)`."""
    if conditions.idle:
        return f"{name}: {value:.2f}x"
    return f"{name}: {value:.2f}x ({conditions.verdict})"
