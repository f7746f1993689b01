"""The run history without a run: entries from an evaluation's outcome, their table, the files the
Report steps keep in the push destination, `bertpipe history --push-dir`, and the report's
section. (`bertpipe history --output` on real runs: tests/test_e2e.py.)"""

from __future__ import annotations

import json

import pytest

from components.core import history
from components.core.evaluation import (
    ACCURACY,
    MAJORITY_MARGIN,
    MIN_ACCURACY,
    BoundFailure,
    Evaluation,
    Interval,
)
from components.core.history import HistoryEntry, outcome, read_entries, write_entry
from components.report import render
from components.report.facts import RunFacts
from components.report.sections import sections
from pipeline.cli import main as bertpipe


def refused() -> Evaluation:
    return Evaluation(
        metrics={"example_count": 10.0, ACCURACY: 0.7},
        intervals={ACCURACY: Interval(0.39677, 0.89221)},
        failures=[
            BoundFailure(bound=MIN_ACCURACY, message="..."),
            BoundFailure(bound=MIN_ACCURACY, message="...", slice="label=spam"),
            BoundFailure(bound=MAJORITY_MARGIN, message="..."),
        ],
    )


def entries() -> list[HistoryEntry]:
    return [
        outcome(
            time="2026-12-07T09:00:00Z",
            run_id="a",
            evaluation=Evaluation(metrics={"example_count": 120.0, ACCURACY: 0.8667}),
            blessed=True,
            span=1,
            pushed_version=1796205723,
        ),
        outcome(
            time="2026-12-07T11:00:00Z",
            run_id="c",
            evaluation=None,
            blessed=None,
            span=3,
            stopped_at="ValidationGate",
        ),  # fmt: skip
        outcome(
            time="2026-12-07T10:00:00Z", run_id="b", evaluation=refused(), blessed=False, span=2
        ),
    ]


def test_an_entry_names_the_bounds_that_refused_the_model_or_the_step_that_stopped_the_run():
    blessed, stopped, not_blessed = entries()
    assert not_blessed.verdict == history.NOT_BLESSED
    assert not_blessed.failed_bounds == (MIN_ACCURACY, MAJORITY_MARGIN)  # overall, once each
    assert (not_blessed.examples, not_blessed.accuracy) == (10, 0.7)
    assert stopped.verdict == history.STOPPED and stopped.accuracy is None
    assert history.verdict_text(stopped) == "stopped at ValidationGate"
    unfinished = outcome(time="t", run_id="d", evaluation=None, blessed=None)
    assert history.verdict_text(unfinished) == "unfinished"
    late = outcome(time="t", run_id="e", evaluation=None, blessed=True, stopped_at="Report")
    assert history.verdict_text(late) == "BLESSED; then stopped at Report"


def test_a_blessed_model_that_failed_the_serving_check_is_recorded_as_not_pushed():
    facts = RunFacts(evaluation=Evaluation(metrics={ACCURACY: 0.9}), blessed=True)
    facts.infra_blessed = False
    entry = facts.history_entry(time="t", run_id="f", report="/r")
    assert entry.verdict == history.BLESSED and entry.pushed_version is None
    assert entry.serving_check_passed is False
    assert history.verdict_text(entry) == "BLESSED; failed the serving check, not pushed"
    assert history.HistoryEntry.from_dict(json.loads(entry.to_json())) == entry
    facts.infra_blessed, facts.pushed_to = True, "/serving/17"
    passed = facts.history_entry(time="t", run_id="g", report="/r")
    assert history.verdict_text(passed) == "BLESSED" and passed.pushed_version == 17


def test_the_table_is_newest_first_with_the_interval_and_na_for_what_is_unknown():
    assert history.rows(entries()) == [
        ["2026-12-07 11:00:00", "3", "stopped at ValidationGate", "n/a", "n/a", "-", "n/a"],
        [
            "2026-12-07 10:00:00",
            "2",
            "NOT BLESSED: min_accuracy, majority_margin",
            "10",
            "0.7000 (0.3968-0.8922)",
            "-",
            "n/a",
        ],
        ["2026-12-07 09:00:00", "1", "BLESSED", "120", "0.8667", "version 1796205723", "n/a"],
    ]
    found = HistoryEntry(time="t", run_id="x", verdict=history.BLESSED, drift=("label shift",))
    assert history.rows([found])[0][-1] == "label shift"
    assert history.rows([HistoryEntry(time="t", run_id="y", verdict="", drift=())])[0][-1] == "none"


def test_entries_round_trip_through_their_files_and_a_bad_file_is_named(tmp_path):
    for entry in entries():
        write_entry(str(tmp_path), entry)
    (tmp_path / ".history" / "broken.json").write_text('{"time": "t"}')
    (tmp_path / ".history" / "notes.txt").write_text("not an entry, not read")
    found, problems = read_entries(str(tmp_path))
    assert sorted(found, key=lambda e: e.run_id) == sorted(entries(), key=lambda e: e.run_id)
    assert problems == [
        f"{tmp_path}/.history/broken.json: not a history entry ({tmp_path}/.history/broken.json:"
        " missing ['run_id', 'verdict'])"
    ]
    assert read_entries(str(tmp_path / "nothing pushed yet")) == ([], [])
    # Fields a later version adds are left out, not refused.
    values = json.loads(entries()[0].to_json()) | {"added_later": 1}
    assert HistoryEntry.from_dict(values) == entries()[0]


def test_history_prints_the_entries_of_a_push_destination(tmp_path, capsys):
    for entry in entries():
        write_entry(str(tmp_path), entry)
    assert bertpipe(["history", "--push-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"3 run(s) in the run history in {tmp_path}/.history, newest first:"
    assert out[1].split() == [
        "time", "(UTC)", "span", "verdict", "eval", "examples", "accuracy", "(95%", "interval)",
        "pushed", "drift",
    ]  # fmt: skip
    assert out[3].startswith("2026-12-07 11:00:00  3     stopped at ValidationGate")
    assert out[4].split("  ")[0] == "2026-12-07 10:00:00"
    assert "0.7000 (0.3968-0.8922)" in out[4] and "version 1796205723" in out[5]


def test_history_of_a_folder_without_runs_is_one_line(tmp_path, capsys):
    assert bertpipe(["history", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"bertpipe history: no run folder at {str(tmp_path)!r}: expected its MLMD store"
        " metadata.sqlite there (the --output of a `bertpipe run`)"
    )
    assert bertpipe(["history", "--push-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"no runs in the run history in {tmp_path}/.history\n"


def test_the_report_shows_the_history_with_this_run_marked():
    first, stopped, this = entries()
    facts = RunFacts(run=this, history=[first, this], history_notes=["x: not a history entry"])
    text = render.markdown(sections(facts, []))
    table = text.split("## Run history")[1]
    assert "- x: not a history entry" in table
    assert (
        "| 2026-12-07 10:00:00 (this run) | 2 | NOT BLESSED: min_accuracy, majority_margin |"
        in (table)
    )
    assert table.index("(this run)") < table.index("2026-12-07 09:00:00")
    assert "bertpipe history --output <run folder>" in table
    again = RunFacts.from_json(facts.to_json())
    assert again == facts
    assert "## Run history" not in render.markdown(sections(RunFacts(), []))


@pytest.mark.parametrize("bad", ["[]", '{"run_id": "a"}'])
def test_a_report_json_history_that_is_not_an_entry_is_named(bad):
    with pytest.raises(history.HistoryEntryError, match="report.json: run"):
        HistoryEntry.from_dict(json.loads(bad), where="report.json: run")
