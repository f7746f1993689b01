"""The blessing rule's statistics without a TFMA run: the 95% intervals against known values, the
decision on the lower ends (a split too small to decide), the one-line reasons, and how the
report, the summary and report.json show the intervals."""

from __future__ import annotations

import pytest
from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2

from components.core.config import Config
from components.core.evaluation import (
    ACCURACY,
    ACCURACY_LOW,
    BALANCED_ACCURACY,
    BALANCED_ACCURACY_LIFT_LOW,
    MAJORITY_MARGIN,
    MAX_BALANCED_ACCURACY_DROP,
    MIN_ACCURACY,
    BoundFailure,
    Bounds,
    Evaluation,
    Interval,
    _failure_line,
    bounds,
    with_interval,
)
from components.evaluator.eval_config import build_eval_config, set_bound
from components.evaluator.intervals import Z, mean_of_proportions, wilson
from components.evaluator.metrics import interval_scores
from components.report import render
from components.report.facts import RunFacts
from components.report.sections import bound_lines, sections
from components.report.summary import summary


def test_wilson_matches_known_values():
    assert pytest.approx(1.959964, abs=1e-6) == Z
    assert wilson(7, 10) == pytest.approx((0.3968, 0.8922), abs=1e-4)
    # Newcombe (1998), table I: 81 of 263 -> 0.2553-0.3662; 15 of 148 -> 0.0624-0.1605.
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    # No collapse at the edges, unlike p +- z sqrt(p (1 - p) / n): 0 of 10 and 10 of 10.
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)  # no examples: no evidence either way


def test_the_balanced_accuracy_interval_combines_the_per_class_intervals():
    # One class: its Wilson interval.
    assert mean_of_proportions([(7, 10)]) == pytest.approx(wilson(7, 10))
    # MOVER: mean -+ sqrt(sum of squared distances to each recall's Wilson ends) / K.
    (l1, u1), (l2, u2) = wilson(3, 6), wilson(4, 4)
    mean = (3 / 6 + 4 / 4) / 2
    low = mean - ((0.5 - l1) ** 2 + (1 - l2) ** 2) ** 0.5 / 2
    high = mean + ((u1 - 0.5) ** 2 + (u2 - 1) ** 2) ** 0.5 / 2
    assert mean_of_proportions([(3, 6), (4, 4)]) == pytest.approx((low, high))
    assert (round(low, 4), round(high, 4)) == (0.4595, 0.9062)
    # Many examples per class: close to the normal approximation of the mean.
    low, high = mean_of_proportions([(8000, 10000), (6000, 10000)])
    half = Z * ((0.8 * 0.2 + 0.6 * 0.4) / 10000) ** 0.5 / 2
    assert (low, high) == pytest.approx((0.7 - half, 0.7 + half), abs=2e-4)
    # A class with few examples widens the interval: its recall weighs 1 / K all the same.
    assert (
        mean_of_proportions([(950, 1000), (4, 5)])[0]
        < mean_of_proportions([(950, 1000), (400, 500)])[0] - 0.1
    )


def test_ten_examples_that_a_point_value_rule_would_bless_do_not_clear_the_lower_ends():
    # 6 of class 0 (3 right), 4 of class 1 (all right): accuracy 0.70, balanced accuracy 0.75.
    counts = {(0, 0): 3.0, (0, 1): 3.0, (1, 1): 4.0}
    scores = interval_scores(counts)
    defaults = Config().eval
    assert defaults.min_accuracy <= 0.7 and defaults.majority_margin <= 0.75 - 0.5
    assert scores[ACCURACY_LOW] == pytest.approx(0.3968, abs=1e-4)
    assert scores[ACCURACY_LOW] < defaults.min_accuracy
    assert scores[BALANCED_ACCURACY_LIFT_LOW] == pytest.approx(0.4595 - 0.5, abs=1e-4)
    assert scores[BALANCED_ACCURACY_LIFT_LOW] < defaults.majority_margin
    # A no-prediction answer (-1) counts for the class's examples, not for its hits.
    assert interval_scores({(0, 0): 3.0, (0, -1): 1.0})[ACCURACY_LOW] == pytest.approx(
        wilson(3, 4)[0]
    )


def test_the_eval_config_judges_the_lower_ends_and_balanced_accuracy_against_production():
    config = Config().replace(eval={"max_balanced_accuracy_drop": 0.03})
    eval_config = build_eval_config(config)
    assert bounds(eval_config) == Bounds(
        min_accuracy=0.6,
        majority_margin=0.05,
        max_accuracy_drop=0.01,
        max_balanced_accuracy_drop=0.03,
    )
    set_bound(eval_config, MIN_ACCURACY, 0.7)
    set_bound(eval_config, MAJORITY_MARGIN, 0.2)
    assert (bounds(eval_config).min_accuracy, bounds(eval_config).majority_margin) == (0.7, 0.2)
    with pytest.raises(ValueError, match="max_balanced_accuracy_drop is not a lower bound"):
        set_bound(eval_config, MAX_BALANCED_ACCURACY_DROP, 0.1)


def failure(name: str, value: float, threshold: config_pb2.MetricThreshold, diff=False):
    """A TFMA validation failure of metric `name` (its change against production if `diff`)."""
    found = validation_result_pb2.ValidationFailure(metric_threshold=threshold)
    found.metric_key.name = name
    found.metric_key.is_diff = diff
    found.metric_value.double_value.value = value
    return found


def lower_bound(value: float) -> config_pb2.MetricThreshold:
    threshold = config_pb2.MetricThreshold()
    threshold.value_threshold.lower_bound.value = value
    return threshold


def ten_examples(**fields) -> Evaluation:
    return Evaluation(
        metrics={"example_count": 10.0, ACCURACY: 0.7, BALANCED_ACCURACY: 0.75},
        per_class={0: {"support": 6.0}, 1: {"support": 4.0}},
        intervals={
            ACCURACY: Interval(0.39677, 0.89221),
            BALANCED_ACCURACY: Interval(0.45949, 0.90619),
        },
        **fields,
    )


def test_each_refused_bound_is_one_line_with_the_interval():
    evaluation = ten_examples()
    assert _failure_line(failure(ACCURACY_LOW, 0.39677, lower_bound(0.6)), evaluation) == (
        MIN_ACCURACY,
        "min_accuracy: 10 eval examples: accuracy 0.7000, 95% interval 0.3968-0.8922, too wide"
        " to clear the bound 0.6",
    )
    assert _failure_line(failure(ACCURACY_LOW, 0.39677, lower_bound(0.8)), evaluation) == (
        MIN_ACCURACY,
        "min_accuracy: accuracy 0.7000 (95% interval 0.3968-0.8922, 10 eval examples) is below"
        " the bound 0.8",
    )
    margin = failure(BALANCED_ACCURACY_LIFT_LOW, -0.04051, lower_bound(0.05))
    assert _failure_line(margin, evaluation) == (
        MAJORITY_MARGIN,
        "majority_margin: 10 eval examples: balanced accuracy 0.7500, 95% interval"
        " 0.4595-0.9062, too wide to clear the majority-class baseline's 0.5000 (always class 0,"
        " 60.0% of the eval split) + 0.05 = 0.5500",
    )
    drop = config_pb2.MetricThreshold()
    drop.change_threshold.absolute.value = -0.01
    evaluation.baseline_metrics[BALANCED_ACCURACY] = 0.81
    assert _failure_line(failure(BALANCED_ACCURACY, -0.06, drop, diff=True), evaluation) == (
        MAX_BALANCED_ACCURACY_DROP,
        "max_balanced_accuracy_drop: balanced accuracy change against production = -0.0600"
        " (production 0.8100, 10 eval examples), more than the allowed drop 0.01",
    )


def test_the_report_and_the_summary_show_the_intervals_and_the_lower_ends():
    reasons = [
        BoundFailure(bound=MIN_ACCURACY, message="min_accuracy: 10 eval examples: ..."),
        BoundFailure(bound=MAX_BALANCED_ACCURACY_DROP, message="max_balanced_accuracy_drop: ..."),
    ]
    evaluation = ten_examples(
        baseline_metrics={ACCURACY: 0.6, BALANCED_ACCURACY: 0.81},
        bounds=Bounds(0.6, 0.05, 0.01, 0.01),
        failures=reasons,
    )
    facts = RunFacts(
        labels=["ham", "spam"], evaluation=evaluation, production={"version": 7, "path": "/s/7"}
    )
    assert bound_lines(facts) == [
        "min_accuracy 0.6: accuracy 0.7000 on 10 eval examples, 95% interval 0.3968-0.8922: its"
        " lower end 0.3968 must be at least 0.6: FAILED",
        "majority_margin 0.05: balanced accuracy 0.7500, 95% interval 0.4595-0.9062: its lower"
        " end 0.4595 must be at least the majority-class baseline's 0.5000 + 0.05 = 0.5500: passed",
        "max_accuracy_drop 0.01: accuracy 0.7000 may be at most 0.01 below production's 0.6000:"
        " passed",
        "max_balanced_accuracy_drop 0.01: balanced accuracy 0.7500 may be at most 0.01 below"
        " production's 0.8100: FAILED",
    ]
    text = render.markdown(sections(facts, []))
    assert "| accuracy, 95% interval | 0.3968-0.8922 |  |" in text
    assert "| balanced accuracy, 95% interval | 0.4595-0.9062 |  |" in text
    lines = summary(facts).splitlines()
    assert (
        "eval split (10 examples): accuracy 0.7000 (95% interval 0.3968-0.8922), balanced"
        " accuracy 0.7500 (95% interval 0.4595-0.9062)" in lines
    )
    assert "model in production (version 7): accuracy 0.6000, balanced accuracy 0.8100" in lines
    assert lines[-2:] == [
        "  - min_accuracy: 10 eval examples: ...",
        "  - max_balanced_accuracy_drop: ...",
    ]

    # report.json carries the intervals as records.
    again = RunFacts.from_json(facts.to_json())
    assert again == facts and again.evaluation.intervals[ACCURACY] == Interval(0.39677, 0.89221)


def test_an_evaluation_without_intervals_reads_without_them():
    evaluation = Evaluation(metrics={ACCURACY: 0.9})
    assert with_interval(evaluation, ACCURACY) == "0.9000"
    assert with_interval(evaluation, BALANCED_ACCURACY) == "n/a"
    facts = RunFacts(evaluation=Evaluation(metrics={ACCURACY: 0.9}, bounds=Bounds(0.6)))
    assert bound_lines(facts)[0] == (
        "min_accuracy 0.6: accuracy 0.9000 on n/a eval examples (no interval recorded) must be at"
        " least 0.6: passed"
    )
