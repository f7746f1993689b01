"""The main job end to end: the real pipeline locally (tiny BERT, the bundled sample), the pushed
model answering raw strings, the report step (locally and as Kubeflow starts it), and the blessing
rules. BeamDagRunner runs span 1 of the retraining schedule (test_schedule.py)."""

import csv
import gc
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from components.core.config import Config
from components.core.evaluation import MAX_ACCURACY_DROP, MAX_BALANCED_ACCURACY_DROP
from components.core.serving import production_versions
from components.core.serving_assets import read_serving_record, read_warmup_requests
from pipeline.cli import main as bertpipe
from pipeline.local_runner import run_pipeline
from pipeline.run_artifacts import node_executions, open_run, run_artifacts, run_report

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
SAMPLE_EVAL = Path(__file__).resolve().parent.parent / "pipeline" / "sample_data" / "eval.csv"


def tiny_config(checkpoint, output, **run) -> Config:
    # A tiny BERT trained 4 steps learns nothing: these runs bless it on purpose.
    return Config().replace(
        model={"checkpoint": str(checkpoint), "max_seq_length": 32},
        train={"train_steps": 4, "batch_size": 8, "checkpoint_every": 2},
        eval={"min_accuracy": 0.0, "majority_margin": -1.0},
        run={"output": str(output), **run},
    )


@pytest.fixture(scope="module")
def local_run(tiny_checkpoint, tmp_path_factory):
    output = tmp_path_factory.mktemp("local_run")
    config = tiny_config(tiny_checkpoint, output)
    run = run_pipeline(config)
    return config, run, run.report()


def test_local_runner_pushes_a_model_that_answers_raw_strings(
    local_run, capsys, answer_in_fresh_process
):
    config, _, report = local_run
    facts = report.facts
    versions = production_versions(config.push_dir)
    assert len(versions) == 1
    assert facts.blessed and facts.pushed_to == os.path.join(config.push_dir, str(versions[0]))
    # The pushed version passed the serving check and carries its warmup requests (one per
    # length bucket: eval texts, the longest repeated up to max_seq_length) and serving record.
    assert facts.infra_blessed and facts.serving_check.passed
    assert "serving check: passed in a fresh process" in report.summary
    requests = read_warmup_requests(facts.pushed_to)
    assert {r.signature for r in requests} == {"serving_default"}
    assert all(list(r.inputs) == ["text"] and len(r.inputs["text"]) == 1 for r in requests)
    with open(SAMPLE_EVAL, encoding="utf-8") as handle:
        eval_texts = [row["text"] for row in csv.DictReader(handle)]
    texts = [r.inputs["text"][0] for r in requests]
    assert all(any(text.startswith(e) for e in eval_texts) for text in texts), texts
    assert len(texts) == len(set(texts)) >= 2

    # In a process with only tensorflow and tensorflow_text: new texts and the warmup's.
    labels = answer_in_fresh_process(facts.pushed_to, ["a wonderful product", "it broke", *texts])
    assert set(labels) <= {"negative", "positive"} and len(labels) == 2 + len(texts)
    record = read_serving_record(facts.pushed_to)
    assert record.tensorflow_text_ops == [
        "NormalizeUTF8", "RegexSplitWithOffsets", "WordpieceTokenizeWithOffsets"
    ]  # fmt: skip
    assert record.tensorflow_version == tf.__version__ and record.warmup_requests == len(texts)
    assert record.signatures["serving_default"]["inputs"] == ["text"]

    assert bertpipe(["predict", "--model", config.push_dir, "a wonderful product", "meh"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[-2:]
    assert [line.split("\t")[2] for line in lines] == ["a wonderful product", "meh"]
    assert all(line.split("\t")[0] in {"negative", "positive"} for line in lines)
    assert all(0.5 <= float(line.split("\t")[1]) <= 1.0 for line in lines)


def execution_spans(metadata_path: str, run_id: str) -> dict[str, tuple[int, int]]:
    """{node id: (registered, published)} of run `run_id`'s executions, in ms (MLMD)."""
    store, run = open_run(metadata_path, run_id)
    return {
        node: (execution.create_time_since_epoch, execution.last_update_time_since_epoch)
        for node, execution in node_executions(store, run)
    }


def test_the_evaluator_and_the_serving_check_ran_at_the_same_time(local_run):
    """The local runner starts each node once the nodes it depends on are done, two at a time
    (pipeline/dag_threads.py): both steps waited for the Trainer only, the Pusher for both."""
    config, run, report = local_run
    spans = execution_spans(str(run.paths.metadata_path), run.run_id)
    evaluator, check = spans["Evaluator"], spans["ServingCheck"]
    assert spans["Trainer"][1] <= min(evaluator[0], check[0])
    assert evaluator[0] < check[1] and check[0] < evaluator[1], (evaluator, check)
    assert max(evaluator[1], check[1]) <= spans["Pusher"][0]
    assert spans["Pusher"][1] <= spans["Report"][0]
    facts = report.facts  # the outcome as with one node at a time
    assert facts.blessed and facts.infra_blessed and facts.serving_check.passed
    assert os.path.dirname(facts.pushed_to) == config.push_dir


class _Page(HTMLParser):
    """The tags and image sources of an HTML page."""

    def __init__(self):
        super().__init__()
        self.tags, self.images = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def test_report_has_the_numbers(local_run):
    config, run, report = local_run
    facts = report.facts
    assert facts.data_counts["train"]["rows_read"] == 480
    assert facts.data_counts["eval"]["rows_accepted"] == 120
    assert facts.truncation_share is not None and 0 <= facts.truncation_share < 0.2
    metrics = facts.evaluation.metrics
    assert metrics["example_count"] == 120
    assert {"macro_f1_score", "balanced_accuracy", "auc/class_1"} <= set(metrics)
    # Per class, from the top-1 answer: the supports add up, named by the Transform's labels.
    assert facts.labels == ["negative", "positive"]
    per_class = facts.evaluation.per_class
    assert {c: v["support"] for c, v in per_class.items()} == {0: 60, 1: 60}
    confusion = facts.evaluation.confusion
    assert sum(n for _, _, n in confusion) == 120
    # Accuracy and balanced accuracy are those of the confusion matrix (the model's top-1 answer).
    correct = sum(n for actual, predicted, n in confusion if actual == predicted)
    assert metrics["sparse_categorical_accuracy"] == pytest.approx(correct / 120)
    recalls = [
        sum(n for a, p, n in confusion if a == c and p == c) / 60 for c in range(len(facts.labels))
    ]
    assert metrics["balanced_accuracy"] == pytest.approx(sum(recalls) / len(recalls))
    assert facts.evaluation.majority.share == 0.5
    slices = dict(facts.evaluation.slices)
    assert slices["label=positive"]["example_count"] == 60
    assert any(name.startswith("length_bucket=") for name in slices)
    assert [step.step for step in facts.training.steps] == [1, 2, 3, 4]
    assert facts.data_root == f"{Path(config.data.data)}"

    folder = Path(report.folder)
    assert folder.parts[-3:-1] == ("Report", "report")  # the Report step's output artifact
    text = (folder / "report.md").read_text()
    assert "| train | 1 | 480 | 480 | 0 | - |" in text and "**BLESSED and pushed to" in text
    assert "| class | precision | recall | F1 | support | predicted |" in text
    assert "| negative |" in text and "| positive |" in text
    assert "majority_margin -1: balanced accuracy " in text and ": its lower end " in text
    # The intervals, read back from the Evaluator's output, contain the point values.
    for name, interval in facts.evaluation.intervals.items():
        assert interval.low < metrics[name] < interval.high, (name, interval)
    assert (
        f"| accuracy, 95% interval | {facts.evaluation.intervals['sparse_categorical_accuracy']} |"
        in text
    )
    assert "## Serving check" in text and "Serving check: passed in a fresh process" in text
    for plot in ("training_curve.png", "confusion_matrix.png"):
        assert (folder / plot).stat().st_size > 1000
        assert f"![{plot}]({plot})" in text

    # The HTML page stands alone: both plots inside it as data URIs, no other file referenced.
    page = _Page()
    page.feed(Path(report.html_path).read_text())
    assert page.tags.count("table") >= 5
    assert len(page.images) == 2
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    # The summary a local run prints is the report step's.
    assert report.summary.splitlines()[-1] == f"BLESSED and pushed to {facts.pushed_to}"

    # The same page is the `html` output, a file typed system.HTML (what the KFP UI shows).
    html = run_artifacts(str(run.paths.metadata_path), run.run_id)[("Report", "html")]
    assert Path(html.uri).read_text() == Path(report.html_path).read_text()
    assert html.get("display_name") == "bertpipe run report"


def test_a_strict_threshold_pushes_nothing_new_and_says_why(local_run, capsys):
    config, first, first_report = local_run
    before = production_versions(config.push_dir)
    code = bertpipe(
        [
            "run",
            "--checkpoint", config.model.checkpoint,
            "--max-seq-length", "32",
            "--train-steps", "4",
            "--batch-size", "8",
            "--checkpoint-every", "2",
            "--output", config.run.output,
            "--min-accuracy", "0.999",
            "--majority-margin", "-1",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    # Only the `bertpipe` program freezes its objects (console.imports_done); a caller of `main`
    # in its own process keeps all of its objects collectable.
    assert gc.get_freeze_count() == 0
    assert production_versions(config.push_dir) == before
    assert "NOT BLESSED, nothing pushed:" in out
    assert "  - min_accuracy: accuracy " in out and "is below the bound 0.999" in out
    # The data and its tokenization did not change: they came from the cache. The Trainer ran
    # again, warm-started from the model that the first run pushed.
    assert (
        "Transform finished in" in out
        and "(cached)" in out.split("Transform finished in")[1].split("\n")[0]
    )
    assert "Trainer finished in" in out
    assert "(cached)" not in out.split("Trainer finished in")[1].split("\n")[0]
    assert "warm-started from " in out and "ProductionBaseline" in out.split("warm-started from")[1]
    assert "training warm-started from the model in production" in out
    assert f"model in production (version {before[-1]})" in out

    # The run printed its own report; the first run's report, found by its run id, is unchanged.
    html_path = out.strip().splitlines()[-1].removeprefix("report: ")
    assert html_path.endswith("report.html") and html_path != first_report.html_path
    again = run_report(str(first.paths.metadata_path), first.run_id)
    assert again.html_path == first_report.html_path and again.facts.blessed
    second = json.loads((Path(html_path).parent / "report.json").read_text())
    assert second["blessed"] is False and second["production"]["version"] == before[-1]

    # `bertpipe explain` gives the same reason from the Evaluator's output alone (as on Kubeflow).
    assert bertpipe(["explain", "--evaluation", second["artifacts"]["evaluation"]]) == 1
    explained = capsys.readouterr().out
    assert explained.startswith("NOT BLESSED") and "is below the bound 0.999" in explained
    assert "majority-class baseline: always class 0 (50.0% of the eval split)" in explained


def write_oracle_model(export_dir: str, classes=("negative", "positive")) -> None:
    """A SavedModel with the serving contract that reads the answer from the example's label:
    a production model no candidate can match."""
    import tensorflow as tf

    table = tf.constant(list(classes))

    def ids(examples):
        features = tf.io.parse_example(
            examples, {"label": tf.io.FixedLenFeature([], tf.string, default_value="")}
        )
        match = tf.cast(tf.equal(features["label"][:, None], table[None, :]), tf.int64)
        return tf.argmax(match, axis=1)

    class Oracle(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_examples(self, examples):
            label_id = ids(examples)
            return {
                "probabilities": tf.one_hot(label_id, len(classes)),
                "label_id": label_id,
                "label": tf.gather(table, label_id),
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def transform_features(self, examples):
            label_id = ids(examples)
            return {"label_id": label_id, "length_bucket": tf.fill(tf.shape(label_id), "1-16")}

    oracle = Oracle()
    tf.saved_model.save(
        oracle,
        export_dir,
        signatures={
            "serving_examples": oracle.serving_examples,
            "transform_features": oracle.transform_features,
        },
    )


def test_a_regressed_candidate_is_refused_against_a_better_baseline(local_run, tmp_path):
    config, _, _ = local_run
    push_dir = tmp_path / "serving"
    write_oracle_model(str(push_dir / "1000"))
    strict = config.replace(
        run={"push_dir": str(push_dir)},
        eval={"max_accuracy_drop": 0.01},
        train={"warm_start": False},  # the oracle has no weights to start from
    )
    facts = run_pipeline(strict).report().facts
    assert not facts.blessed
    assert production_versions(str(push_dir)) == [1000]
    assert facts.production["version"] == 1000
    assert facts.evaluation.baseline_metrics["sparse_categorical_accuracy"] == pytest.approx(1.0)
    assert any(
        why.bound == MAX_ACCURACY_DROP
        and why.message.startswith("max_accuracy_drop: accuracy change against production")
        for why in facts.evaluation.failures
    ), facts.evaluation.failures
    # The oracle answers every class right: balanced accuracy is refused against it too.
    assert facts.evaluation.baseline_metrics["balanced_accuracy"] == pytest.approx(1.0)
    assert MAX_BALANCED_ACCURACY_DROP in {why.bound for why in facts.evaluation.failures}


def test_runtime_settings_override_the_config(local_run, tmp_path):
    """What a Kubeflow run-time parameter does, locally: the components read the run's values."""
    from components.core.runtime_settings import config_values
    from components.text_example_gen import input_split_config

    config, _, _ = local_run
    # The compiled-in bounds would refuse any model; the run's values bless.
    config = config.replace(
        run={"output": str(tmp_path / "run")}, eval={"min_accuracy": 0.999, "majority_margin": 0.9}
    )
    elsewhere = tmp_path / "elsewhere"
    runtime = config_values(config, input_split_config(config.data)[0])
    runtime.update(
        train_steps=2,
        learning_rate=5e-4,
        min_accuracy=0.0,
        majority_margin=-1.0,
        push_dir=str(elsewhere),
    )
    facts = run_pipeline(config, runtime=runtime).report().facts
    assert [step.step for step in facts.training.steps] == [1, 2]
    assert facts.training.learning_rate == 5e-4
    assert facts.training.warm_start == ""  # nothing in production under `elsewhere` yet
    assert facts.evaluation.bounds.min_accuracy == 0.0
    assert facts.evaluation.bounds.majority_margin == -1.0
    assert facts.blessed and facts.pushed_to.startswith(str(elsewhere))
    assert len(production_versions(str(elsewhere))) == 1


def test_a_failing_report_step_leaves_the_push_as_it_was(local_run, monkeypatch):
    from components.report import executor as report_executor

    config, _, _ = local_run
    before = production_versions(config.push_dir)

    def broken(facts, folder):
        raise OSError(f"disk full while writing the report into {folder}")

    monkeypatch.setattr(report_executor, "write_report", broken)
    # The first run's folder, so that the data, Transform (and Trainer) come from the cache; another
    # bound makes the Evaluator, the Pusher and the Report run again.
    config = config.replace(eval={"majority_margin": -0.5})
    with pytest.raises(OSError, match="disk full while writing the report"):
        run_pipeline(config)
    # The Pusher ran before the Report: the blessed model is in production all the same.
    after = production_versions(config.push_dir)
    assert after[:-1] == before and after[-1] > before[-1]
    assert (Path(config.push_dir) / str(after[-1]) / "saved_model.pb").is_file()


def executor_input(component: dict, inputs: dict, parameters: dict, outputs: Path) -> dict:
    """The ExecutorInput KFP's launcher gives a step's container: `inputs` are this run's
    artifacts (MLMD), `outputs` the folder where KFP would put the step's outputs."""

    def runtime_artifact(name, definition, uri, metadata=None):
        return {
            "name": f"projects/p/locations/l/metadataStores/default/artifacts/{name}",
            "type": definition["artifactType"],
            "uri": uri,
            "metadata": metadata or {},
        }

    return {
        "inputs": {
            "artifacts": {
                name: {
                    "artifacts": [
                        runtime_artifact(name, d, inputs[name].uri, inputs[name].properties)
                    ]
                }
                for name, d in component["inputDefinitions"]["artifacts"].items()
            },
            "parameterValues": parameters,
        },
        "outputs": {
            "artifacts": {
                name: {"artifacts": [runtime_artifact(name, d, str(outputs / name))]}
                for name, d in component["outputDefinitions"]["artifacts"].items()
            },
            "outputFile": str(outputs / "executor_output.json"),
        },
    }


def test_the_report_step_runs_as_kubeflow_starts_it(local_run, repo_root, tmp_path):
    """The Report task of build/pipeline.yaml, started as KFP's launcher starts its container
    (TFX's KFP v2 entry point, in a fresh process) on this run's artifacts: its `html` output is
    the report page, as the file at the output's URI, typed system.HTML for the KFP UI."""
    _, run, report = local_run
    spec = next(yaml.safe_load_all((repo_root / "build" / "pipeline.yaml").read_text()))
    task = spec["root"]["dag"]["tasks"]["Report"]
    component = spec["components"][task["componentRef"]["name"]]
    container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    artifacts = run_artifacts(str(run.paths.metadata_path), run.run_id)
    inputs = {
        name: artifacts[
            (
                source["taskOutputArtifact"]["producerTask"],
                source["taskOutputArtifact"]["outputArtifactKey"],
            )
        ]
        for name, source in task["inputs"]["artifacts"].items()
    }
    parameters = {"data_root": report.facts.data_root, "push_dir": str(tmp_path / "serving")}
    invocation = json.dumps(executor_input(component, inputs, parameters, tmp_path))
    args = [invocation if a == "{{$}}" else a for a in container["args"]]
    command = [sys.executable if c == "python" else c for c in container["command"]]
    done = subprocess.run(
        command + args, capture_output=True, text=True, cwd=repo_root, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]

    page = (tmp_path / "html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "BLESSED and pushed to" in page
    # Its run-history entry went into the push destination (no MLMD store, no run id there).
    (entry,) = (tmp_path / "serving" / ".history").iterdir()
    assert json.loads(entry.read_text())["run_id"] == "" and "Run history</h2>" in page
    assert (tmp_path / "report" / "report.md").is_file()
    written = json.loads((tmp_path / "executor_output.json").read_text())["artifacts"]
    (html,) = written["html"]["artifacts"]
    assert html["uri"] == str(tmp_path / "html")
    assert html["metadata"]["display_name"] == "bertpipe run report"
    schema = yaml.safe_load(
        component["outputDefinitions"]["artifacts"]["html"]["artifactType"]["instanceSchema"]
    )
    assert schema["title"] == "system.HTML"


def test_history_lists_the_runs_of_the_folder_newest_first(local_run, capsys):
    """`bertpipe history` on the folder of the runs above (pytest runs them in file order; run
    alone, this test sees the first run only): each run with its verdict, from MLMD."""
    from components.core.history import BLESSED
    from pipeline.history import local_history

    config, first, first_report = local_run
    entries = local_history(config.run.output)
    oldest = entries[-1]
    assert oldest.run_id == first.run_id and oldest.verdict == BLESSED
    assert oldest.span is None and oldest.report == first_report.folder  # no spans
    assert f"{oldest.pushed_version}" == os.path.basename(first_report.facts.pushed_to)
    accuracy = first_report.facts.evaluation.metrics["sparse_categorical_accuracy"]
    low, high = oldest.accuracy_interval.low, oldest.accuracy_interval.high
    assert oldest.accuracy == accuracy and low < accuracy < high and oldest.examples == 120
    # The first run had nothing in production to compare its data with, and says so.
    assert oldest.drift == ("not compared: no model in production",)
    # The runs above on this folder, oldest first: refused by min_accuracy, then by both drops
    # against the oracle in production, then blessed and pushed but stopped at the Report.
    expected = [
        (BLESSED, set(), None),
        ("NOT BLESSED", {"min_accuracy"}, None),
        ("NOT BLESSED", {MAX_ACCURACY_DROP, MAX_BALANCED_ACCURACY_DROP}, None),
        (BLESSED, set(), "Report"),
    ]
    found = [(e.verdict, set(e.failed_bounds), e.stopped_at) for e in reversed(entries)]
    assert found == expected[: len(found)]

    assert bertpipe(["history", "--output", config.run.output]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == f"{len(entries)} run(s) in the MLMD store of {config.run.output}, newest first:"
    )
    assert out[-1].split("  ")[0] == oldest.time.replace("T", " ").removesuffix("Z")
    assert "BLESSED" in out[-1] and f"version {oldest.pushed_version}" in out[-1]
