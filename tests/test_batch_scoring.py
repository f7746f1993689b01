"""Batch scoring: rows read with the label optional, the scored rows and their JSON lines, CSV and
summary (components/core/scoring.py), `bertpipe predict --data --output` end to end with a tiny
exported model (pipeline/batch_scoring.py), and the scoring package that `bertpipe compile
--inference` writes (build/inference.yaml; its run through kfp.local is in
test_kubeflow_local_run.py, beside the training run whose model it scores)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from components.core.config import SCORING_PIPELINE_NAME, DataConfig
from components.core.errors import UserError
from components.core.features import SOURCE_FILE_FEATURE, SOURCE_LINE_FEATURE
from components.core.runtime_settings import SCORING_SETTINGS
from components.core.scoring import (
    ScoredRow,
    ScoringSummary,
    Tally,
    csv_header,
    per_class,
    scored_row,
)
from components.text_example_gen import InputError, row_example
from components.text_example_gen.parsing import read_rows
from components.text_example_gen.rows import MISSING_LABEL, Row
from pipeline.cli import main as bertpipe
from pipeline.kubeflow.compile import compile_pipeline
from pipeline.kubeflow.package import load_package, pipeline_parameters, read_documents
from pipeline.kubeflow.settings import CompileConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
INFERENCE_PACKAGE = REPO_ROOT / "build" / "inference.yaml"
VERSION_FIELDS = ("sdkVersion", "schemaVersion")


def rows_of(text: str, name: str, *, require_label: bool, **data) -> list[Row]:
    reader = read_rows(
        name, io.BytesIO(text.encode()), DataConfig(**data), require_label=require_label
    )
    return list(reader)


# -- reading with the label optional -------------------------------------------------------------
def test_a_row_without_a_label_is_rejected_in_training_and_scored_in_scoring():
    text = "text,label\ngood,positive\nno label here,\n"
    training = rows_of(text, "a.csv", require_label=True)
    assert [(r.line, r.reason) for r in training] == [(2, None), (3, MISSING_LABEL)]
    scoring = rows_of(text, "a.csv", require_label=False)
    assert [(r.line, r.text, r.label, r.reason) for r in scoring] == [
        (2, "good", "positive", None),
        (3, "no label here", "", None),
    ]


def test_a_file_without_a_label_column_is_read_only_for_scoring():
    with pytest.raises(InputError, match="no label column"):
        rows_of("text,id\nhello,1\n", "a.csv", require_label=True)
    (row,) = rows_of("text,id\nhello,1\n", "a.csv", require_label=False)
    assert (row.text, row.label) == ("hello", "")
    # One headerless column is all text; a configured label column must exist even then.
    assert [r.text for r in rows_of("great\nawful\n", "b.csv", require_label=False)] == [
        "great",
        "awful",
    ]
    with pytest.raises(InputError, match="no label column 'stars'"):
        rows_of("text,id\nhello,1\n", "a.csv", require_label=False, label_column="stars")


def test_json_lines_find_an_optional_label_in_any_object():
    text = '{"text": "nice"}\n{"text": "bad", "label": "negative"}\n'
    rows = rows_of(text, "a.jsonl", require_label=False)
    assert [(r.text, r.label) for r in rows] == [("nice", ""), ("bad", "negative")]
    with pytest.raises(InputError, match="no label key"):
        rows_of(text, "a.jsonl", require_label=True)


def test_scoring_reads_every_split_of_the_newest_span(write_ram_spans):
    from components.text_example_gen import scoring_input

    write_ram_spans("ram://scoring_spans", spans=(1, 2))
    files = scoring_input(DataConfig(data="ram://scoring_spans/span-{SPAN}"))
    assert files == [
        ("ram://scoring_spans/span-2/train.csv", False),
        ("ram://scoring_spans/span-2/dev.csv", False),
    ]


def test_inference_examples_carry_file_and_line_and_training_examples_do_not_change():
    import tensorflow as tf

    row = Row("/d/a.csv", 7, text="nice", label="positive")
    training = tf.train.Example.FromString(row_example(row))
    assert sorted(training.features.feature) == ["label", "text"]
    inference = tf.train.Example.FromString(row_example(row, inference=True))
    features = inference.features.feature
    assert features[SOURCE_FILE_FEATURE].bytes_list.value == [b"/d/a.csv"]
    assert features[SOURCE_LINE_FEATURE].int64_list.value == [7]
    unlabelled = tf.train.Example.FromString(
        row_example(Row("/d/a.csv", 8, text="x"), inference=True)
    )
    assert "label" not in unlabelled.features.feature


# -- scored rows, their lines and the summary -----------------------------------------------------
def test_a_scored_row_as_a_json_line_and_a_csv_record():
    import tensorflow as tf

    classes = ["negative", "positive"]
    example = tf.train.Example.FromString(
        row_example(Row('/d/a "b", c.csv', 3, text="x", label="positive"), inference=True)
    )
    row = scored_row(example, 1, [0.25000004, 0.75], classes)
    assert json.loads(row.to_json()) == {
        "file": '/d/a "b", c.csv',
        "line": 3,
        "label": "positive",
        "probabilities": {"negative": 0.25, "positive": 0.75},
        "true_label": "positive",
    }
    assert (
        csv_header(classes)
        == "file,line,label,true_label,probability_negative,probability_positive"
    )
    assert row.to_csv(classes) == '"/d/a ""b"", c.csv",3,positive,positive,0.25,0.75'
    unlabelled = tf.train.Example.FromString(
        row_example(Row("/d/a.csv", 4, text="x"), inference=True)
    )
    assert "true_label" not in json.loads(scored_row(unlabelled, 0, [0.9, 0.1], classes).to_json())
    with pytest.raises(ValueError, match="source_file"):
        scored_row(
            tf.train.Example.FromString(row_example(Row("f", 1, text="x", label="y"))),
            0,
            [1.0, 0.0],
            classes,
        )


def test_the_tally_gives_accuracy_and_the_per_class_table():
    classes = ("negative", "positive")
    tally = Tally()
    for true, predicted, count in [
        ("positive", "positive", 3),
        ("positive", "negative", 1),
        ("negative", "negative", 2),
        ("0", "positive", 2),  # a true label the model does not know
        (None, "negative", 5),  # rows without a true label
    ]:
        for _ in range(count):
            tally.add(ScoredRow("f", 1, predicted, {}, true))
    other = Tally.from_dict(json.loads(json.dumps(tally.to_dict())))
    assert other == tally and Tally().merge(tally) == tally
    assert (tally.scored, tally.labelled, tally.correct) == (13, 8, 5)
    rows = {row.name: row for row in per_class(tally, classes)}
    assert list(rows) == ["negative", "positive", "0"]
    assert rows["positive"].precision == pytest.approx(3 / 5)
    assert rows["positive"].recall == pytest.approx(3 / 4)
    assert (rows["0"].support, rows["0"].predicted, rows["0"].recall) == (2, 0, 0.0)
    summary = ScoringSummary(
        data="d", model="m", classes=classes, files=1, rows_read=14, tally=tally,
        rejected_by_reason={"malformed_csv": 1}, output="o.jsonl", rejected_output="o.rejected.jsonl",
    )  # fmt: skip
    text = summary.text()
    assert "scored 13 of 14 rows (1 file of d)" in text
    assert "rejected rows: 1 (malformed_csv: 1): o.rejected.jsonl" in text
    assert "accuracy 0.6250 (5 of 8 rows with a true label, top-1)" in text
    assert "true label(s) '0' are not classes of the model" in text
    assert summary.to_dict()["accuracy"] == pytest.approx(5 / 8)


# -- bertpipe predict --data: mistakes ------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "x.csv"], "batch scoring takes --data and --output"),
        (["--output", "x.jsonl"], "batch scoring takes --data and --output"),
        (["--data", "x.csv", "--output", "x.jsonl", "some text"], "and no texts"),
    ],
)
def test_batch_scoring_needs_data_and_output_and_no_texts(argv, message, tmp_path, capsys):
    code = bertpipe(["predict", "--model", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize("content", [None, b"not a SavedModel"])
def test_a_model_folder_that_is_not_a_model_is_one_line(content, tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    if content is not None:
        (model / "saved_model.pb").write_bytes(content)
    data = tmp_path / "a.csv"
    data.write_text("text\nhello\n")
    output = tmp_path / "out.jsonl"
    code = bertpipe(
        ["predict", "--model", str(model), "--data", str(data), "--output", str(output)]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("bertpipe predict: ") and str(model) in err
    assert not output.exists()


# -- the scoring package --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fresh_inference_package(tmp_path_factory) -> Path:
    config = CompileConfig().replace(kubeflow={"inference": True})
    return compile_pipeline(config, tmp_path_factory.mktemp("compiled") / "inference.yaml")


def test_committed_inference_package_is_what_the_compiler_writes(fresh_inference_package):
    committed, fresh = read_documents(INFERENCE_PACKAGE), read_documents(fresh_inference_package)
    strip = [{k: v for k, v in doc.items() if k not in VERSION_FIELDS} for doc in fresh]
    assert [{k: v for k, v in d.items() if k not in VERSION_FIELDS} for d in committed] == strip, (
        "build/inference.yaml is out of date: run `bertpipe compile --inference` and commit it"
    )


def test_the_inference_package_reads_a_span_scores_it_with_bulk_inferrer_and_writes_it_out(
    fresh_inference_package,
):
    spec = load_package(fresh_inference_package)
    assert spec.pipeline_info.name == SCORING_PIPELINE_NAME
    declared = pipeline_parameters(spec)
    assert set(declared) == set(SCORING_SETTINGS)
    assert sorted(name for name, p in declared.items() if p.required) == ["output_dir", "push_dir"]
    tasks = read_documents(fresh_inference_package)[0]["root"]["dag"]["tasks"]
    assert set(tasks) == {
        "TextExampleGen",
        "ProductionBaseline",
        "ScoringModel",
        "BulkInferrer",
        "ScoreWriter",
    }
    assert set(tasks["BulkInferrer"]["dependentTasks"]) == {"TextExampleGen", "ScoringModel"}
    for uncached in ("ProductionBaseline", "ScoreWriter"):
        assert tasks[uncached]["cachingOptions"] == {"enableCache": False}
    parameters = {t: v["inputs"].get("parameters", {}) for t, v in tasks.items()}
    model_spec = json.loads(parameters["BulkInferrer"]["model_spec"]["runtimeValue"]["constant"])
    assert model_spec == {"model_signature_name": ["serving_examples"]}
    assert parameters["ScoreWriter"]["output_dir"] == {"componentInputParameter": "output_dir"}
    assert parameters["TextExampleGen"]["input_base"] == {"componentInputParameter": "data_root"}
    custom = parameters["TextExampleGen"]["custom_config"]["runtimeValue"]["constant"]
    assert json.loads(custom)["custom_config"]["value"]["inference"] is True  # file, line kept


def test_scoring_stops_at_once_without_a_model_in_production(tmp_path):
    from tfx.types import standard_artifacts

    from components.core.serving import HAS_MODEL
    from components.scoring import ScoringModel

    baseline, model = standard_artifacts.Model(), standard_artifacts.Model()
    baseline.uri, model.uri = str(tmp_path / "baseline"), str(tmp_path / "model")
    baseline.set_int_custom_property(HAS_MODEL, 0)  # what ProductionBaseline found: nothing
    executor = ScoringModel.EXECUTOR_SPEC.executor_class()
    with pytest.raises(UserError, match="there is no model in production to score with"):
        executor.Do({"baseline": [baseline]}, {"model": [model]}, {})
    assert not (tmp_path / "model").exists()


def test_inference_compile_refuses_the_trainers_settings(tmp_path, capsys):
    target = tmp_path / "i.yaml"
    argv = [
        "compile",
        "--inference",
        "--accelerator-type",
        "nvidia.com/gpu",
        "--package",
        str(target),
    ]
    assert bertpipe(argv) == 2
    assert (
        "--inference compiles the scoring pipeline, which has no Trainer" in capsys.readouterr().err
    )
    assert not target.exists()


def test_the_inference_package_can_be_scheduled(kfp_standin, capsys):
    base = ["schedule", "--endpoint", kfp_standin.url, "--package", str(INFERENCE_PACKAGE)]
    base += ["--cron", "0 0 4 * * *", "--job-name", "nightly-scores"]
    assert bertpipe([*base, "--param", "push_dir=gs://m/serving"]) == 2
    assert re.search(r"missing pipeline parameter\(s\) \['output_dir'\]", capsys.readouterr().err)
    params = ["--param", "push_dir=gs://m/serving", "--param", "output_dir=gs://b/scores"]
    assert bertpipe([*base, *params]) == 0, capsys.readouterr().err
    (request,) = kfp_standin.requests_to("POST", "/recurringruns")
    assert request.body["display_name"] == "nightly-scores"
    assert request.body["runtime_config"]["parameters"] == {
        "push_dir": "gs://m/serving",
        "output_dir": "gs://b/scores",
    }


# -- bertpipe predict --data end to end (a tiny exported model) ----------------------------------
@pytest.fixture(scope="module")
def tiny_model(
    tiny_checkpoint, tmp_path_factory, synthetic_rows, tiny_length, make_transform_output
):
    """A tiny classifier (untrained: scoring does not depend on the weights), exported as the
    Trainer exports it, on the stand-in Transform's output."""
    import tensorflow_transform as tft

    from components.core.config import ModelConfig
    from components.trainer.export import export_serving_model
    from components.trainer.model import build_classifier

    folder = tmp_path_factory.mktemp("tiny_model")
    data = make_transform_output(
        folder,
        str(tiny_checkpoint / "vocab.txt"),
        tiny_length,
        synthetic_rows(16, seed=1),
        synthetic_rows(4, seed=2),
    )
    model_config = ModelConfig(checkpoint=str(tiny_checkpoint), max_seq_length=tiny_length)
    model = build_classifier(model_config, 2, variable_length=True)
    return export_serving_model(
        model, tft.TFTransformOutput(data["transform_output"]), str(folder / "model")
    )


TRAIN = """text,label
a wonderful and brilliant movie,positive
"the plot, the acting: dull",negative
no label on this one,
"an unclosed quote,negative
lovely,positive,extra column
,negative
great,positive
"""
EVAL = "text\nthe story was painful\nsuperb\n"


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_bertpipe_predict_scores_every_row_and_reports_the_rejected_ones(
    tiny_model, tmp_path, capsys
):
    from components.core.serving import predict_probabilities

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text(TRAIN)
    (data / "eval.csv").write_text(EVAL)
    output = tmp_path / "out" / "scores.jsonl"
    assert (
        bertpipe(["predict", "--model", tiny_model, "--data", str(data), "--output", str(output)])
        == 0
    )
    printed = capsys.readouterr().out

    lines = read_lines(output)
    train, evaluation = str(data / "train.csv"), str(data / "eval.csv")
    # Every accepted row, in the order of the input (both splits), with its file and line.
    assert [(line["file"], line["line"]) for line in lines] == [
        (train, 2), (train, 3), (train, 4), (train, 8), (evaluation, 2), (evaluation, 3),
    ]  # fmt: skip
    assert [line.get("true_label") for line in lines] == [
        "positive",
        "negative",
        None,
        "positive",
        None,
        None,
    ]
    texts = [
        "a wonderful and brilliant movie",
        "the plot, the acting: dull",
        "no label on this one",
        "great",
        "the story was painful",
        "superb",
    ]
    for line, expected in zip(lines, predict_probabilities(tiny_model, texts), strict=True):
        assert line["probabilities"] == pytest.approx(expected, abs=1e-5)
        assert line["label"] == max(expected, key=expected.get)
    rejected = read_lines(tmp_path / "out" / "scores.rejected.jsonl")
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (5, "malformed_csv"), (6, "wrong_column_count"), (7, "empty_text"),
    ]  # fmt: skip
    assert all(r["file"] == train for r in rejected)
    correct = sum(line["label"] == line.get("true_label") for line in lines)
    assert f"scored 6 of 9 rows (2 files of {data})" in printed
    assert "rejected rows: 3 (empty_text: 1, malformed_csv: 1, wrong_column_count: 1)" in printed
    assert f"accuracy {correct / 3:.4f} ({correct} of 3 rows with a true label, top-1)" in printed


@pytest.mark.slow
def test_folder_per_label_data_scored_into_csv_and_nothing_to_score_is_an_error(
    tiny_model, tmp_path, capsys
):
    import csv

    for label, texts in {"positive": ["lovely", "superb plot"], "negative": ["awful"]}.items():
        (tmp_path / "reviews" / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (tmp_path / "reviews" / label / f"{i}.txt").write_text(text)
    output = tmp_path / "scores.csv"
    argv = [
        "predict",
        "--model",
        tiny_model,
        "--data",
        str(tmp_path / "reviews"),
        "--output",
        str(output),
    ]
    assert bertpipe(argv) == 0
    with open(output, newline="") as handle:
        records = list(csv.DictReader(handle))
    assert len(records) == 3 and set(records[0]) == {
        "file", "line", "label", "true_label", "probability_negative", "probability_positive",
    }  # fmt: skip
    assert {(Path(r["file"]).parent.name, r["true_label"]) for r in records} == {
        ("positive", "positive"), ("negative", "negative"),
    }  # fmt: skip
    assert not (tmp_path / "scores.rejected.jsonl").exists()
    capsys.readouterr()

    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\n\tpositive\n\tnegative\n")
    argv = [
        "predict",
        "--model",
        tiny_model,
        "--data",
        str(bad),
        "--output",
        str(tmp_path / "bad.jsonl"),
    ]
    assert bertpipe(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no row of" in err and "empty_text: 2" in err
    assert len(read_lines(tmp_path / "bad.rejected.jsonl")) == 2


@pytest.mark.slow
@pytest.mark.realdata
def test_sst2_dev_gives_one_line_per_row(tiny_model, shared_data, tmp_path, capsys):
    output = tmp_path / "x.jsonl"
    argv = ["predict", "--model", tiny_model, "--data", str(shared_data / "sst2" / "dev.tsv")]
    assert bertpipe([*argv, "--output", str(output)]) == 0
    lines = read_lines(output)
    assert len(lines) == 872 and [line["line"] for line in lines] == list(range(2, 874))
    assert "scored 872 of 872 rows" in capsys.readouterr().out


@pytest.mark.slow
def test_each_window_is_scored_in_length_sorted_batches_and_given_back_in_order(tiny_model):
    import tensorflow as tf

    from components.core.serving import predict_probabilities
    from components.scoring.score import ScoreExamples

    texts = [
        "a much longer sentence about the plot and the acting",
        "ok",
        "fine movie",
        "x y z w",
        "great",
    ]
    window = [row_example(Row("f", i + 1, text=t), inference=True) for i, t in enumerate(texts)]
    scorer = ScoreExamples(tiny_model, batch_size=2)
    scorer.setup()
    batches = []
    serve = scorer._serve

    def spy(**inputs):
        examples = map(tf.train.Example.FromString, inputs["examples"].numpy())
        batches.append([e.features.feature["text"].bytes_list.value[0].decode() for e in examples])
        return serve(**inputs)

    scorer._serve = spy
    rows = list(scorer.process(window))
    assert batches == [["ok", "great"], ["x y z w", "fine movie"], [texts[0]]]  # by length
    assert [row.line for row in rows] == [1, 2, 3, 4, 5]  # the window's order
    for row, expected in zip(rows, predict_probabilities(tiny_model, texts), strict=True):
        assert row.probabilities == pytest.approx(expected, abs=1e-5)
