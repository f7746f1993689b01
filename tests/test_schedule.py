"""A production retraining schedule played locally: spans appear one after another under
`root/span-{SPAN}/`, and `bertpipe run --data 'root/span-{SPAN}'` runs after each (the tiny BERT,
2 training steps). Span 1 trains from the checkpoint and is pushed (on BeamDagRunner); span 2,
the same distribution, warm-starts from it, is judged against it and pushed; span 3, 95% of its
labels negative, stops before the Trainer and production stays at span 2's model. MLMD says
which span each pushed version was trained on and which baseline each run used."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store
from tfx import v1 as tfx

from components.core.artifacts import read_drift_result
from components.core.serving import production_versions, training_statistics
from pipeline.cli import main as bertpipe
from pipeline.local_runner import RunPaths
from pipeline.run_artifacts import PIPELINE_RUN_CONTEXT, run_artifacts

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@dataclass(frozen=True)
class Run:
    span: int
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Schedule:
    runs: list[Run]
    output: Path
    push_dir: Path


@pytest.fixture(scope="module")
def schedule(schedule_spans, tiny_checkpoint, tmp_path_factory) -> Schedule:
    """The three runs, each after its span appeared; the run folder (and MLMD store) is shared."""
    folder = tmp_path_factory.mktemp("schedule")
    root, output = folder / "data", folder / "run"
    runs = []
    for span in (1, 2, 3):
        shutil.copytree(schedule_spans / f"span-{span}", root / f"span-{span}")
        out, err = io.StringIO(), io.StringIO()
        argv = [
            "run",
            "--data", f"{root}/span-{{SPAN}}",
            "--output", str(output),
            "--checkpoint", str(tiny_checkpoint),
            "--max-seq-length", "32",
            "--train-steps", "2",
            "--batch-size", "8",
            "--checkpoint-every", "2",
            # A tiny model learns nothing in 2 steps: these bounds bless it (the blessing rule
            # has tests of its own); the model in production is still evaluated beside it.
            "--min-accuracy", "0",
            "--majority-margin", "-1",
            "--max-accuracy-drop", "1",
            # Span 1 on BeamDagRunner, the others on LocalDagRunner, with one MLMD store.
            "--runner", "beam" if span == 1 else "local",
        ]  # fmt: skip
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = bertpipe(argv)
        runs.append(Run(span, code, out.getvalue(), err.getvalue()))
    return Schedule(runs, output, output / "serving")


def test_span_1_trains_from_the_checkpoint_and_is_pushed(schedule, answer_in_fresh_process):
    run = schedule.runs[0]
    assert run.code == 0, run.err
    assert "drift: nothing to compare span 1 with: no model in production" in run.out
    assert "No model in production: training from the pretrained checkpoint" in run.out
    (first, *_) = production_versions(str(schedule.push_dir))
    pushed = schedule.push_dir / str(first)
    assert f"BLESSED and pushed to {pushed}" in run.out
    assert RunPaths(schedule.output).metadata_path.is_file()
    labels = answer_in_fresh_process(str(pushed), ["great value"])
    assert labels[0] in {"negative", "positive"}


def test_span_2_warm_starts_from_span_1s_model_and_is_judged_against_it(schedule):
    run = schedule.runs[1]
    assert run.code == 0, run.err
    first, second = production_versions(str(schedule.push_dir))
    assert "training warm-started from the model in production" in run.out
    assert f"model in production (version {first}): accuracy" in run.out
    assert (
        f"drift: span 2 against the training data of the model in production (version {first},"
        " span 1): no drift (8 checks)"
    ) in run.out
    assert f"BLESSED and pushed to {schedule.push_dir / str(second)}" in run.out


def test_span_3_drifted_stops_before_the_trainer_and_production_stays(schedule):
    run = schedule.runs[2]
    first, second = production_versions(str(schedule.push_dir))  # nothing new
    assert run.code == 2
    (line,) = run.err.strip().splitlines()
    assert line.startswith(
        f"bertpipe run: span 3 drifted from the training data of the model in production (version"
        f" {second}, span 2): label distribution (train split): L-infinity distance 0.4583, above"
        " the threshold 0.2 (--max-label-distance) (and 1 more); stopping before the Trainer,"
        " nothing trained or pushed"
    )
    assert "DriftGate started" in run.out and "Trainer started" not in run.out
    comparison = Path(line.rsplit("The comparison: ", 1)[1])
    text = comparison.read_text()
    assert "| label distribution | this span | baseline |" in text
    assert "| negative | 95.8% | 50.0% |" in text and "| positive | 4.2% | 50.0% |" in text
    assert "**DRIFTED** label distribution (eval split): L-infinity distance 0.4583" in text


def mlmd_runs(metadata_path: Path) -> list[str]:
    """The pipeline run ids in the store, oldest first."""
    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(str(metadata_path))
    store = metadata_store.MetadataStore(config)
    contexts = store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
    return [c.name for c in sorted(contexts, key=lambda c: c.create_time_since_epoch)]


def test_mlmd_says_which_span_each_version_was_trained_on_and_which_baseline_each_run_used(
    schedule,
):
    first, second = production_versions(str(schedule.push_dir))
    metadata = RunPaths(schedule.output).metadata_path
    trained, baselines, compared = {}, [], []
    for run_id in mlmd_runs(metadata):
        artifacts = run_artifacts(str(metadata), run_id)
        span = artifacts[("TextExampleGen", "examples")].get("span")
        baseline = artifacts[("ProductionBaseline", "baseline")]
        baselines.append(baseline.get("production_version") if baseline.get("has_model") else None)
        drift = read_drift_result(artifacts[("DriftCheck", "drift")].uri)
        compared.append((drift.baseline.version, drift.baseline.span) if drift.compared else None)
        pushed = artifacts.get(("Pusher", "pushed_model"))
        if pushed is not None and pushed.get("pushed"):
            trained[int(pushed.get("pushed_version"))] = span
        if span == 3:  # stopped at the gate: no model trained, evaluated or pushed
            assert not {node for node, _ in artifacts} & {"Trainer", "Evaluator", "Pusher"}
    assert trained == {first: 1, second: 2}
    assert baselines == [None, first, second]
    assert compared == [None, (first, 1), (second, 2)]
    # The lineage carried in each version folder says the same.
    for version, span in trained.items():
        carried = training_statistics(str(schedule.push_dir / str(version)))
        assert carried.span == span
        lineage = json.loads(Path(carried.folder, "lineage.json").read_text())
        assert lineage["span"] == span
