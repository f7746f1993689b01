"""The serving check before the push: its canary choice and comparisons, the warmup file in TF
Serving's format, the report's line, the Kubernetes compile option; and a candidate whose
signatures disagree, refused by the check in a fresh process and therefore not pushed."""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import pusher
from components.core.serving_assets import (
    ServingRecord,
    WarmupRequest,
    read_serving_record,
    read_warmup_requests,
    warmup_path,
    write_serving_record,
    write_warmup_requests,
)
from components.core.serving_check import (
    CheckFailure,
    Latency,
    ServingCheckResult,
    read_serving_check,
)
from components.report.facts import RunFacts
from components.report.summary import summary
from components.serving_check import executor as serving_check
from components.serving_check import fresh_process, process
from components.serving_check.fresh_process import (
    largest_difference,
    length_buckets,
    longest_per_bucket,
)
from pipeline.kubeflow.compile import compile_pipeline
from pipeline.kubeflow.package import load_package, read_documents
from pipeline.kubeflow.settings import CompileConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EVAL = REPO_ROOT / "pipeline" / "sample_data" / "eval.csv"


# -- the canaries and the comparisons ----------------------------------------------------------------
def test_length_buckets_double_up_to_max_seq_length():
    assert length_buckets(128) == [(1, 8), (9, 16), (17, 32), (33, 64), (65, 128)]
    assert length_buckets(100) == [(1, 8), (9, 16), (17, 32), (33, 64), (65, 100)]
    assert length_buckets(8) == [(1, 8)]


def test_the_longest_example_of_each_bucket_is_chosen():
    buckets = length_buckets(32)
    assert longest_per_bucket([5, 7, 7, 20, 12], buckets) == [1, 4, 3]
    assert longest_per_bucket([30, 31], buckets) == [None, None, 1]


def test_largest_difference_names_its_row():
    a = np.array([[0.5, 0.5], [0.2, 0.8]])
    b = np.array([[0.5, 0.5], [0.3, 0.7]])
    difference, row = largest_difference(a, b)
    assert difference == pytest.approx(0.1) and row == 1


def test_the_fresh_process_imports_only_tensorflow_and_tensorflow_text():
    """What fresh_process.py can import: the standard library and numpy at the top (so that it
    is importable here), tensorflow and tensorflow_text where it runs the checks."""
    tree = ast.parse(Path(fresh_process.__file__).read_text(encoding="utf-8"))
    top, inside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            )
            (top if node in tree.body else inside).update(n.split(".")[0] for n in names)
    assert top <= {"__future__", "base64", "json", "statistics", "sys", "time", "numpy"}, top
    assert inside == {"tensorflow", "tensorflow_text"}, inside


# -- the warmup file and the serving record ---------------------------------------------------------
def test_the_warmup_file_is_tf_serving_s_prediction_logs(tmp_path):
    requests = [
        WarmupRequest("serving_default", {"text": ["a short one"]}),
        WarmupRequest("serving_default", {"text": ["déjà vu, twice"], "text_pair": ["b"]}),
    ]
    path = write_warmup_requests(str(tmp_path), requests)
    # Where TF Serving looks, as TFX names it too.
    assert path == warmup_path(str(tmp_path)) == path_utils.warmup_file_path(str(tmp_path))
    assert path.endswith("assets.extra/tf_serving_warmup_requests")
    logs = [
        prediction_log_pb2.PredictionLog.FromString(record)
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator()
    ]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log", "predict_log"]
    request = logs[1].predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    assert request.inputs["text"].dtype == tf.string.as_datatype_enum
    assert [d.size for d in request.inputs["text"].tensor_shape.dim] == [1]
    assert read_warmup_requests(str(tmp_path)) == requests


def test_the_serving_record_reads_back(tmp_path):
    record = ServingRecord(
        tensorflow_text_ops=["NormalizeUTF8"],
        tensorflow_version="2.16.2",
        tensorflow_git_version="v2.16.1-19",
        tensorflow_text_version="2.16.1",
        signatures={"serving_default": {"inputs": ["text"], "outputs": ["label"]}},
        warmup_requests=3,
    )
    path = write_serving_record(str(tmp_path), record)
    assert path.endswith("assets.extra/bertpipe_serving.json")
    assert read_serving_record(str(tmp_path)) == record


# -- what the run says ---------------------------------------------------------------------------
def failed_check() -> ServingCheckResult:
    failure = CheckFailure(
        "serving_examples",
        "gives the probabilities of serving_default on the same texts as tf.Examples",
        "they differ by 0.3 on 'a text' (at most 1e-05)",
    )
    return ServingCheckResult(passed=False, failure=failure, tensorflow_version="2.16.2")


def test_a_failed_check_is_one_line_of_the_summary_before_the_verdict():
    facts = RunFacts(blessed=True, infra_blessed=False, serving_check=failed_check())
    lines = summary(facts).splitlines()
    assert lines[-2] == (
        "serving check: FAILED: serving_examples: gives the probabilities of serving_default on"
        " the same texts as tf.Examples: they differ by 0.3 on 'a text' (at most 1e-05)"
    )
    assert lines[-1] == "BLESSED, but the serving check failed: nothing pushed"
    # report.json keeps the typed result.
    again = RunFacts.from_json(facts.to_json())
    assert again.serving_check == facts.serving_check and not again.infra_blessed


def test_a_passed_check_says_its_latency():
    check = ServingCheckResult(
        passed=True,
        latency=Latency(load_s=1.25, first_request_ms=812.0, batch_1_ms=4.2, batch_32_ms=31.0),
        signatures=("serving_default", "transform_features", "serving_examples"),
        canaries=6,
    )
    facts = RunFacts(blessed=True, infra_blessed=True, serving_check=check, pushed_to="/s/1")
    assert (
        "serving check: passed in a fresh process (3 signatures, 6 canaries): load 1.2 s, first"
        " request 812 ms, then 4 ms at batch 1 and 31 ms at batch 32"
    ) in summary(facts).splitlines()
    tfx_check = RunFacts(blessed=True, infra_blessed=True, pushed_to="/s/1")
    assert "serving check: passed in TF Serving (TFX's InfraValidator)" in summary(tfx_check)


# -- the Kubernetes option ---------------------------------------------------------------------------
def test_kubernetes_compiles_tfx_s_infra_validator_with_the_serving_image(tmp_path):
    config = CompileConfig().replace(
        kubeflow={"serving_check": "kubernetes", "serving_image": "tensorflow/serving:2.16.1"}
    )
    package = compile_pipeline(config, tmp_path / "k8s.yaml")
    load_package(package)  # parses strictly, platform spec included
    spec, platform = read_documents(package)
    tasks = spec["root"]["dag"]["tasks"]
    task = tasks["ServingCheck"]
    executor = spec["components"][task["componentRef"]["name"]]["executorLabel"]
    args = spec["deploymentSpec"]["executors"][executor]["container"]["args"]
    assert args[args.index("--executor_class_path") + 1] == (
        "tfx.components.infra_validator.executor.Executor"
    )
    parameters = task["inputs"]["parameters"]
    serving_spec = json.loads(parameters["serving_spec"]["runtimeValue"]["constant"])
    assert serving_spec == {
        "kubernetes": {},
        "tensorflow_serving": {"image_name": "tensorflow/serving", "tags": ["2.16.1"]},
    }
    request_spec = json.loads(parameters["request_spec"]["runtimeValue"]["constant"])
    assert request_spec["make_warmup"] is True and request_spec["split_name"] == "eval"
    assert request_spec["tensorflow_serving"]["signature_names"] == ["serving_examples"]
    # The Pusher pushes the model inside its InfraBlessing, only when the Evaluator blessed it,
    # with the statistics of the data it learned from (the next run's drift baseline).
    pusher_inputs = tasks["Pusher"]["inputs"]["artifacts"]
    assert set(pusher_inputs) == {"infra_blessing", "model_blessing", "statistics"}
    assert pusher_inputs["infra_blessing"]["taskOutputArtifact"]["producerTask"] == "ServingCheck"
    env = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][executor]
    assert {e["name"] for e in env["fieldPathAsEnv"]} == {"KFP_POD_NAME", "KFP_NAMESPACE"}


@pytest.mark.parametrize(
    "kubeflow, message",
    [
        ({"serving_check": "kubernetes"}, "--serving-check kubernetes and --serving-image go"),
        ({"serving_image": "tensorflow/serving:2.16.1"}, "--serving-check kubernetes and"),
    ],
)
def test_the_serving_image_goes_with_the_kubernetes_check(kubeflow, message):
    with pytest.raises(ValueError, match=message):
        CompileConfig().replace(kubeflow=kubeflow)


def test_an_image_without_tag_or_digest_is_refused(tmp_path):
    config = CompileConfig().replace(
        kubeflow={"serving_check": "kubernetes", "serving_image": "registry:5000/serving"}
    )
    with pytest.raises(ValueError, match="--serving-image must name a TF Serving image"):
        compile_pipeline(config, tmp_path / "k8s.yaml")


# -- a candidate whose signatures disagree ------------------------------------------------------------
def write_disagreeing_model(export_dir: str, length: int = 16) -> None:
    """A SavedModel with the serving contract whose `serving_examples` answers the mirror image
    of `serving_default` (the same only for texts of no characters)."""
    labels = tf.constant(["negative", "positive"])

    def answer(texts, mirrored: bool):
        score = tf.cast(tf.strings.length(texts), tf.float32) / 10.0
        logits = tf.stack([score, tf.zeros_like(score)], axis=1)
        probabilities = tf.nn.softmax(logits[:, ::-1] if mirrored else logits)
        label_id = tf.argmax(probabilities, axis=1)
        return {
            "probabilities": probabilities,
            "label_id": label_id,
            "label": tf.gather(labels, label_id),
        }

    spec = {
        "text": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }

    class Disagreeing(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(self, text):
            return answer(text, mirrored=False)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_examples(self, examples):
            return answer(tf.io.parse_example(examples, spec)["text"], mirrored=True)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def transform_features(self, examples):
            texts = tf.io.parse_example(examples, spec)["text"]
            words = tf.strings.split(texts).row_lengths() + 2
            mask = tf.sequence_mask(tf.minimum(words, length), length, dtype=tf.int64)
            return {"attention_mask": mask}

    model = Disagreeing()
    signatures = {
        name: getattr(model, name)
        for name in ("serving_default", "serving_examples", "transform_features")
    }
    tf.saved_model.save(model, export_dir, signatures=signatures)


def eval_examples_artifact(folder: Path) -> standard_artifacts.Examples:
    """An Examples artifact whose eval split holds the bundled sample's eval rows."""
    with open(SAMPLE_EVAL, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    split = folder / "Split-eval"
    split.mkdir(parents=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(split / "data_tfrecord-00000.gz"), options) as writer:
        for row in rows:
            feature = {
                key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[row[key].encode()]))
                for key in ("text", "label")
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    examples = standard_artifacts.Examples()
    examples.uri = str(folder)
    examples.split_names = '["eval"]'
    return examples


def artifact(kind, uri: Path, **properties):
    instance = kind()
    instance.uri = str(uri)
    for name, value in properties.items():
        instance.set_int_custom_property(name, value)
    return instance


@pytest.mark.slow
def test_a_model_whose_signatures_disagree_is_not_pushed(tmp_path):
    model = artifact(standard_artifacts.Model, tmp_path / "model")
    write_disagreeing_model(path_utils.serving_model_path(model.uri))
    examples = eval_examples_artifact(tmp_path / "examples")
    blessing = artifact(standard_artifacts.InfraBlessing, tmp_path / "infra_blessing")

    # As in a local run: the fresh process was started before the model existed; the check
    # takes it (and would start its own without one).
    with process.started_early():
        early = process._early[0]
        serving_check.Executor().Do(
            {"model": [model], "examples": [examples]}, {"blessing": [blessing]}, {}
        )
        assert not process._early and early._process.returncode == 0  # taken, and it answered
    result = read_serving_check(blessing.uri)
    assert not result.passed and blessing.get_int_custom_property("blessed") == 0
    assert result.failure.signature == "serving_examples"
    assert result.failure.check == (
        "gives the probabilities of serving_default on the same texts as tf.Examples"
    )
    assert (tmp_path / "infra_blessing" / "INFRA_NOT_BLESSED").is_file()
    assert not Path(path_utils.stamped_model_path(blessing.uri)).exists()
    # It loaded in a process with only tensorflow and tensorflow_text: what the process found.
    assert result.tensorflow_version == tf.__version__ and result.seconds > 0

    # The Evaluator blessed it; the Pusher pushes nothing all the same.
    model_blessing = artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing", blessed=1)
    pushed = artifact(standard_artifacts.PushedModel, tmp_path / "pushed")
    push_dir = tmp_path / "serving"
    pusher.Executor().Do(
        {"model_blessing": [model_blessing], "infra_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_dir": str(push_dir), "push_destination": "{}"},
    )
    assert pushed.get_int_custom_property("pushed") == 0
    assert not push_dir.exists() or not list(push_dir.iterdir())
