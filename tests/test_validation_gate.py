"""The data-validation gate: schema anomalies stop a real pipeline run before Transform and Trainer."""

import re

import pytest

from components.core.config import SCHEMAS_DIR, Config
from components.schema import SchemaError, class_names, infer_schema, schema_file
from components.text_example_gen import read_accepted_rows
from components.validation_gate import DataValidationError
from pipeline.history import local_history
from pipeline.local_runner import run_pipeline
from pipeline.preflight import check_schema


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "text,label\n" + "".join(f"{t},{label}\n" for t, label in rows), encoding="utf-8"
    )


@pytest.mark.slow
def test_an_unknown_label_stops_the_run_before_transform(tmp_path):
    data = tmp_path / "sst2"
    rows = [(f"a fine sentence number {i}", i % 2) for i in range(40)]
    write_csv(data / "train.csv", rows + [("an unexpected third class", 2)])
    write_csv(data / "eval.csv", rows[:10])
    config = Config().replace(
        data={"data": str(data), "max_rejected_fraction": 0.0},
        run={"output": str(tmp_path / "run")},
    )
    assert schema_file(config.data) == str(SCHEMAS_DIR / "sst2" / "schema.pbtxt")

    with pytest.raises(DataValidationError) as failure:
        run_pipeline(config)

    message = str(failure.value)
    assert "split 'train', feature 'label'" in message
    assert re.search(r"Unexpected string values: .*missing from the schema: 2 \(", message), message
    assert "split 'eval'" not in message
    root = tmp_path / "run" / "pipeline_root"
    assert (root / "ExampleValidator").is_dir()
    assert not (root / "Transform").exists() and not (root / "Trainer").exists()
    # `bertpipe history` lists the run with the step that stopped it.
    (run,) = local_history(str(tmp_path / "run"))
    assert (run.verdict, run.stopped_at, run.accuracy) == ("stopped", "ValidationGate", None)


def test_schema_is_picked_by_data_folder_name_or_generic(tmp_path):
    assert schema_file(Config().data).endswith("schemas/sample_data/schema.pbtxt")
    assert class_names(Config().data) == ("negative", "positive")
    other = Config().replace(data={"data": str(tmp_path / "reviews")}).data
    assert schema_file(other).endswith("schemas/generic/schema.pbtxt")
    assert class_names(other) == ()
    declared = Config().replace(data={"data": str(tmp_path), "labels": ("b", "a")}).data
    assert class_names(declared) == ("b", "a")


@pytest.mark.slow
@pytest.mark.realdata
def test_infer_schema_proposes_the_label_domain(sms_spam_settings):
    data = Config().replace(data=sms_spam_settings).data
    rows = read_accepted_rows(data)
    text = infer_schema(rows.texts, rows.labels, rows.rejected, source=data.data)
    assert "5574 accepted rows (0 rejected)" in text
    assert "'ham' x4827" in text and "'spam' x747" in text
    assert 'string_domain {\n  name: "label"\n  value: "ham"\n  value: "spam"\n}' in text
    assert text.count("min_fraction: 1.0") == 2


def test_a_pair_task_gets_a_pair_schema_and_a_schema_of_the_other_kind_is_refused(tmp_path):
    def data(folder: str, **settings):
        return Config().replace(data={"data": str(tmp_path / folder), **settings}).data

    pair = data("reviews", text_pair_column="second")
    assert schema_file(pair).endswith("schemas/generic_pair/schema.pbtxt")
    mrpc = data("mrpc", text_pair_column="#2 String")
    assert schema_file(mrpc).endswith("schemas/mrpc/schema.pbtxt")
    assert class_names(mrpc) == ("0", "1")
    check_schema(pair)
    check_schema(mrpc)
    with pytest.raises(SchemaError, match=r"mrpc/schema.pbtxt has a 'text_pair' feature .* set"
                       r" data.text_pair_column"):  # fmt: skip
        check_schema(data("mrpc"))
    with pytest.raises(SchemaError, match=r"sst2/schema.pbtxt has no 'text_pair' feature"):
        check_schema(data("sst2", text_pair_column="second"))


def test_infer_schema_proposes_the_second_text_of_a_pair_task():
    text = infer_schema(["a", "b"], ["0", "1"], 0, "pairs.tsv", text_pairs=["c", "d"])
    assert 'name: "text_pair"' in text and text.count("min_fraction: 1.0") == 3
