"""The run report from hand-made facts: the blocks and their renderings, the blessing-rule lines
read from the failure records, report.json and history.json read back as typed records."""

from __future__ import annotations

import json

import pytest

from components.core.artifacts import HISTORY_FILE, read_training_history
from components.core.drift import Baseline, DriftResult, FeatureDrift, Row
from components.core.evaluation import (
    MAJORITY_MARGIN,
    MAX_ACCURACY_DROP,
    MIN_ACCURACY,
    BoundFailure,
    Bounds,
    Evaluation,
)
from components.core.training_history import TrainingHistory, TrainingHistoryError
from components.report import render
from components.report.facts import RunFacts
from components.report.sections import bound_lines, sections
from components.report.summary import summary


def history_json(**changes) -> dict:
    """A history.json as the Trainer writes it (keys in its order)."""
    values = {
        "steps": [
            {"step": 1, "loss": 0.69, "accuracy": 0.5, "learning_rate": 1e-4},
            {"step": 2, "loss": 0.61, "accuracy": 0.75, "learning_rate": 5e-5},
        ],
        "resumed_at": [1],
        "eval": {"loss": 0.6, "accuracy": 0.7, "examples": 37, "batches": 5},
        "labels": ["negative", "positive"],
        "train_steps": 2,
        "batch_size": 8,
        "strategy": "one CPU",
        "replicas": 1,
        "precision": "float32",
        "precision_reason": "auto: no native bfloat16",
        "jit_compile": False,
        "trim_padding": True,
        "train_seconds": 3.5,
        "warm_start": "/serving/7",
        "config": {
            "model": {"checkpoint": "/ckpt/tiny", "max_seq_length": 32},
            "train": {"learning_rate": 0.0001},
        },
    }
    values.update(changes)
    return values


def facts_with(failures: list[BoundFailure], **fields) -> RunFacts:
    evaluation = Evaluation(
        metrics={"sparse_categorical_accuracy": 0.5, "balanced_accuracy": 0.5},
        per_class={0: {"support": 3.0}, 1: {"support": 1.0}},
        baseline_metrics={"sparse_categorical_accuracy": 0.9},
        bounds=Bounds(min_accuracy=0.6, majority_margin=0.1, max_accuracy_drop=0.01),
        failures=failures,
    )
    return RunFacts(
        labels=["negative", "positive"],
        evaluation=evaluation,
        production={"version": 7, "path": "/serving/7"},
        **fields,
    )


def test_an_unknown_block_is_an_error_in_both_renderings():
    blocks = [render.Heading("Verdict"), "NOT BLESSED"]
    with pytest.raises(TypeError, match="not a report block: 'NOT BLESSED'; expected one of"):
        render.markdown(blocks)
    with pytest.raises(TypeError, match="not a report block: 'NOT BLESSED'"):
        render.html(blocks, {})


def test_bound_lines_say_failed_from_the_record_not_the_message():
    failures = [
        # The bound is named by the record, whatever the message says.
        BoundFailure(bound=MIN_ACCURACY, message="accuracy too low"),
        # A failure on a slice does not fail the bound over the whole eval split.
        BoundFailure(
            bound=MAJORITY_MARGIN,
            message="label=positive: majority_margin: too close",
            slice="label=positive",
        ),
        # A message that starts with a bound's name is no failure of that bound.
        BoundFailure(bound="auc", message="max_accuracy_drop: auc = 0.4000 fails ..."),
    ]
    lines = bound_lines(facts_with(failures))
    assert [line.split(" ", 1)[0] for line in lines] == [
        MIN_ACCURACY,
        MAJORITY_MARGIN,
        MAX_ACCURACY_DROP,
    ]
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["FAILED", "passed", "passed"]


def test_failures_are_listed_as_their_messages_in_the_report_and_the_summary():
    failures = [
        BoundFailure(bound=MIN_ACCURACY, message="min_accuracy: accuracy 0.5000 is below 0.6"),
        BoundFailure(bound=None, message="validation failed: validation_ok: false"),
    ]
    facts = facts_with(failures)
    text = render.markdown(sections(facts, []))
    assert "- min_accuracy: accuracy 0.5000 is below 0.6\n- validation failed:" in text
    assert summary(facts).splitlines()[-3:] == [
        "NOT BLESSED, nothing pushed:",
        "  - min_accuracy: accuracy 0.5000 is below 0.6",
        "  - validation failed: validation_ok: false",
    ]


def test_report_json_round_trips_the_failure_records_and_the_training_history():
    failures = [
        BoundFailure(bound=MIN_ACCURACY, message="min_accuracy: accuracy 0.5000 is below 0.6"),
        BoundFailure(
            bound=MIN_ACCURACY,
            message="length_bucket=8: min_accuracy: ...",
            slice="length_bucket=8",
        ),
        BoundFailure(bound=None, message="validation failed: validation_ok: false"),
    ]
    history = TrainingHistory.from_dict(history_json())
    facts = facts_with(failures, training=history, blessed=False, truncation_share=0.25)
    text = facts.to_json()
    written = json.loads(text)
    assert written["evaluation"]["failures"][1] == {
        "bound": MIN_ACCURACY,
        "message": "length_bucket=8: min_accuracy: ...",
        "slice": "length_bucket=8",
    }
    assert written["training"] == history_json()  # history.json's form, as it was
    again = RunFacts.from_json(text)
    assert again == facts
    assert again.evaluation.failures[1].slice == "length_bucket=8"
    assert RunFacts.from_json(RunFacts().to_json()).training is None


def test_the_training_history_keeps_history_json_keys_and_their_order():
    values = history_json()
    history = TrainingHistory.from_dict(values)
    assert history.steps[1].loss == 0.61 and history.evaluation.examples == 37
    assert (history.checkpoint, history.max_seq_length, history.learning_rate) == (
        "/ckpt/tiny",
        32,
        0.0001,
    )
    assert json.dumps(history.to_dict()) == json.dumps(values)


def test_a_history_without_the_later_keys_or_an_eval_reads_as_none():
    values = history_json(
        steps=[{"step": 1, "loss": 0.69, "learning_rate": 1e-4}],
        eval={"examples": 0, "batches": 0},  # an empty eval split
    )
    for key in ("precision_reason", "trim_padding", "warm_start"):
        del values[key]
    history = TrainingHistory.from_dict(values)
    assert history.precision_reason is None and history.warm_start is None
    assert history.steps[0].accuracy is None and history.evaluation.loss is None
    assert history.to_dict() == values  # what was absent stays absent

    text = render.markdown(sections(RunFacts(training=history), []))
    assert "The Trainer's own evaluation: loss n/a, accuracy n/a on 0 examples." in text
    assert "warm-started" not in text


def test_a_history_that_lacks_a_key_or_has_a_strange_one_is_named(tmp_path):
    values = history_json()
    del values["batch_size"]
    values["epochs"] = 1
    (tmp_path / HISTORY_FILE).write_text(json.dumps(values))
    with pytest.raises(
        TrainingHistoryError, match=r"history.json: missing \['batch_size'\]; unknown \['epochs'\]"
    ):
        read_training_history(str(tmp_path))
    broken = history_json()
    del broken["steps"][1]["loss"]
    with pytest.raises(TrainingHistoryError, match=r"steps\[1\]: missing \['loss'\]"):
        TrainingHistory.from_dict(broken)
    no_length = history_json(config={"model": {"checkpoint": ""}, "train": {"learning_rate": 1}})
    with pytest.raises(TrainingHistoryError, match="config.model lacks 'max_seq_length'"):
        TrainingHistory.from_dict(no_length)


def test_read_training_history_is_none_without_a_file_and_typed_with_one(tmp_path):
    assert read_training_history(str(tmp_path)) is None
    (tmp_path / HISTORY_FILE).write_text(json.dumps(history_json()))
    assert read_training_history(str(tmp_path)) == TrainingHistory.from_dict(history_json())


def test_a_run_without_training_history_says_so_without_placeholders():
    text = render.markdown(sections(RunFacts(truncation_share=0.125), []))
    assert text.splitlines()[2] == "Data (data root not recorded)."
    assert "Truncated examples: 12.5%." in text
    assert "The Trainer recorded no training history." in text
    assert "?" not in text


def test_the_settings_and_the_training_come_from_the_history():
    facts = RunFacts(
        data_root="/data/sms",
        span=3,
        truncation_share=0.125,
        training=TrainingHistory.from_dict(history_json()),
    )
    text = render.markdown(sections(facts, []))
    assert text.splitlines()[2] == (
        "Data `/data/sms`, span 3; checkpoint `/ckpt/tiny`; 2 training steps of 8 at sequence"
        " length 32, learning rate 0.0001; warm-started from `/serving/7`."
    )
    assert "Truncated examples (longer than 32 tokens): 12.5%." in text
    assert (
        "one CPU, float32, 3.5 s of training. The Trainer's own evaluation: loss 0.6000, accuracy"
        " 0.7000 on 37 examples." in text
    )
    assert "Resumed after steps [1] (restarts)." in text
    assert "training warm-started from the model in production" in summary(facts)


def test_the_drift_section_shows_both_distributions_and_round_trips():
    label = FeatureDrift(
        split="train",
        feature="label",
        distance=0.45,
        threshold=0.2,
        drifted=True,
        rows=[Row("negative", 0.95, 0.5), Row("positive", 0.05, 0.5)],
    )
    truncated = FeatureDrift("train", "truncated", 0.0, None, False, [Row("truncated texts", 0, 0)])
    baseline = Baseline(Baseline.PRODUCTION, 7, 1, "/serving/7/stats")
    drift = DriftResult(span=2, baseline=baseline, features=[label, truncated], statistics="/s")
    facts = facts_with([], drift=drift)
    text = render.markdown(sections(facts, []))
    section = text.split("## Drift from the data of the model in production\n\n", 1)[1]
    assert section.startswith(
        "drift: span 2 against the training data of the model in production (version 7, span 1):"
        " DRIFTED (1 of 2 checks)"
    )
    assert (
        "DRIFTED: label distribution (train split): L-infinity distance 0.4500, above the"
        " threshold 0.2 (--max-label-distance)"
    ) in section
    assert "| label distribution | this span | baseline |\n|---|---|---|\n" in section
    assert "| negative | 95.0% | 50.0% |" in section
    assert "(not checked: --max-truncated-change is off)" in section
    assert summary(facts).splitlines()[4].startswith("drift: span 2 against")
    assert RunFacts.from_json(facts.to_json()) == facts
    assert RunFacts.from_json(RunFacts().to_json()).drift is None
    nothing = DriftResult(span=1, reason="no model in production")
    assert "drift: nothing to compare span 1 with: no model in production" in summary(
        facts_with([], drift=nothing)
    )


def test_a_two_class_model_shows_the_f1_of_class_1_beside_accuracy():
    facts = facts_with([], blessed=True, pushed_to="/serving/8")
    facts.evaluation.per_class[1]["f1_score"] = 0.8123
    line = next(line for line in summary(facts).splitlines() if line.startswith("eval split"))
    assert "accuracy 0.5000, F1 of 'positive' 0.8123, balanced accuracy 0.5000" in line
    text = render.markdown(sections(facts, []))
    assert "| accuracy | 0.5000 | 0.9000 |\n| F1 of 'positive' | 0.8123 | n/a |" in text
    assert "sentence pairs" not in text
    facts.pairs = True
    assert "Data (data root not recorded) (sentence pairs: `text` and `text_pair`)." in (
        render.markdown(sections(facts, []))
    )
    assert RunFacts.from_json(facts.to_json()).pairs
    # Three classes: no positive class, no such line.
    facts.labels = ["a", "b", "c"]
    assert "F1 of" not in summary(facts) and "F1 of" not in render.markdown(sections(facts, []))
