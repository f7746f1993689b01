"""The Evaluator through TFX's own executor and a real TFMA run: per-class metrics from the top-1
prediction against hand counts (2 and 4 classes), named by label in the report, the blessing
rule against the majority-class baseline on imbalanced data, the lower ends of the 95% intervals
on a split too small to decide, and balanced accuracy against the model in production."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.core.config import Config
from components.core.evaluation import (
    MAJORITY_MARGIN,
    MAX_ACCURACY_DROP,
    MAX_BALANCED_ACCURACY_DROP,
    MIN_ACCURACY,
    BoundFailure,
    Evaluation,
    load_evaluation,
)
from components.report import render
from components.report.facts import RunFacts
from components.report.sections import bound_lines, sections

pytestmark = pytest.mark.slow

SPAM = ("ham", "spam")
NEWS = ("World", "Sports", "Business", "Sci/Tech")


def write_known_model(
    export_dir: Path, classes: tuple[str, ...], top: float, answer: str = "text"
) -> Path:
    """A serving model (the pipeline's signatures) whose answers are known: an example's feature
    `answer` (its text) names the class it answers, with probability `top` (the others share the
    rest). Its `transform_features` maps the `label` feature to `label_id` by the order of
    `classes`."""
    import tensorflow as tf

    table = tf.constant(list(classes))
    others = (1 - top) / (len(classes) - 1)

    def ids(strings):
        return tf.argmax(tf.cast(tf.equal(strings[:, None], table[None, :]), tf.int64), axis=1)

    def feature(examples, name):
        spec = {name: tf.io.FixedLenFeature([], tf.string)}
        return tf.io.parse_example(examples, spec)[name]

    class Known(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_examples(self, examples):
            answered = ids(feature(examples, answer))
            return {
                "probabilities": tf.one_hot(answered, len(classes), top, others),
                "label_id": answered,
                "label": tf.gather(table, answered),
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def transform_features(self, examples):
            label_id = ids(feature(examples, "label"))
            return {"label_id": label_id, "length_bucket": tf.fill(tf.shape(label_id), "1-16")}

    model = Known()
    signatures = {"serving_examples": model.serving_examples}
    signatures["transform_features"] = model.transform_features
    tf.saved_model.save(model, str(export_dir / "Format-Serving"), signatures=signatures)
    return export_dir


def evaluate(
    root: Path, model_uri: Path, rows, baseline_uri: Path | None = None, **bounds
) -> tuple[Evaluation, bool]:
    """Runs the Evaluator's executor (TFX's, with this project's EvalConfig) on eval examples
    `rows` of (text, label[, production's answer]) against the model in production at
    `baseline_uri` (none by default); `bounds` are the runtime settings min_accuracy /
    majority_margin. Returns the evaluation read back and whether the model was blessed."""
    import tensorflow as tf
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import proto_utils

    from components.evaluator import build_eval_config
    from components.evaluator.executor import Executor

    split = root / "examples" / "Split-eval"
    split.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(split / "data.gz"), options="GZIP") as writer:
        for text, label, *production in rows:
            values = {"text": text, "label": label, "production": "".join(production)}
            example = tf.train.Example()
            for name, value in values.items():
                example.features.feature[name].bytes_list.value.append(value.encode())
            writer.write(example.SerializeToString())
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    model = standard_artifacts.Model()
    model.uri = str(model_uri)
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = str(root / "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(root / "blessing")
    os.makedirs(blessing.uri)
    inputs = {"examples": [examples], "model": [model]}
    if baseline_uri is not None:
        baseline = standard_artifacts.Model()
        baseline.uri = str(baseline_uri)
        inputs["baseline_model"] = [baseline]
    Executor().Do(
        inputs,
        {"evaluation": [evaluation], "blessing": [blessing]},
        {"eval_config": proto_utils.proto_to_json(build_eval_config(Config())), **bounds},
    )
    return load_evaluation(evaluation.uri), os.listdir(blessing.uri) == ["BLESSED"]


def answered(pairs: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """Rows (text = the class the known model answers, label) from {(actual, answered): n}."""
    return [(guess, actual) for (actual, guess), n in pairs.items() for _ in range(n)]


def test_two_classes_match_a_hand_count(tmp_path):
    # ham: 6 right, 2 called spam; spam: 3 right, 1 called ham. Class 1 (spam) is "positive".
    rows = answered(
        {("ham", "ham"): 6, ("ham", "spam"): 2, ("spam", "ham"): 1, ("spam", "spam"): 3}
    )
    model = write_known_model(tmp_path / "model", SPAM, top=0.8)
    # Twelve examples: the lower ends of the intervals are far below the point values.
    result, blessed = evaluate(tmp_path, model, rows, min_accuracy=0.4, majority_margin=-0.05)

    assert result.per_class == {
        0: pytest.approx({"precision": 6 / 7, "recall": 6 / 8, "f1_score": 0.8, "support": 8}),
        1: pytest.approx({"precision": 3 / 5, "recall": 3 / 4, "f1_score": 2 / 3, "support": 4}),
    }
    assert result.metrics == pytest.approx(
        {
            "example_count": 12,
            "sparse_categorical_accuracy": 9 / 12,
            "macro_precision": (6 / 7 + 3 / 5) / 2,
            "macro_recall": 0.75,
            "macro_f1_score": (0.8 + 2 / 3) / 2,
            "balanced_accuracy": 0.75,
            "balanced_accuracy_lift": 0.75 - 1 / 2,
            "balanced_accuracy_lift_ci_low": 0.4680 - 1 / 2,
            # Scores 0.8 / 0.2 for spam: P(spam scored above ham) + half the ties
            # = (3 * 6 + (3 * 2 + 1 * 6) / 2) / (4 * 8).
            "auc/class_1": 0.75,
        },
        abs=2e-3,  # TFMA's AUC is a sum over 10,000 thresholds
    )
    assert sorted(result.confusion) == [(0, 0, 6), (0, 1, 2), (1, 0, 1), (1, 1, 3)]
    # Wilson for 9 of 12; balanced accuracy's from Wilson for 6 of 8 and 3 of 4 (MOVER).
    assert {name: str(interval) for name, interval in result.intervals.items()} == {
        "sparse_categorical_accuracy": "0.4677-0.9111",
        "balanced_accuracy": "0.4680-0.8857",
    }
    assert (result.majority.class_id, result.majority.share) == (0, 8 / 12)
    assert result.passed and blessed and not result.failures
    assert (result.bounds.min_accuracy, result.bounds.majority_margin) == (0.4, -0.05)


def test_four_classes_match_a_hand_count_and_the_report_names_them(tmp_path):
    # The answered class has probability 0.4 only: a per-class binarization at 0.5 would count
    # no answer at all. Business is never answered; Sci/Tech is answered once but never occurs.
    rows = answered(
        {
            ("World", "World"): 3,
            ("World", "Sports"): 1,
            ("Sports", "Sports"): 2,
            ("Sports", "World"): 1,
            ("Sports", "Sci/Tech"): 1,
            ("Business", "World"): 1,
            ("Business", "Sports"): 1,
        }
    )
    model = write_known_model(tmp_path / "model", NEWS, top=0.4)
    result, blessed = evaluate(tmp_path, model, rows, min_accuracy=0.2, majority_margin=0.1)

    assert result.per_class == {
        0: pytest.approx({"precision": 3 / 5, "recall": 3 / 4, "f1_score": 2 / 3, "support": 4}),
        1: pytest.approx({"precision": 2 / 4, "recall": 2 / 4, "f1_score": 1 / 2, "support": 4}),
        2: {"precision": 0.0, "recall": 0.0, "f1_score": 0.0, "support": 2.0},
        3: {"precision": 0.0, "recall": 0.0, "f1_score": 0.0, "support": 0.0},
    }
    balanced = (3 / 4 + 2 / 4 + 0) / 3  # the three classes that occur in the labels
    assert result.metrics == pytest.approx(
        {
            "example_count": 10,
            "sparse_categorical_accuracy": 5 / 10,
            "macro_precision": (3 / 5 + 2 / 4) / 4,  # the four classes labelled or answered
            "macro_recall": (3 / 4 + 2 / 4) / 4,
            "macro_f1_score": (2 / 3 + 1 / 2) / 4,
            "balanced_accuracy": balanced,
            "balanced_accuracy_lift": balanced - 1 / 3,
            "balanced_accuracy_lift_ci_low": result.intervals["balanced_accuracy"].low - 1 / 3,
        }
    )
    assert "auc/class_1" not in result.metrics  # AUC is for two-class models
    # The label slices: each label's accuracy is its recall.
    slices = dict(result.slices)
    assert slices["label=World"]["sparse_categorical_accuracy"] == pytest.approx(3 / 4)
    assert slices["label=Business"]["example_count"] == 2

    # Lift 1/12 is below the margin 0.1: not blessed, and the failure names the bound.
    majority = result.majority
    assert (majority.class_id, majority.share, majority.classes) == (0, 0.4, 3)
    assert majority.macro_f1_score == pytest.approx(2 * 0.4 / 1.4 / 3)
    assert not blessed and not result.passed
    (failure,) = result.failures
    assert failure.bound == MAJORITY_MARGIN and failure.slice is None
    assert failure.message.startswith("majority_margin: balanced accuracy 0.4167 (95% interval ")
    assert failure.message.endswith(
        "is below the majority-class baseline's 0.3333 (always class 0, 40.0% of the eval"
        " split) + 0.1 = 0.4333"
    )

    facts = RunFacts(labels=list(NEWS), evaluation=result)
    assert bound_lines(facts)[1].endswith(": FAILED")  # majority_margin; min_accuracy passed
    assert bound_lines(facts)[0].endswith(": passed")
    text = render.markdown(sections(facts, []))
    assert "| World | 0.6000 | 0.7500 | 0.6667 | 4 | 5 |" in text
    assert "| Business | 0.0000 (never predicted) | 0.0000 | 0.0000 | 2 | 0 |" in text
    assert "| Sci/Tech | 0.0000 | 0.0000 (no examples) | 0.0000 | 0 | 1 |" in text
    assert "| macro average | 0.2750 | 0.3125 | 0.2917 | 10 |  |" in text
    assert "| World | 3 | 1 | 0 | 0 |" in text  # the confusion matrix row of World
    assert "always 'World' (40.0% of the eval split)" in text


@pytest.fixture(scope="module")
def imbalanced_eval(synthetic_rows):
    return synthetic_rows(40, seed=6, positive_every=5)  # 8 positive, 32 negative


def test_a_model_that_always_answers_the_majority_class_is_not_blessed(imbalanced_eval, tmp_path):
    rows = [("negative", label) for _, label in imbalanced_eval]
    model = write_known_model(tmp_path / "model", ("negative", "positive"), top=0.9)
    result, blessed = evaluate(tmp_path, model, rows, min_accuracy=0.6, majority_margin=0.05)

    assert result.metrics["sparse_categorical_accuracy"] == pytest.approx(0.8)  # passes 0.6
    assert result.metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert result.per_class[1]["recall"] == 0.0
    assert not blessed
    assert result.failures == [
        BoundFailure(
            bound=MAJORITY_MARGIN,
            message="majority_margin: balanced accuracy 0.5000 (95% interval 0.4464-0.6622, 40"
            " eval examples) is below the majority-class baseline's 0.5000 (always class 0,"
            " 80.0% of the eval split) + 0.05 = 0.5500",
        )
    ]


def test_a_model_that_learned_is_blessed(
    imbalanced_eval,
    synthetic_rows,
    tiny_checkpoint,
    tiny_length,
    make_transform_output,
    make_fn_args,
    tiny_config,
    tmp_path,
):
    from components.trainer import module as trainer

    data = make_transform_output(
        tmp_path / "transform",
        str(tiny_checkpoint / "vocab.txt"),
        tiny_length,
        synthetic_rows(160, seed=5, positive_every=5),
        imbalanced_eval,
    )
    # Trained on the same imbalance (1 in 5 positive). At 100 steps (of 1e-3 or 3e-3) this tiny
    # BERT may still answer "negative" to everything (accuracy 0.8), depending on the batch order
    # (seen with length-sorted windows on one CPU); 400 steps of 1e-3 learned the words with
    # seeds 1, 2, 3 and 42 on this imbalance (and 300 steps with seeds 1-3 on balanced data).
    # The steps cost ~4 s.
    config = tiny_config(tiny_checkpoint, train_steps=400, checkpoint_every=400)
    fn_args = make_fn_args(data, config, tmp_path / "trained")
    trainer.run_fn(fn_args)

    model_uri = Path(fn_args.serving_model_dir).parent
    result, blessed = evaluate(tmp_path, model_uri, imbalanced_eval, majority_margin=0.05)
    assert result.metrics["balanced_accuracy_lift"] >= 0.05, result.metrics
    assert result.per_class[1]["recall"] > 0
    assert blessed and result.passed, result.failures


def test_a_split_too_small_to_decide_is_not_blessed_and_says_so(tmp_path, capsys):
    """Ten examples (6 ham, 4 spam), accuracy 0.70 and balanced accuracy 0.75: a point-value
    rule would bless it against the default bounds (0.6; 0.50 + 0.05), the intervals do not."""
    from pipeline.cli import main as bertpipe

    rows = answered({("ham", "ham"): 3, ("ham", "spam"): 3, ("spam", "spam"): 4})
    model = write_known_model(tmp_path / "model", SPAM, top=0.9)
    result, blessed = evaluate(tmp_path, model, rows, min_accuracy=0.6, majority_margin=0.05)

    assert result.metrics["sparse_categorical_accuracy"] == pytest.approx(0.7)
    assert result.metrics["balanced_accuracy_lift"] == pytest.approx(0.25)
    assert not blessed and not result.passed
    assert result.failures == [
        BoundFailure(
            bound=MIN_ACCURACY,
            message="min_accuracy: 10 eval examples: accuracy 0.7000, 95% interval"
            " 0.3968-0.8922, too wide to clear the bound 0.6",
        ),
        BoundFailure(
            bound=MAJORITY_MARGIN,
            message="majority_margin: 10 eval examples: balanced accuracy 0.7500, 95% interval"
            " 0.4595-0.9062, too wide to clear the majority-class baseline's 0.5000 (always"
            " class 0, 60.0% of the eval split) + 0.05 = 0.5500",
        ),
    ]
    # `bertpipe explain` reads the same decision and the intervals back from the output alone.
    assert bertpipe(["explain", "--evaluation", str(tmp_path / "evaluation")]) == 1
    out = capsys.readouterr().out
    assert "  - min_accuracy: 10 eval examples: accuracy 0.7000, 95% interval 0.3968-0.8922" in out
    assert (
        "eval split (10 examples): accuracy 0.7000 (95% interval 0.3968-0.8922), balanced"
        " accuracy 0.7500 (95% interval 0.4595-0.9062)" in out
    )


def test_a_model_that_gives_up_a_class_on_a_majority_heavy_split_is_refused(tmp_path):
    """The eval split turned 95% ham: the candidate answers ham to nearly everything and gains
    accuracy on production (0.96 against 0.86), but loses balanced accuracy (0.63 against 0.81)."""
    rows = [
        (candidate, actual, production)
        for actual, candidate, production, n in (
            ("ham", "ham", "ham", 66),
            ("ham", "ham", "spam", 10),
            ("spam", "spam", "spam", 1),
            ("spam", "ham", "spam", 2),
            ("spam", "ham", "ham", 1),
        )
        for _ in range(n)
    ]
    model = write_known_model(tmp_path / "model", SPAM, top=0.9)
    production = write_known_model(tmp_path / "production", SPAM, top=0.9, answer="production")
    result, blessed = evaluate(
        tmp_path, model, rows, baseline_uri=production, min_accuracy=0.6, majority_margin=-1.0
    )

    assert result.metrics["sparse_categorical_accuracy"] == pytest.approx(77 / 80)
    assert result.baseline_metrics["sparse_categorical_accuracy"] == pytest.approx(69 / 80)
    assert result.baseline_metrics["balanced_accuracy"] == pytest.approx((66 / 76 + 3 / 4) / 2)
    assert (result.bounds.max_accuracy_drop, result.bounds.max_balanced_accuracy_drop) == (
        0.01,
        0.01,
    )
    assert not blessed
    drop = (1 + 1 / 4) / 2 - (66 / 76 + 3 / 4) / 2
    assert result.failures == [
        BoundFailure(
            bound=MAX_BALANCED_ACCURACY_DROP,
            message=f"max_balanced_accuracy_drop: balanced accuracy change against production ="
            f" {drop:+.4f} (production 0.8092, 80 eval examples), more than the allowed drop"
            " 0.01",
        )
    ]
    assert MAX_ACCURACY_DROP not in {failure.bound for failure in result.failures}
