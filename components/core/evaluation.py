"""What the Evaluator computes and how its `evaluation` output is read back: one name per metric.

The Evaluator (components/evaluator/) writes TFMA metrics under these names; the run report
(components/report/) and `bertpipe explain` read them with `load_evaluation`.

Metrics of the eval split (and of each slice):

    example_count                   examples
    sparse_categorical_accuracy     accuracy (top-1)
    precision, recall, f1_score     per class (TFMA sub key classId:<id> topK:1): from the top-1
                                    prediction, i.e. the predicted class is the most probable one
    support                         per class (sub key classId:<id>): eval examples of the class
    macro_precision, macro_recall,  unweighted means over the classes that occur in the labels or
    macro_f1_score                  the predictions (as scikit-learn averages)
    balanced_accuracy               mean recall over the classes that occur in the labels
    balanced_accuracy_lift          balanced_accuracy minus the majority-class baseline's, which is
                                    1 / (classes in the labels): what the model adds to a model
                                    that always answers the most common class
    accuracy_ci_low, _high          the 95% confidence interval of the accuracy (Wilson), from the
                                    confusion matrix's counts
    balanced_accuracy_ci_low, _high the 95% confidence interval of balanced_accuracy, from the
                                    per-class counts (components/evaluator/intervals.py)
    balanced_accuracy_lift_ci_low   balanced_accuracy_ci_low minus the majority-class baseline's
    auc                             two-class models only (sub key classId:1)

A precision whose class was never predicted, a recall whose class never occurs, and an F1 whose
precision and recall are both 0 are 0, as in scikit-learn; `support` and the confusion matrix
tell these cases apart. The confusion matrix is the `multi_class_confusion_matrix_plot` plot.

The blessing bounds (components.core.config.EvalConfig) and the metric each one judges. The
absolute bounds judge the lower end of the metric's 95% interval, so that an eval split too
small to tell a model from chance blesses nothing; the comparisons with production judge point
values:

    min_accuracy                accuracy_ci_low >= min_accuracy
    majority_margin             balanced_accuracy_lift_ci_low >= majority_margin
    max_accuracy_drop           sparse_categorical_accuracy - production's >= -max_accuracy_drop
    max_balanced_accuracy_drop  balanced_accuracy - production's >= -max_balanced_accuracy_drop

`load_evaluation` reads the intervals back as `Interval` records (`Evaluation.intervals`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

from components.core.errors import UserError

EXAMPLE_COUNT = "example_count"
ACCURACY = "sparse_categorical_accuracy"
# The Keras metric that evaluations before metrics.TopOneAccuracy computed ACCURACY with (their
# EvalConfig names no metric: the Keras metric's own name is the key).
KERAS_ACCURACY_CLASS = "SparseCategoricalAccuracy"
PRECISION = "precision"
RECALL = "recall"
F1_SCORE = "f1_score"
SUPPORT = "support"
PER_CLASS = (PRECISION, RECALL, F1_SCORE, SUPPORT)
MACRO_PRECISION = "macro_precision"
MACRO_RECALL = "macro_recall"
MACRO_F1_SCORE = "macro_f1_score"
BALANCED_ACCURACY = "balanced_accuracy"
BALANCED_ACCURACY_LIFT = "balanced_accuracy_lift"
# The ends of the 95% confidence intervals (components/evaluator/intervals.py).
CONFIDENCE = 0.95
ACCURACY_LOW = "accuracy_ci_low"
ACCURACY_HIGH = "accuracy_ci_high"
BALANCED_ACCURACY_LOW = "balanced_accuracy_ci_low"
BALANCED_ACCURACY_HIGH = "balanced_accuracy_ci_high"
BALANCED_ACCURACY_LIFT_LOW = "balanced_accuracy_lift_ci_low"
# The metrics with an interval, and the names of its ends.
INTERVAL_ENDS = {
    ACCURACY: (ACCURACY_LOW, ACCURACY_HIGH),
    BALANCED_ACCURACY: (BALANCED_ACCURACY_LOW, BALANCED_ACCURACY_HIGH),
}
AUC = "auc"
AUC_CLASS_ID = 1  # two classes: the AUC of class 1 against class 0
# The name TFMA gives the model in production when the Evaluator has a baseline.
BASELINE_MODEL_NAME = "baseline"

# The blessing bounds, by the setting that holds each (its flag and run-time parameter).
MIN_ACCURACY = "min_accuracy"
MAJORITY_MARGIN = "majority_margin"
MAX_ACCURACY_DROP = "max_accuracy_drop"
MAX_BALANCED_ACCURACY_DROP = "max_balanced_accuracy_drop"
# The metric whose threshold holds each bound: a lower bound on its value, or an allowed drop
# against the model in production.
LOWER, DROP = "lower", "drop"
BOUND_METRICS = {
    MIN_ACCURACY: (ACCURACY_LOW, LOWER),
    MAJORITY_MARGIN: (BALANCED_ACCURACY_LIFT_LOW, LOWER),
    MAX_ACCURACY_DROP: (ACCURACY, DROP),
    MAX_BALANCED_ACCURACY_DROP: (BALANCED_ACCURACY, DROP),
}


@dataclass(frozen=True)
class Bounds:
    """The blessing bounds an evaluation was judged by (None: not configured)."""

    min_accuracy: float | None = None
    majority_margin: float | None = None
    max_accuracy_drop: float | None = None
    max_balanced_accuracy_drop: float | None = None


@dataclass(frozen=True)
class Interval:
    """A metric's 95% confidence interval (CONFIDENCE) on the eval split."""

    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.low:.4f}-{self.high:.4f}"


@dataclass(frozen=True)
class MajorityBaseline:
    """The model that always answers the eval split's most common class."""

    class_id: int
    share: float  # its accuracy: the share of the most common class
    classes: int  # classes that occur in the labels
    balanced_accuracy: float  # 1 / classes
    macro_f1_score: float


@dataclass(frozen=True)
class BoundFailure:
    """One failed blessing check: which bound, the line people read, and where it failed."""

    # MIN_ACCURACY, MAJORITY_MARGIN or MAX_ACCURACY_DROP; the metric's name for a threshold of
    # another metric, or a bound's metric that was not computed; None when TFMA refused the
    # model without naming a metric.
    bound: str | None
    message: str  # what `bertpipe explain`, the summary and the report print, as it is
    slice: str | None = None  # the slice it failed on (`feature=value, ...`); None: overall


@dataclass
class Evaluation:
    """An Evaluator `evaluation` output, read back (the candidate model unless said otherwise)."""

    metrics: dict[str, float] = field(default_factory=dict)  # the whole eval split
    per_class: dict[int, dict[str, float]] = field(default_factory=dict)  # class id -> metrics
    baseline_metrics: dict[str, float] = field(default_factory=dict)  # the model in production
    slices: list[tuple[str, dict[str, float]]] = field(default_factory=list)
    confusion: list[tuple[int, int, float]] = field(default_factory=list)  # actual, predicted, n
    intervals: dict[str, Interval] = field(default_factory=dict)  # ACCURACY, BALANCED_ACCURACY
    bounds: Bounds = field(default_factory=Bounds)
    passed: bool = False
    failures: list[BoundFailure] = field(default_factory=list)

    @property
    def majority(self) -> MajorityBaseline | None:
        return majority_baseline(
            {c: values[SUPPORT] for c, values in self.per_class.items() if SUPPORT in values}
        )


def majority_baseline(support: Mapping[int, float]) -> MajorityBaseline | None:
    """The majority-class baseline of an eval split with `support` examples per class id."""
    present = {c: n for c, n in support.items() if n > 0}
    if not present:
        return None
    total = sum(present.values())
    class_id = min(present, key=lambda c: (-present[c], c))
    share = present[class_id] / total
    # It predicts one class: precision = share, recall = 1 there; 0 for every other class.
    return MajorityBaseline(
        class_id=class_id,
        share=share,
        classes=len(present),
        balanced_accuracy=1 / len(present),
        macro_f1_score=2 * share / (1 + share) / len(present),
    )


def with_interval(evaluation: Evaluation, key: str) -> str:
    """A metric as people read it: `0.8667 (95% interval 0.7944-0.9162)`; without the interval
    when the evaluation has none for it, `n/a` when the metric is missing."""
    value = evaluation.metrics.get(key)
    text = "n/a" if value is None or math.isnan(value) else f"{value:.4f}"
    interval = evaluation.intervals.get(key)
    return f"{text} ({CONFIDENCE:.0%} interval {interval})" if interval else text


def slice_name(slice_key) -> str:
    """`overall`, or `feature=value, ...` of a TFMA slice key proto."""
    parts = []
    for single in slice_key.single_slice_keys:
        value = getattr(single, single.WhichOneof("kind"))
        parts.append(f"{single.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts) or "overall"


# The file every Evaluator output holds (TFMA writes the eval config beside the metrics).
EVAL_CONFIG_NAME = (
    f"{eval_config_writer.EVAL_CONFIG_FILE}.{eval_config_writer.EVAL_CONFIG_FILE_FORMAT}"
)


class EvaluationNotFoundError(UserError, FileNotFoundError):
    """No Evaluator output where the user pointed (`bertpipe explain --evaluation`)."""


def load_evaluation(evaluation_uri: str) -> Evaluation:
    """Reads an Evaluator `evaluation` output (a folder, local or any tf.io.gfile URI)."""
    if not tf.io.gfile.exists(f"{evaluation_uri.rstrip('/')}/{EVAL_CONFIG_NAME}"):
        raise EvaluationNotFoundError(
            f"no Evaluator output at {evaluation_uri!r}: expected the folder of an Evaluator's"
            f" `evaluation` artifact (with {EVAL_CONFIG_NAME}), as the run's"
            " report.json names it"
        )
    result = Evaluation()
    for metrics in tfma.load_metrics(evaluation_uri):
        name = slice_name(metrics.slice_key)
        values: dict[str, float] = {}
        baseline: dict[str, float] = {}
        per_class: dict[int, dict[str, float]] = {}
        for kv in metrics.metric_keys_and_values:
            if kv.key.is_diff or kv.value.WhichOneof("type") != "double_value":
                continue
            value = kv.value.double_value.value
            if kv.key.model_name == BASELINE_MODEL_NAME:
                if not kv.key.HasField("sub_key"):
                    baseline[kv.key.name] = value
                continue
            if kv.key.sub_key.HasField("class_id"):
                class_id = kv.key.sub_key.class_id.value
                if kv.key.name in PER_CLASS:
                    per_class.setdefault(class_id, {})[kv.key.name] = value
                else:
                    values[f"{kv.key.name}/class_{class_id}"] = value
            else:
                values[kv.key.name] = value
        if name == "overall":
            result.metrics, result.baseline_metrics, result.per_class = values, baseline, per_class
        else:
            result.slices.append((name, values))
    result.slices.sort()
    for metric, (low, high) in INTERVAL_ENDS.items():
        if low in result.metrics and high in result.metrics:
            ends = result.metrics.pop(low), result.metrics.pop(high)
            result.intervals[metric] = Interval(*ends)
    for plots in tfma.load_plots(evaluation_uri):
        if slice_name(plots.slice_key) != "overall":
            continue
        for kv in plots.plot_keys_and_values:
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            if kv.key.model_name != BASELINE_MODEL_NAME and matrices:
                result.confusion = [
                    (e.actual_class_id, e.predicted_class_id, e.num_weighted_examples)
                    for e in matrices[0].entries
                ]
    result.bounds = bounds(eval_config_writer.load_eval_run(evaluation_uri)[0])
    result.passed, result.failures = _failures(evaluation_uri, result)
    return result


def bounds(eval_config: tfma.EvalConfig) -> Bounds:
    """The blessing bounds written in an EvalConfig (see the module docstring)."""
    found: dict[str, float] = {}
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            for per_slice in metric.per_slice_thresholds:
                threshold = per_slice.threshold
                for bound, (judged, kind) in BOUND_METRICS.items():
                    if judged_name(metric) != judged:
                        continue
                    if kind == LOWER and threshold.value_threshold.HasField("lower_bound"):
                        found[bound] = threshold.value_threshold.lower_bound.value
                    elif kind == DROP and threshold.change_threshold.HasField("absolute"):
                        found[bound] = -threshold.change_threshold.absolute.value
    return Bounds(**found)


def judged_name(metric: tfma.MetricConfig) -> str:
    """The metric key a MetricConfig's thresholds judge: its configured name, or the Keras
    accuracy's own name (in the EvalConfig of an older evaluation)."""
    return ACCURACY if metric.class_name == KERAS_ACCURACY_CLASS else configured_name(metric)


def configured_name(metric: tfma.MetricConfig) -> str:
    """The `name` a MetricConfig sets in its JSON `config` ('' when it sets none)."""
    text = metric.config.strip()
    if not text:
        return ""
    return str(json.loads(text if text.startswith("{") else "{" + text + "}").get("name", ""))


def _failures(evaluation_uri: str, evaluation: Evaluation) -> tuple[bool, list[BoundFailure]]:
    validation = tfma.load_validation_result(evaluation_uri)
    found = []
    for per_slice in validation.metric_validations_per_slice:
        where = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            bound, line = _failure_line(failure, evaluation)
            if where == "overall":
                found.append(BoundFailure(bound=bound, message=line))
            else:
                found.append(BoundFailure(bound=bound, message=f"{where}: {line}", slice=where))
    if not validation.validation_ok and not found:
        found.append(
            BoundFailure(
                bound=None, message=f"validation failed: {' '.join(str(validation).split())}"
            )
        )
    return bool(validation.validation_ok), found


def _failure_line(failure, evaluation: Evaluation) -> tuple[str, str]:
    """The bound that failed, and one line that names it, with the value and the bound."""
    key, value = failure.metric_key, failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if failure.message == "Metric not found.":
        return key.name, f"{key.name}: not computed ({' '.join(str(threshold).split())})"
    metrics = evaluation.metrics
    examples = f"{metrics.get(EXAMPLE_COUNT, float('nan')):.0f} eval examples"
    if key.name == ACCURACY_LOW and not key.is_diff:
        bound = threshold.value_threshold.lower_bound.value
        return MIN_ACCURACY, _lower_end_line(
            MIN_ACCURACY, "accuracy", ACCURACY, evaluation, bound, f"the bound {bound:g}"
        )
    if key.name == BALANCED_ACCURACY_LIFT_LOW and not key.is_diff:
        margin = threshold.value_threshold.lower_bound.value
        majority = evaluation.majority
        if majority is None:
            return MAJORITY_MARGIN, f"{MAJORITY_MARGIN}: no labelled eval examples"
        base = (
            f"the majority-class baseline's {majority.balanced_accuracy:.4f} (always class"
            f" {majority.class_id}, {majority.share:.1%} of the eval split)"
        )
        needed = majority.balanced_accuracy + margin
        return MAJORITY_MARGIN, _lower_end_line(
            MAJORITY_MARGIN,
            "balanced accuracy",
            BALANCED_ACCURACY,
            evaluation,
            needed,
            f"{base} {'-' if margin < 0 else '+'} {abs(margin):g} = {needed:.4f}",
        )
    drops = {ACCURACY: (MAX_ACCURACY_DROP, "accuracy")}
    drops[BALANCED_ACCURACY] = (MAX_BALANCED_ACCURACY_DROP, "balanced accuracy")
    if key.is_diff and key.name in drops:
        bound, metric = drops[key.name]
        allowed = -threshold.change_threshold.absolute.value
        production = evaluation.baseline_metrics.get(key.name, float("nan"))
        return bound, (
            f"{bound}: {metric} change against production = {value:+.4f}"
            f" (production {production:.4f}, {examples}), more than the allowed drop {allowed:g}"
        )
    against = " change against production" if key.is_diff else ""
    return key.name, f"{key.name}{against} = {value:.4f} fails {' '.join(str(threshold).split())}"


def _lower_end_line(
    bound: str, metric: str, key: str, evaluation: Evaluation, needed: float, what: str
) -> str:
    """The line of an absolute bound that the lower end of `key`'s interval did not clear:
    the point value was below it too, or the interval was too wide (the split too small)."""
    value = evaluation.metrics.get(key, float("nan"))
    interval = evaluation.intervals.get(key)
    examples = f"{evaluation.metrics.get(EXAMPLE_COUNT, float('nan')):.0f} eval examples"
    ci = f"{CONFIDENCE:.0%} interval {interval or 'n/a'}"
    if value >= needed:
        return f"{bound}: {examples}: {metric} {value:.4f}, {ci}, too wide to clear {what}"
    return f"{bound}: {metric} {value:.4f} ({ci}, {examples}) is below {what}"
