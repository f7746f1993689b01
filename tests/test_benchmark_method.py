"""The benchmarks' measurement method (benchmarks/method.py): when a figure is a result, and how
variants take turns."""

from __future__ import annotations

import pytest

from benchmarks.method import Conditions, Figure, ratio_text, take_turns

FLAGS = {"avx2": True, "avx512_bf16": False}


def conditions(before=0.4, after=0.9, foreign=0.05, flags_after=FLAGS) -> Conditions:
    return Conditions(
        cores=2,
        load_before=[before, 0.5, 0.5],
        load_after=[after, 0.5, 0.5],
        foreign_cores=foreign,
        seconds=30,
        flags_before=FLAGS,
        flags_after=flags_after,
        cpu_model="test CPU",
    )


def test_an_idle_machine_gives_results_and_any_load_says_why_not():
    assert conditions().idle and conditions().verdict == "idle"
    assert ratio_text("ours / peer", 1.234, conditions()) == "ours / peer: 1.23x"
    loaded = conditions(before=1.6, foreign=0.5)
    assert loaded.verdict == (
        "loaded: not a result (load average 1.60 before, above 1.50; other processes used 0.50"
        " cores during the run (limit 0.2))"
    )
    assert ratio_text("ours / peer", 1.234, loaded).endswith("(" + loaded.verdict + ")")
    assert not conditions(after=1.51).idle
    assert not conditions(flags_after={"avx2": True}).idle  # another CPU after a migration
    assert conditions(before=1.5, after=1.5, foreign=0.2).idle  # the limits themselves pass


def test_variants_take_turns_in_a_rotating_order_for_at_least_three_rounds():
    calls = []

    def variant(name, values):
        def run():
            calls.append(name)
            return {"p50_ms": values[len([c for c in calls if c == name]) - 1]}

        return run

    figures = take_turns(
        {"ours": variant("ours", [10, 12, 11]), "peer": variant("peer", [8, 9, 30])},
        rounds=3,
        pause_s=0,
        progress=lambda line: None,
    )
    assert calls == ["ours", "peer", "peer", "ours", "ours", "peer"]
    ours, peer = figures["ours"]["p50_ms"], figures["peer"]["p50_ms"]
    assert (ours.median, peer.median) == (11, 9)
    assert ours.spread == pytest.approx(2 / 11) and peer.spread == pytest.approx(22 / 9)
    assert ours.text("ms") == "11.0 ms (rounds 10.0, 12.0, 11.0; spread 18%)"
    with pytest.raises(ValueError, match="at least 3"):
        take_turns({"ours": variant("ours", [1])}, rounds=2, pause_s=0)
    assert Figure([4.0]).spread == 0.0


def test_the_end_to_end_breakdown_counts_no_gap_while_a_component_runs():
    from benchmarks.end_to_end import GAPS, STARTUP, TAIL, breakdown

    marks = [  # [name, event, wall s, CPU s]: B starts while A runs, C after a gap
        ["A", "start", 5.0, 5.0],
        ["B", "start", 6.0, 6.0],
        ["A", "end", 9.0, 12.0],
        ["B", "end", 10.0, 13.0],
        ["C", "start", 11.0, 13.5],
        ["C", "end", 12.0, 14.0],
    ]
    parts = breakdown(marks, wall_s=13.0, cpu_s=14.5)
    assert parts[STARTUP] == {"wall_s": 5.0, "cpu_s": 5.0}
    assert parts[GAPS] == {"wall_s": 1.0, "cpu_s": 0.5}
    assert parts["A"] == {"wall_s": 4.0, "cpu_s": 7.0} and parts["B"] == {
        "wall_s": 4.0,
        "cpu_s": 7.0,
    }
    assert parts[TAIL] == {"wall_s": 1.0, "cpu_s": 0.5}
