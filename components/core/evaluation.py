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
    auc                             two-class models only (sub key classId:1)

A precision whose class was never predicted, a recall whose class never occurs, and an F1 whose
precision and recall are both 0 are 0, as in scikit-learn; `support` and the confusion matrix
tell these cases apart. The confusion matrix is the `multi_class_confusion_matrix_plot` plot.

The blessing bounds (components.core.config.EvalConfig) and the metric each one judges:

    min_accuracy        sparse_categorical_accuracy >= min_accuracy
    majority_margin     balanced_accuracy_lift >= majority_margin
    max_accuracy_drop   sparse_categorical_accuracy - production's >= -max_accuracy_drop
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

from components.core.errors import UserError

EXAMPLE_COUNT = "example_count"
ACCURACY = "sparse_categorical_accuracy"
ACCURACY_CLASS = "SparseCategoricalAccuracy"  # the Keras metric TFMA computes it with
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
AUC = "auc"
AUC_CLASS_ID = 1  # two classes: the AUC of class 1 against class 0
# The name TFMA gives the model in production when the Evaluator has a baseline.
BASELINE_MODEL_NAME = "baseline"

# The blessing bounds, by the setting that holds each (its flag and run-time parameter).
MIN_ACCURACY = "min_accuracy"
MAJORITY_MARGIN = "majority_margin"
MAX_ACCURACY_DROP = "max_accuracy_drop"


@dataclass(frozen=True)
class Bounds:
    """The blessing bounds an evaluation was judged by (None: not configured)."""

    min_accuracy: float | None = None
    majority_margin: float | None = None
    max_accuracy_drop: float | None = None


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
                value = threshold.value_threshold
                if metric.class_name == ACCURACY_CLASS:
                    if value.HasField("lower_bound"):
                        found[MIN_ACCURACY] = value.lower_bound.value
                    change = threshold.change_threshold
                    if change.HasField("absolute"):
                        found[MAX_ACCURACY_DROP] = -change.absolute.value
                elif configured_name(metric) == BALANCED_ACCURACY_LIFT and value.HasField(
                    "lower_bound"
                ):
                    found[MAJORITY_MARGIN] = value.lower_bound.value
    return Bounds(**found)


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
    if key.name == ACCURACY and not key.is_diff and threshold.HasField("value_threshold"):
        bound = threshold.value_threshold.lower_bound.value
        return MIN_ACCURACY, f"{MIN_ACCURACY}: accuracy {value:.4f} is below the bound {bound:g}"
    if key.name == ACCURACY and key.is_diff:
        allowed = -threshold.change_threshold.absolute.value
        production = evaluation.baseline_metrics.get(ACCURACY, float("nan"))
        return MAX_ACCURACY_DROP, (
            f"{MAX_ACCURACY_DROP}: accuracy change against production = {value:+.4f}"
            f" (production {production:.4f}), more than the allowed drop {allowed:g}"
        )
    if key.name == BALANCED_ACCURACY_LIFT:
        margin = threshold.value_threshold.lower_bound.value
        majority = evaluation.majority
        base = (
            f"{majority.balanced_accuracy:.4f} (always class {majority.class_id},"
            f" {majority.share:.1%} of the eval split)"
            if majority
            else "(no labelled examples)"
        )
        balanced = evaluation.metrics.get(BALANCED_ACCURACY, float("nan"))
        return MAJORITY_MARGIN, (
            f"{MAJORITY_MARGIN}: balanced accuracy {balanced:.4f} is {value:+.4f} against the"
            f" majority-class baseline's {base}; it must be at least {margin:+g}"
        )
    against = " change against production" if key.is_diff else ""
    return key.name, f"{key.name}{against} = {value:.4f} fails {' '.join(str(threshold).split())}"
