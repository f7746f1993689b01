"""The main job end to end: the real pipeline with both local orchestrators (tiny BERT, the bundled
sample), the pushed model answering raw strings, the report, and the blessing rules."""

import os
import subprocess
import sys
import textwrap

import pytest

from components.core.config import Config
from components.core.serving import production_versions
from pipeline.cli import main as bertpipe
from pipeline.local_runner import RunPaths, run_pipeline
from pipeline.report import write_report

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def tiny_config(checkpoint, output, **run) -> Config:
    return Config().replace(
        model={"checkpoint": str(checkpoint), "max_seq_length": 32},
        train={"train_steps": 4, "batch_size": 8, "checkpoint_every": 2},
        eval={"min_accuracy": 0.0},
        run={"output": str(output), **run},
    )


def answer_in_fresh_process(model_dir: str, texts: list[str]) -> list[str]:
    """Labels from the SavedModel in a process that imports only tensorflow and tensorflow_text."""
    script = textwrap.dedent(
        f"""
        import sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        assert not any(m.split(".")[0] in ("pipeline", "components", "transformers", "tfx")
                       for m in sys.modules), sorted(sys.modules)
        model = tf.saved_model.load({model_dir!r})
        out = model.signatures["serving_default"](text=tf.constant({texts!r}))
        assert out["probabilities"].shape == ({len(texts)}, 2), out["probabilities"].shape
        print("LABELS", *[v.decode() for v in out["label"].numpy()])
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("LABELS"))
    return line.split()[1:]


@pytest.fixture(scope="module")
def local_run(tiny_checkpoint, tmp_path_factory):
    output = tmp_path_factory.mktemp("local_run")
    config = tiny_config(tiny_checkpoint, output)
    paths = run_pipeline(config)
    return config, paths, write_report(config, paths)


def test_local_runner_pushes_a_model_that_answers_raw_strings(local_run, capsys):
    config, paths, report = local_run
    versions = production_versions(config.push_dir)
    assert len(versions) == 1
    assert report.blessed and report.pushed_to == os.path.join(config.push_dir, str(versions[0]))
    labels = answer_in_fresh_process(report.pushed_to, ["a wonderful product", "it broke at once"])
    assert set(labels) <= {"negative", "positive"} and len(labels) == 2

    assert bertpipe(["predict", "--model", config.push_dir, "a wonderful product", "meh"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[-2:]
    assert [line.split("\t")[2] for line in lines] == ["a wonderful product", "meh"]
    assert all(line.split("\t")[0] in {"negative", "positive"} for line in lines)
    assert all(0.5 <= float(line.split("\t")[1]) <= 1.0 for line in lines)


def test_report_has_the_numbers(local_run):
    config, paths, report = local_run
    assert report.data_counts["train"]["rows_read"] == 480
    assert report.data_counts["eval"]["rows_accepted"] == 120
    assert report.truncation_share is not None and 0 <= report.truncation_share < 0.2
    assert report.metrics["example_count"] == 120
    assert 0 <= report.metrics["sparse_categorical_accuracy"] <= 1
    assert {"macro_f1_score", "auc/class_1", "recall/class_0"} <= set(report.metrics)
    slices = dict(report.slices)
    assert slices["label=positive"]["example_count"] == 60
    assert any(name.startswith("length_bucket=") for name in slices)
    assert [step["step"] for step in report.history["steps"]] == [1, 2, 3, 4]
    text = (paths.report_dir / "report.md").read_text()
    assert "| train | 480 | 480 | 0 |" in text and "**Blessed**" in text
    for plot in ("training_curve.png", "confusion_matrix.png"):
        assert (paths.report_dir / plot).stat().st_size > 1000


def test_a_strict_threshold_pushes_nothing_new_and_says_why(local_run, capsys):
    config, paths, _ = local_run
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
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert production_versions(config.push_dir) == before
    assert "NOT BLESSED, nothing pushed" in out
    assert "lower_bound { value: 0.999 }" in out
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

    # `bertpipe explain` gives the same reason from the Evaluator's output alone (as on Kubeflow).
    from pipeline.run_artifacts import latest_run_artifacts

    artifacts = latest_run_artifacts(str(paths.metadata_path))
    evaluation = artifacts[("Evaluator", "evaluation")].uri
    assert bertpipe(["explain", "--evaluation", evaluation]) == 1
    explained = capsys.readouterr().out
    assert explained.startswith("NOT BLESSED") and "lower_bound { value: 0.999 }" in explained


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
    report = write_report(strict, run_pipeline(strict))
    assert not report.blessed
    assert production_versions(str(push_dir)) == [1000]
    assert report.baseline["version"] == 1000
    assert report.baseline_metrics["sparse_categorical_accuracy"] == pytest.approx(1.0)
    assert any("change against production" in why for why in report.why), report.why


def test_beam_runner_runs_the_same_pipeline(tiny_checkpoint, tmp_path):
    config = tiny_config(tiny_checkpoint, tmp_path / "beam_run", runner="beam")
    report = write_report(config, run_pipeline(config))
    assert report.blessed and report.pushed_to
    assert (RunPaths(tmp_path / "beam_run").metadata_path).is_file()
    labels = answer_in_fresh_process(report.pushed_to, ["great value"])
    assert labels[0] in {"negative", "positive"}


def test_runtime_settings_override_the_config(local_run, tmp_path):
    """What a Kubeflow run-time parameter does, locally: the components read the run's values."""
    from components.core.runtime_settings import config_values
    from components.text_example_gen import input_split_config

    config, _, _ = local_run
    # The compiled-in threshold would refuse any model; the run's value blesses.
    config = config.replace(run={"output": str(tmp_path / "run")}, eval={"min_accuracy": 0.999})
    elsewhere = tmp_path / "elsewhere"
    runtime = config_values(config, input_split_config(config.data)[0])
    runtime.update(train_steps=2, learning_rate=5e-4, min_accuracy=0.0, push_dir=str(elsewhere))
    report = write_report(config, run_pipeline(config, runtime=runtime))
    assert [step["step"] for step in report.history["steps"]] == [1, 2]
    assert report.history["config"]["train"]["learning_rate"] == 5e-4
    assert report.history["warm_start"] == ""  # nothing in production under `elsewhere` yet
    assert report.blessed and report.pushed_to.startswith(str(elsewhere))
    assert len(production_versions(str(elsewhere))) == 1
