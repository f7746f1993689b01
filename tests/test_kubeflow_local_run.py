"""The compiled package executed end to end through kfp 2.9's own local executor (kfp.local), with
the project's task handler (pipeline/kubeflow/local_run.py, `bertpipe run-package`): the committed
build/pipeline.yaml on the three spans of a retraining schedule (span 1: a first model pushed;
span 2, the same distribution: a warm-started run judged against it; span 3, drifted labels:
stopped before the Trainer), the same pipeline compiled with Beam options for a portable runner,
whose Beam steps run through a Beam job service on localhost with SDK workers in a separate
worker pool, as on Flink or Spark, the scoring package (build/inference.yaml) with the model
the first run pushed, and a sentence-pair model compiled with the pair settings."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
import yaml
from kfp.local import subprocess_task_handler

from components.core.artifacts import (
    REPORT_MARKDOWN_FILE,
    REPORT_SUMMARY_FILE,
    read_drift_result,
    read_rejected_summary,
    read_training_history,
)
from components.core.config import SCHEMAS_DIR
from components.core.features import LABEL_FEATURE, TEXT_FEATURE, TEXT_PAIR_FEATURE
from components.core.serving import (
    PairInputError,
    is_pair_model,
    predict,
    production_versions,
    signature_inputs,
    training_statistics,
)
from components.core.serving_assets import read_warmup_requests
from components.report.facts import RunFacts
from pipeline.cli import main as bertpipe
from pipeline.kubeflow import local_run
from pipeline.kubeflow.compile import compile_pipeline
from pipeline.kubeflow.local_run import DRIVER, EXECUTOR, run_package, summary, task_environment
from pipeline.kubeflow.local_spec import LocalRunError, local_paths
from pipeline.kubeflow.package import IMAGE_PROJECT_ROOT, read_documents
from pipeline.kubeflow.settings import CompileConfig

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILT_PACKAGE = REPO_ROOT / "build" / "pipeline.yaml"
SAMPLE = REPO_ROOT / "pipeline" / "sample_data"
WORKER_PROBE = Path(__file__).resolve().parent / "worker_probe"  # sitecustomize.py
TOKENIZER_OPS = ["CaseFoldUTF8", "WordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"]
ROWS_PER_LABEL = {"train": 24, "eval": 12}
BEAM_TASKS = ("TextExampleGen", "StatisticsGen", "Transform", "Evaluator")
TRAIN_STEPS = 2


# -- the runs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_data(schedule_spans) -> Path:
    """Span 1 of the schedule (a smaller copy of the bundled sample): the first run's data_root."""
    return schedule_spans / "span-1"


def parameters(data: Path, checkpoint: Path, push_dir: Path, min_accuracy: float) -> dict:
    return {
        "data_root": str(data),
        "checkpoint": str(checkpoint),
        "train_steps": TRAIN_STEPS,
        "min_accuracy": min_accuracy,
        # Off: a tiny model after a few steps cannot beat the majority class by a margin, and
        # these runs are about the package's mechanics (the gate has tests of its own).
        "majority_margin": -1.0,
        "push_dir": str(push_dir),
    }


@pytest.fixture(scope="module")
def push_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="module")
def first_run(small_data, tiny_checkpoint, push_dir, tmp_path_factory):
    """The committed package, nothing in production yet: any model is blessed (min_accuracy 0)."""
    params = parameters(small_data, tiny_checkpoint, push_dir, min_accuracy=0.0)
    return run_package(BUILT_PACKAGE, params, tmp_path_factory.mktemp("first_root"))


@pytest.fixture(scope="module")
def second_run(first_run, schedule_spans, tiny_checkpoint, push_dir, tmp_path_factory):
    """Span 2 (the same distribution, other rows), with the first run's model in production and
    min_accuracy 0.999."""
    params = parameters(schedule_spans / "span-2", tiny_checkpoint, push_dir, min_accuracy=0.999)
    return run_package(BUILT_PACKAGE, params, tmp_path_factory.mktemp("second_root"))


@dataclass(frozen=True)
class StoppedRun:
    error: str  # the LocalRunError
    progress: str  # the progress lines run_package printed
    root: Path  # its pipeline root


@pytest.fixture(scope="module")
def third_run(second_run, schedule_spans, tiny_checkpoint, push_dir, tmp_path_factory):
    """Span 3 (95% of its labels negative), the first run's model still in production: the
    package stops at DriftGate."""
    params = parameters(schedule_spans / "span-3", tiny_checkpoint, push_dir, min_accuracy=0.0)
    root, progress = tmp_path_factory.mktemp("third_root"), io.StringIO()
    with pytest.raises(LocalRunError) as stopped:
        run_package(BUILT_PACKAGE, params, root, stream=progress)
    return StoppedRun(str(stopped.value), progress.getvalue(), root)


def package_spec() -> dict:
    return read_documents(BUILT_PACKAGE)[0]


def container_of(spec: dict, task: str) -> dict:
    component = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    return spec["deploymentSpec"]["executors"][spec["components"][component]["executorLabel"]][
        "container"
    ]


def metadata(artifact: dict) -> dict:
    return {key.removeprefix("custom:"): value for key, value in artifact["metadata"].items()}


# -- part 1: the committed package, through kfp.local -------------------------------------------------
def test_every_task_runs_in_dag_order_from_the_package_commands(first_run):
    spec = package_spec()
    tasks = spec["root"]["dag"]["tasks"]
    executed = [step.task for step in first_run.steps if step.step == EXECUTOR]
    # with the drift steps, the serving check and the Report step
    assert sorted(executed) == sorted(tasks) and len(executed) == 14
    position = {task: i for i, task in enumerate(executed)}
    for name, task in tasks.items():
        for upstream in task.get("dependentTasks", []):
            assert position[upstream] < position[name], f"{name} ran before {upstream}"

    # Each step ran exactly the package's command and arguments, with {{$}} resolved by kfp.local
    # (and `python` being this interpreter, the image's python).
    for step in first_run.steps:
        container = container_of(spec, step.task)
        hook = container.get("lifecycle", {}).get("preCacheCheck", {})
        source = hook if step.step == DRIVER else container
        template = source["command"] + source["args"]
        executor_input = json.dumps(step.executor_input)
        expected = [executor_input if part == "{{$}}" else part for part in template]
        assert expected[0] == "python"
        assert list(step.command) == [sys.executable, *expected[1:]], step.task

    # ExampleGen's driver hook ran first, then its executor.
    drivers = [i for i, step in enumerate(first_run.steps) if step.step == DRIVER]
    assert [first_run.steps[i].task for i in drivers] == ["TextExampleGen"]
    after = first_run.steps[drivers[0] + 1]
    assert (after.task, after.step) == ("TextExampleGen", EXECUTOR)
    # kfp.local's own handler is back in place.
    assert subprocess_task_handler.SubprocessTaskHandler.__module__ == (
        "kfp.local.subprocess_task_handler"
    )


def test_the_driver_output_reaches_example_gen_and_artifacts_keep_their_types(first_run):
    driver, executor = (s for s in first_run.steps if s.task == "TextExampleGen")
    assert (
        driver.executor_input["outputs"]["artifacts"]["examples"]["artifacts"][0]["metadata"] == {}
    )
    given = driver.executor_input["inputs"]["parameterValues"]
    merged = executor.executor_input["inputs"]["parameterValues"]
    assert {k: v for k, v in merged.items() if k in given} == given
    assert {"span", "input_fingerprint"} <= set(merged) - set(given)
    fingerprint = merged["input_fingerprint"]
    assert fingerprint.startswith("split:train,num_files:1")
    output = executor.executor_input["outputs"]["artifacts"]["examples"]["artifacts"][0]
    assert output["metadata"]["input_fingerprint"] == fingerprint  # before the executor ran
    written = first_run.output("TextExampleGen", "examples")
    assert written["metadata"]["input_fingerprint"] == fingerprint

    # Upstream artifacts arrive with the TFX types their consumer declares (kfp.local alone would
    # pass `system.Artifact`).
    spec = package_spec()
    checked = 0
    for step in first_run.steps:
        component = spec["root"]["dag"]["tasks"][step.task]["componentRef"]["name"]
        declared = spec["components"][component].get("inputDefinitions", {}).get("artifacts", {})
        for name, artifacts in step.executor_input["inputs"].get("artifacts", {}).items():
            for artifact in artifacts["artifacts"]:
                assert artifact["type"] == declared[name]["artifactType"], (step.task, name)
                checked += 1
    assert checked >= 15
    statistics_input = first_run.executor("StatisticsGen").executor_input["inputs"]["artifacts"]
    assert (
        "title: tfx.Examples"
        in statistics_input["examples"]["artifacts"][0]["type"]["instanceSchema"]
    )
    # Task folders are named after the components (kfp.local assumes a `comp-` prefix).
    assert {p.name for p in first_run.folder.iterdir() if p.is_dir()} == set(
        spec["root"]["dag"]["tasks"]
    )


def test_run_time_parameters_take_effect_and_a_version_is_pushed(
    first_run, small_data, tiny_checkpoint, push_dir
):
    counts = read_rejected_summary(first_run.output("TextExampleGen", "examples")["uri"])
    for split, per_label in ROWS_PER_LABEL.items():  # data_root: the small copy, not the sample
        assert counts["splits"][split]["rows_read"] == 2 * per_label
    history = read_training_history(first_run.output("Trainer", "model_run")["uri"])
    assert [step.step for step in history.steps] == list(range(1, TRAIN_STEPS + 1))
    assert history.checkpoint == str(tiny_checkpoint)
    assert history.warm_start == ""  # nothing was in production
    assert metadata(first_run.output("Evaluator", "blessing"))["blessed"] == 1
    (version,) = production_versions(str(push_dir))
    pushed = metadata(first_run.output("Pusher", "pushed_model"))
    assert pushed["pushed"] == 1 and pushed["pushed_destination"] == str(push_dir / str(version))
    labels = [p.label for p in predict(pushed["pushed_destination"], ["a wonderful product"])]
    assert labels[0] in {"negative", "positive"}
    # The version pushed is the serving check's infra-blessed copy, with its warmup requests.
    assert metadata(first_run.output("ServingCheck", "blessing"))["blessed"] == 1
    assert read_warmup_requests(pushed["pushed_destination"])
    text = summary(first_run)
    assert "serving check: passed in a fresh process" in text
    assert f"BLESSED and pushed to {push_dir / str(version)}" in text
    assert "data train: 48 rows read, 48 accepted, 0 rejected" in text
    assert "drift: nothing to compare this span with: no model in production" in text
    # The version folder carries the drift statistics of its training data (its lineage).
    carried = training_statistics(pushed["pushed_destination"])
    assert carried.split_names == ["train", "eval"]
    assert Path(carried.folder, "Split-train", "FeatureStats.pb").is_file()


def test_a_second_run_warm_starts_from_production_and_is_judged_against_it(
    first_run, second_run, push_dir
):
    (version,) = production_versions(str(push_dir))  # the second run pushed nothing
    baseline = metadata(second_run.output("ProductionBaseline", "baseline"))
    assert baseline["has_model"] == 1 and int(baseline["production_version"]) == version
    history = read_training_history(second_run.output("Trainer", "model_run")["uri"])
    assert history.warm_start.startswith(second_run.output("ProductionBaseline", "baseline")["uri"])

    evaluation = second_run.output("Evaluator", "evaluation")["uri"]
    models = {
        kv.key.model_name
        for metrics in tfma.load_metrics(evaluation)
        for kv in metrics.metric_keys_and_values
    }
    assert "baseline" in models  # the model in production was evaluated beside the candidate
    assert metadata(second_run.output("Evaluator", "blessing"))["blessed"] == 0
    assert metadata(second_run.output("Pusher", "pushed_model"))["pushed"] == 0
    text = summary(second_run)
    assert "NOT BLESSED, nothing pushed" in text and "is below the bound 0.999" in text
    assert f"model in production (version {version})" in text
    assert "training warm-started from the model in production" in text
    # Span 2 was compared with the training data of the model in production: no drift.
    drift = read_drift_result(second_run.output("DriftCheck", "drift")["uri"])
    assert drift.baseline.version == version and not drift.drifted
    assert (
        drift.baseline.uri == second_run.output("ProductionBaseline", "baseline_statistics")["uri"]
    )
    assert f"(version {version}, no span number): no drift (8 checks)" in text


def test_a_drifted_span_stops_before_the_trainer_and_production_stays(
    first_run, second_run, third_run, push_dir
):
    (version,) = production_versions(str(push_dir))  # still the first run's model
    assert third_run.error.startswith("task DriftGate failed (executor exit code 1)")
    started = [line.split("] ", 1)[1] for line in third_run.progress.splitlines() if "] " in line]
    assert "DriftGate FAILED" in third_run.progress
    assert not [line for line in started if line.startswith(("Trainer", "Evaluator", "Pusher"))]
    # The gate's one line names the feature, the distance, the threshold and the comparison.
    log = Path(third_run.error.rsplit("its log: ", 1)[1]).read_text()
    (line,) = [line for line in log.splitlines() if "DriftError: " in line]
    line = line.split("DriftError: ", 1)[1]
    assert line.startswith(
        f"the data drifted from the training data of the model in production (version {version},"
        " no span number): label distribution (train split): L-infinity distance 0.4583, above"
        " the threshold 0.2 (drift.max_label_distance) (and 1 more); stopping before the Trainer"
    )
    comparison = Path(line.rsplit("The comparison: ", 1)[1])
    assert "| negative | 95.8% | 50.0% |" in comparison.read_text()
    drift = read_drift_result(str(comparison.parent))
    assert {(f.split, f.feature) for f in drift.drifted} == {("train", "label"), ("eval", "label")}

    # Each Report step kept its run's entry in the push destination, where the next run's report
    # reads them (the Report has no MLMD store on Kubeflow; its steps get no pipeline run id).
    report = Path(second_run.output("Report", "report")["uri"]) / "report.json"
    facts = RunFacts.from_json(report.read_text())
    assert [(e.verdict, e.failed_bounds, e.pushed_version) for e in facts.history] == [
        ("BLESSED", (), version),
        ("NOT BLESSED", ("min_accuracy",), None),
    ]
    assert facts.run == facts.history[1] and facts.run.run_id == ""
    assert bertpipe(["history", "--push-dir", str(push_dir)]) == 0


def test_a_failing_task_is_named_with_its_log(tmp_path, capsys):
    """A package whose first task fails: the committed one cut down to ImportSchemaGen, with a
    schema file that does not exist; its task starts in a fresh Python (--cold-start), as in its
    container (the other runs here fork their tasks from a warm one)."""
    spec = package_spec()
    task = spec["root"]["dag"]["tasks"]["ImportSchemaGen"]
    missing = tmp_path / "nowhere" / "schema.pbtxt"
    task["inputs"]["parameters"]["schema_file"]["runtimeValue"]["constant"] = str(missing)
    spec["root"]["dag"]["tasks"] = {"ImportSchemaGen": task}
    spec["components"] = {"ImportSchemaGen": spec["components"]["ImportSchemaGen"]}
    executors = spec["deploymentSpec"]["executors"]
    spec["deploymentSpec"]["executors"] = {
        "ImportSchemaGen_executor": executors["ImportSchemaGen_executor"]
    }
    package = tmp_path / "broken.yaml"
    package.write_text(yaml.safe_dump(spec))
    code = bertpipe(
        [
            "run-package", str(package),
            "--param", f"push_dir={tmp_path / 'serving'}",
            "--pipeline-root", str(tmp_path / "root"),
            "--cold-start",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "each task in a fresh Python" in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(
        "bertpipe run-package: task ImportSchemaGen failed (executor exit code 1)"
    )
    log = Path(line.rsplit("its log: ", 1)[1])
    assert log.name == "executor.log" and str(missing) in log.read_text()
    assert "ImportSchemaGen FAILED (exit 1)" in captured.out  # the progress line, then the log tail


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], r"missing pipeline parameter\(s\) \['push_dir'\]"),
        (["--param", "push_dir=/tmp/x", "--param", "train_steps=many"], "declared NUMBER_INTEGER"),
        (["--param", "push_dir=/tmp/x", "--param", "epochs=3"], "unknown pipeline parameter"),
    ],
)
def test_bad_parameters_are_refused_before_anything_runs(tmp_path, capsys, argv, message):
    root = tmp_path / "root"
    code = bertpipe(["run-package", str(BUILT_PACKAGE), "--pipeline-root", str(root), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("bertpipe run-package: ") and len(err.splitlines()) == 1
    assert re.search(message, err), err
    assert not root.exists()


def test_a_kfp_other_than_the_pinned_one_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(local_run.kfp, "__version__", "2.10.0")
    with pytest.raises(LocalRunError, match=r"kfp 2\.9\.0 .* found kfp 2\.10\.0"):
        run_package(BUILT_PACKAGE, {"push_dir": str(tmp_path)}, tmp_path / "root")
    assert subprocess_task_handler.SubprocessTaskHandler.__module__ == (
        "kfp.local.subprocess_task_handler"
    )


def test_image_paths_are_mapped_to_this_checkout_and_nothing_else():
    spec = {
        "a": f"{IMAGE_PROJECT_ROOT}/schemas/sample_data/schema.pbtxt",
        "b": json.dumps({"config": json.dumps({"data": f"{IMAGE_PROJECT_ROOT}/pipeline/x"})}),
        "c": f"gs://bucket{IMAGE_PROJECT_ROOT}/data",
        "d": f"{IMAGE_PROJECT_ROOT}x/y",
    }
    mapped = local_paths(spec, Path("/checkout"))
    assert mapped["a"] == "/checkout/schemas/sample_data/schema.pbtxt"
    assert json.loads(json.loads(mapped["b"])["config"]) == {"data": "/checkout/pipeline/x"}
    assert mapped["c"] == spec["c"] and mapped["d"] == spec["d"]


# -- part 2: the same pipeline with Beam options for a portable runner (Flink, Spark) ---------------
@dataclass(frozen=True)
class BeamCluster:
    job_endpoint: str
    worker_pool: str
    worker_pool_pid: int
    probe_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{process.args} exited with {process.returncode}: {log.read_text()[-3000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("localhost", port), 1):
            return
        time.sleep(0.5)
    pytest.fail(f"nothing listens on port {port} after {timeout} s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def beam_cluster(tmp_path_factory):
    """Beam's job service on localhost and an external SDK worker pool, each its own process, as a
    Flink or Spark job server with a worker pool beside it. The pool's processes load
    tests/worker_probe/sitecustomize.py, which records the tokenizer ops each one registers."""
    folder = tmp_path_factory.mktemp("beam_cluster")
    probe_dir = folder / "probe"
    probe_dir.mkdir()
    environ = task_environment()
    environ["PYTHONPATH"] = os.pathsep.join([str(WORKER_PROBE), environ["PYTHONPATH"]])
    environ["BERTPIPE_WORKER_PROBE_DIR"] = str(probe_dir)
    job_port, pool_port = _free_port(), _free_port()
    commands = {
        "job_service": [
            sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
            "--port", str(job_port),
        ],
        "worker_pool": [
            sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
            "--service_port", str(pool_port),
        ],
    }  # fmt: skip
    processes = {}
    try:
        for name, command in commands.items():
            with open(folder / f"{name}.log", "w") as log:
                processes[name] = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=environ,
                    start_new_session=True,  # its own process group: the pool's workers too
                )
        _wait_for(job_port, processes["job_service"], folder / "job_service.log")
        _wait_for(pool_port, processes["worker_pool"], folder / "worker_pool.log")
        yield BeamCluster(
            f"localhost:{job_port}",
            f"localhost:{pool_port}",
            processes["worker_pool"].pid,
            probe_dir,
        )
    finally:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


@pytest.fixture(scope="module")
def portable_args(beam_cluster) -> tuple[str, ...]:
    return (
        "--runner=PortableRunner",
        f"--job_endpoint={beam_cluster.job_endpoint}",
        "--environment_type=EXTERNAL",
        f"--environment_config={beam_cluster.worker_pool}",
    )


@pytest.fixture(scope="module")
def portable_run(portable_args, small_data, tiny_checkpoint, tmp_path_factory):
    """The pipeline compiled with the portable runner's Beam options, run like the first run."""
    folder = tmp_path_factory.mktemp("portable")
    package = compile_pipeline(
        CompileConfig().replace(run={"beam_args": portable_args}), folder / "pipeline.yaml"
    )
    params = parameters(small_data, tiny_checkpoint, folder / "serving", min_accuracy=0.0)
    return run_package(package, params, folder / "root")


def transformed_examples(run, split: str) -> list[str]:
    """The Transform's examples of a split, each as canonical JSON, sorted (shards and feature
    order differ between runners)."""
    uri = run.output("Transform", "transformed_examples")["uri"]
    files = sorted(tf.io.gfile.glob(f"{uri}/Split-{split}/*"))
    examples = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        features = tf.train.Example.FromString(record.numpy()).features.feature
        examples.append(
            json.dumps(
                {
                    name: [
                        v.decode() if isinstance(v, bytes) else v
                        for v in (f.int64_list.value or f.bytes_list.value or f.float_list.value)
                    ]
                    for name, f in features.items()
                },
                sort_keys=True,
            )
        )
    return sorted(examples)


def test_the_beam_steps_run_on_a_portable_runner_with_the_direct_runners_output(
    first_run, portable_run, portable_args
):
    for task in BEAM_TASKS:  # the options reached every Beam step, as container arguments
        command = portable_run.executor(task).command
        assert list(command[-len(portable_args) :]) == list(portable_args), task
    for split in ("train", "eval"):
        portable, direct = (transformed_examples(r, split) for r in (portable_run, first_run))
        assert len(portable) == 2 * ROWS_PER_LABEL[split] and portable == direct, split
    vocabularies = [
        sorted(
            (p.name, p.read_bytes())
            for p in Path(r.output("Transform", "transform_graph")["uri"]).rglob("*")
            if p.is_file() and "assets" in p.parts
        )
        for r in (portable_run, first_run)
    ]
    assert vocabularies[0] and vocabularies[0] == vocabularies[1]
    assert metadata(portable_run.output("Evaluator", "blessing"))["blessed"] == 1
    assert metadata(portable_run.output("Pusher", "pushed_model"))["pushed"] == 1


def test_the_sdk_worker_processes_register_the_tokenizer_ops(portable_run, beam_cluster):
    probes = [json.loads(p.read_text()) for p in beam_cluster.probe_dir.glob("*.json")]
    workers = [p for p in probes if p["ppid"] == beam_cluster.worker_pool_pid]
    # Transform's and the Evaluator's Beam jobs load graphs with the tokenizer's ops, each in
    # its own SDK worker process, started by the pool (not by this process or a task's).
    assert len({p["pid"] for p in workers}) >= 2, probes
    assert all(p["registered"] == TOKENIZER_OPS for p in workers), workers


# -- part 3: the scoring package (build/inference.yaml), with the first run's model -----------------
INFERENCE_PACKAGE = REPO_ROOT / "build" / "inference.yaml"
SCORING_FILES = {  # the layout the package was compiled for: train.csv and eval.csv
    "train.csv": 'text,label\na wonderful product,positive\n"never closed,negative\nno label,\n',
    "eval.csv": "text\nit broke in a day\nworks as promised\n",  # no label column at all
}


@pytest.fixture(scope="module")
def scoring_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scoring_data")
    for name, text in SCORING_FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def scoring_run(first_run, scoring_data, push_dir, tmp_path_factory):
    """The committed scoring package on the model that the first run pushed."""
    folder = tmp_path_factory.mktemp("scoring")
    params = {
        "data_root": str(scoring_data),
        "push_dir": str(push_dir),
        "output_dir": str(folder / "scores"),
    }
    return run_package(INFERENCE_PACKAGE, params, folder / "root"), folder / "scores" / "span-0"


def test_the_scoring_package_scores_every_row_with_the_model_in_production(
    scoring_run, scoring_data, push_dir, tmp_path, capsys
):
    run, scores = scoring_run
    executed = [step.task for step in run.steps if step.step == EXECUTOR]
    assert sorted(executed) == [
        "BulkInferrer", "ProductionBaseline", "ScoreWriter", "ScoringModel", "TextExampleGen",
    ]  # fmt: skip
    lines = [json.loads(line) for line in (scores / "predictions.jsonl").read_text().splitlines()]
    train, evaluation = str(scoring_data / "train.csv"), str(scoring_data / "eval.csv")
    # File and line of every accepted row survive ExampleGen and BulkInferrer; the true label
    # where the row has one.
    by_row = {(line["file"], line["line"]): line for line in lines}
    assert sorted(by_row) == [(evaluation, 2), (evaluation, 3), (train, 2), (train, 4)]
    assert by_row[(train, 2)]["true_label"] == "positive"
    assert all("true_label" not in by_row[key] for key in [(train, 4), (evaluation, 2)])
    with open(scores / "predictions.csv", newline="", encoding="utf-8") as handle:
        table = {(r["file"], int(r["line"])): r for r in csv.DictReader(handle)}
    assert set(table) == set(by_row) and table[(train, 2)]["true_label"] == "positive"
    (rejected,) = [
        json.loads(line) for line in (scores / "rejected.jsonl").read_text().splitlines()
    ]
    assert (rejected["file"], rejected["line"], rejected["reason"]) == (train, 3, "malformed_csv")
    (version,) = production_versions(str(push_dir))
    text = summary(run)
    assert "scored 4 of 5 rows (2 files of" in text and f"(version {version} in production)" in text
    assert json.loads((scores / "summary.json").read_text())["rows_scored"] == 4

    # The same rows and the same JSON lines as `bertpipe predict --data` with that model.
    local = tmp_path / "local.jsonl"
    argv = [
        "predict",
        "--model",
        str(push_dir),
        "--data",
        str(scoring_data),
        "--output",
        str(local),
    ]
    assert bertpipe(argv) == 0
    capsys.readouterr()
    for line in map(json.loads, local.read_text().splitlines()):
        packaged = by_row[(line["file"], line["line"])]
        assert packaged["probabilities"] == pytest.approx(line["probabilities"], abs=1e-5)
        assert {**packaged, "probabilities": None} == {**line, "probabilities": None}


# -- part 3: a sentence-pair model, compiled with the pair settings ---------------------------------
PAIR_ROWS = {"train": 16, "eval": 8}  # per label


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory) -> Path:
    """A few dozen tiny pairs (label 1: the second text restates the first) in train.csv and
    eval.csv, columns text, second, label; one training row has no second text."""
    data = tmp_path_factory.mktemp("pair_data")
    for split, per_label in PAIR_ROWS.items():
        rows = []
        for i in range(per_label):
            rows.append((f"the film number {i} was great", f"film {i} was really good", "1"))
            rows.append((f"the film number {i} was great", f"the plot of {i} was dull", "0"))
        if split == "train":
            rows.append(("a first text with no second one", "", "1"))
        with open(data / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "second", "label"])
            writer.writerows(rows)
    return data


@pytest.fixture(scope="module")
def pair_run(pair_data, tiny_checkpoint, tmp_path_factory):
    """A package compiled with --text-pair-column (and the generic pair schema), run on
    `pair_data`; ExampleGen rejects the row without a second text."""
    folder = tmp_path_factory.mktemp("pairs")
    config = CompileConfig().replace(
        data={
            "text_pair_column": "second",
            "schema": str(SCHEMAS_DIR / "generic_pair"),
            "max_rejected_fraction": 0.05,
        }
    )
    package = compile_pipeline(config, folder / "pipeline.yaml")
    params = parameters(pair_data, tiny_checkpoint, folder / "serving", min_accuracy=0.0)
    return run_package(package, params, folder / "root")


def test_a_pair_model_runs_from_its_package_and_answers_pairs(
    pair_run, pair_data, tmp_path, capsys
):
    # ExampleGen wrote both texts; the row without a second text was rejected with its reason.
    examples = pair_run.output("TextExampleGen", "examples")["uri"]
    train = read_rejected_summary(examples)["splits"]["train"]
    assert (train["rows_read"], train["rows_accepted"]) == (2 * PAIR_ROWS["train"] + 1, 32)
    assert train["rejected_by_reason"] == {"empty_text_pair": 1}
    files = tf.io.gfile.glob(f"{examples}/Split-train/*")
    record = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP")))
    written = tf.train.Example.FromString(record.numpy()).features.feature
    assert set(written) == {TEXT_FEATURE, TEXT_PAIR_FEATURE, LABEL_FEATURE}

    # The Transform packed each pair with segment ids: 0 on [CLS] text [SEP], 1 on pair [SEP].
    for line in transformed_examples(pair_run, "eval"):
        example = json.loads(line)
        mask, segments = example["attention_mask"], example["token_type_ids"]
        second = segments.index(1)
        assert example["input_ids"][second - 1] == 102  # the first [SEP] ends segment 0
        assert segments[second : sum(mask)] == [1] * (sum(mask) - second)
        assert not any(segments[sum(mask) :])

    # The pushed model is a pair model, by its signature, and answers pairs (not single texts).
    pushed = metadata(pair_run.output("Pusher", "pushed_model"))["pushed_destination"]
    assert signature_inputs(pushed) == ("text", "text_pair") and is_pair_model(pushed)
    assert signature_inputs(pushed, "serving_examples") == ("examples",)
    (answer,) = predict(pushed, ["the film number 3 was great"], text_pairs=["film 3 was good"])
    assert answer.label in {"0", "1"}
    with pytest.raises(PairInputError, match="classifies pairs of texts"):
        predict(pushed, ["the film number 3 was great"])
    long_pair = " ".join(["a wonderful film"] * 30)  # 90 words, each text
    pairs = ["--pair", "a film", "a movie", "--pair", long_pair, long_pair]
    assert bertpipe(["predict", "--model", pushed, *pairs]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[2:] == ["a film", "a movie"]
    assert captured.err.startswith("note: pair 2 of 2 was cut to the model's 128 tokens")

    # Batch scoring reads the data's pairs for it, and refuses the data read as single texts.
    scores = tmp_path / "scores.jsonl"
    scoring = ["predict", "--model", pushed, "--data", str(pair_data), "--output", str(scores)]
    assert bertpipe(scoring) == 2
    assert "classifies pairs of texts: name the second text's column" in capsys.readouterr().err
    assert bertpipe([*scoring, "--text-pair-column", "second"]) == 0
    assert "rejected rows: 1 (empty_text_pair: 1)" in capsys.readouterr().out
    assert len(scores.read_text().splitlines()) == 2 * (PAIR_ROWS["train"] + PAIR_ROWS["eval"])

    # The run's report says it is a pair model, and has the F1 of class 1 beside accuracy.
    report = Path(pair_run.output("Report", "report")["uri"])
    line = r"eval split \(16 examples\): accuracy [^,]+, F1 of '1' [0-9.]+,"
    assert re.search(line, (report / REPORT_SUMMARY_FILE).read_text())
    assert "(sentence pairs: `text` and `text_pair`)" in (report / REPORT_MARKDOWN_FILE).read_text()
