"""TFMA metrics from the top-1 prediction: accuracy, per-class precision, recall, F1 and
support, macro averages, balanced accuracy and its lift over the majority-class baseline, and the
95% intervals of accuracy and balanced accuracy (intervals.py) whose lower ends the blessing
bounds judge.

TFMA's own Precision/Recall/F1Score, binarized per class id, count a class as predicted when its
probability passes 0.5: with more than two classes most examples then predict no class at all. And
they need the class ids in the EvalConfig, so before training. These metrics instead read TFMA's
multi-class confusion matrix at threshold 0 (the argmax of the probabilities: exactly the class the
model answers, the same matrix as the `multi_class_confusion_matrix_plot` plot) and derive every
number from its counts, for whatever classes occur in the labels or predictions. The names and
their definitions are in components.core.evaluation.

TFMA imports this module by name (a MetricConfig's `module`), in the Evaluator's process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mccm

from components.core.evaluation import (
    ACCURACY,
    ACCURACY_HIGH,
    ACCURACY_LOW,
    BALANCED_ACCURACY,
    BALANCED_ACCURACY_HIGH,
    BALANCED_ACCURACY_LIFT,
    BALANCED_ACCURACY_LIFT_LOW,
    BALANCED_ACCURACY_LOW,
    F1_SCORE,
    MACRO_F1_SCORE,
    MACRO_PRECISION,
    MACRO_RECALL,
    PRECISION,
    RECALL,
    SUPPORT,
)
from components.evaluator.intervals import mean_of_proportions, wilson

MODULE = __name__
# The top-1 prediction: the most probable class (the matrix's threshold 0 drops no prediction).
TOP_ONE_THRESHOLD = 0.0


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1_score: float
    support: float  # examples whose label is the class
    predicted: float  # examples for which the model answered the class


def class_scores(counts: Mapping[tuple[int, int], float]) -> dict[int, ClassScores]:
    """Scores of each class that occurs in `counts`, {(actual id, predicted id): examples}.

    A predicted id of -1 (TFMA's "no prediction") counts for the actual class's support only.
    """
    classes = sorted({c for pair in counts for c in pair if c >= 0})
    scores = {}
    for c in classes:
        support = sum(n for (actual, _), n in counts.items() if actual == c)
        predicted = sum(n for (_, guess), n in counts.items() if guess == c)
        hits = counts.get((c, c), 0.0)
        precision = hits / predicted if predicted else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[c] = ClassScores(precision, recall, f1, support, predicted)
    return scores


def summary_scores(scores: Mapping[int, ClassScores]) -> dict[str, float]:
    """Macro averages (over the classes in `scores`), balanced accuracy (over the classes that
    occur in the labels) and its lift over the majority-class baseline (1 / those classes)."""
    if not scores:
        nan = float("nan")
        return dict.fromkeys((MACRO_PRECISION, MACRO_RECALL, MACRO_F1_SCORE), nan) | {
            BALANCED_ACCURACY: nan,
            BALANCED_ACCURACY_LIFT: nan,
        }
    n = len(scores)
    labelled = [s.recall for s in scores.values() if s.support > 0]
    balanced = sum(labelled) / len(labelled) if labelled else float("nan")
    return {
        MACRO_PRECISION: sum(s.precision for s in scores.values()) / n,
        MACRO_RECALL: sum(s.recall for s in scores.values()) / n,
        MACRO_F1_SCORE: sum(s.f1_score for s in scores.values()) / n,
        BALANCED_ACCURACY: balanced,
        BALANCED_ACCURACY_LIFT: balanced - 1 / len(labelled) if labelled else float("nan"),
    }


def interval_scores(counts: Mapping[tuple[int, int], float]) -> dict[str, float]:
    """The accuracy, the 95% intervals of accuracy (Wilson, over every example) and of balanced
    accuracy (from the per-class recalls' counts), and the lower end of the lift over the
    majority-class baseline, from the same counts as `class_scores`."""
    total = sum(counts.values())
    hits = sum(n for (actual, guess), n in counts.items() if actual == guess)
    recalls = [
        (counts.get((c, c), 0.0), s.support)
        for c, s in class_scores(counts).items()
        if s.support > 0
    ]
    accuracy = wilson(hits, total)
    balanced = mean_of_proportions(recalls)
    return {
        ACCURACY: hits / total if total else float("nan"),
        ACCURACY_LOW: accuracy[0],
        ACCURACY_HIGH: accuracy[1],
        BALANCED_ACCURACY_LOW: balanced[0],
        BALANCED_ACCURACY_HIGH: balanced[1],
        BALANCED_ACCURACY_LIFT_LOW: balanced[0] - 1 / len(recalls) if recalls else float("nan"),
    }


def _top_one_counts(matrices: mccm.Matrices) -> dict[tuple[int, int], float]:
    if TOP_ONE_THRESHOLD not in matrices:
        raise ValueError(
            f"the multi-class confusion matrices have thresholds {sorted(matrices)}, not"
            f" {TOP_ONE_THRESHOLD} (the top-1 prediction): another metric asked for the same"
            " matrices at other thresholds"
        )
    return {
        (key.actual_class_id, key.predicted_class_id): float(n)
        for key, n in matrices[TOP_ONE_THRESHOLD].items()
    }


def _computations_fn(keys_of):
    """A TFMA create_computations_fn: the shared confusion-matrix computation, then a derived one
    whose metrics are `keys_of(key, counts)` (TFMA passes the arguments that `create` names)."""

    def create(
        name: str,
        eval_config=None,
        model_name: str = "",
        output_name: str = "",
        example_weighted: bool = False,
    ) -> metric_types.MetricComputations:
        matrices = mccm.multi_class_confusion_matrices(
            thresholds=[TOP_ONE_THRESHOLD],
            eval_config=eval_config,
            model_name=model_name,
            output_name=output_name,
            example_weighted=example_weighted,
        )
        matrices_key = matrices[-1].keys[-1]

        def key(metric: str, sub_key: metric_types.SubKey | None = None) -> metric_types.MetricKey:
            return metric_types.MetricKey(
                name=metric,
                model_name=model_name,
                output_name=output_name,
                sub_key=sub_key,
                example_weighted=example_weighted,
            )

        def result(metrics):
            return keys_of(key, _top_one_counts(metrics[matrices_key]))

        # The derived computation's keys identify it (TFMA drops computations with equal ids).
        derived = metric_types.DerivedMetricComputation(keys=[key(name)], result=result)
        return [*matrices, derived]

    return metric_util.merge_per_key_computations(create)


def _per_class(key, counts) -> dict:
    scores = class_scores(counts)
    values = {}
    for c, s in scores.items():
        top_one = metric_types.SubKey(class_id=c, top_k=1)
        values[key(PRECISION, top_one)] = s.precision
        values[key(RECALL, top_one)] = s.recall
        values[key(F1_SCORE, top_one)] = s.f1_score
        values[key(SUPPORT, metric_types.SubKey(class_id=c))] = s.support
    summary = summary_scores(scores)
    for name in (MACRO_PRECISION, MACRO_RECALL, MACRO_F1_SCORE):
        values[key(name)] = summary[name]
    return values


def _picked(*names: str):
    """The `keys_of` of a metric whose values are `names` of summary_scores or interval_scores."""

    def keys_of(key, counts) -> dict:
        scores = summary_scores(class_scores(counts)) | interval_scores(counts)
        return {key(name): scores[name] for name in names}

    return keys_of


# The classes' names are TFMA's registry keys: TFMA's own `BalancedAccuracy` (a binary metric at
# threshold 0.5) would shadow a class of that name here.
class TopOneClassMetrics(metric_types.Metric):
    """Per-class precision, recall, F1 (sub keys classId:<id> topK:1) and support (classId:<id>),
    macro_precision, macro_recall and macro_f1_score, from the top-1 answer."""

    def __init__(self, name: str = MACRO_F1_SCORE):
        super().__init__(_computations_fn(_per_class), name=name)


class TopOneAccuracy(metric_types.Metric):
    """sparse_categorical_accuracy: the share of examples whose top-1 answer is their label (what
    Keras's SparseCategoricalAccuracy computes), from the same confusion matrix as the metrics
    beside it; `max_accuracy_drop` compares it with production's. (TFMA ran the Keras metric
    instead, converting its update function with AutoGraph in every evaluation: about 1 s.)"""

    def __init__(self, name: str = ACCURACY):
        super().__init__(_computations_fn(_picked(ACCURACY)), name=name)


class TopOneAccuracyInterval(metric_types.Metric):
    """accuracy_ci_low and accuracy_ci_high: the 95% interval of the accuracy; its lower end is
    the metric the blessing bound `min_accuracy` judges (the metric's name)."""

    def __init__(self, name: str = ACCURACY_LOW):
        super().__init__(_computations_fn(_picked(ACCURACY_LOW, ACCURACY_HIGH)), name=name)


class TopOneBalancedAccuracy(metric_types.Metric):
    """balanced_accuracy (what `max_balanced_accuracy_drop` compares with production's) and its
    95% interval, balanced_accuracy_ci_low and balanced_accuracy_ci_high."""

    def __init__(self, name: str = BALANCED_ACCURACY):
        names = (BALANCED_ACCURACY, BALANCED_ACCURACY_LOW, BALANCED_ACCURACY_HIGH)
        super().__init__(_computations_fn(_picked(*names)), name=name)


class BalancedAccuracyLift(metric_types.Metric):
    """balanced_accuracy minus the majority-class baseline's (1 / classes in the labels), and the
    lower end of its 95% interval, balanced_accuracy_lift_ci_low: the metric the blessing bound
    `majority_margin` judges (the metric's name)."""

    def __init__(self, name: str = BALANCED_ACCURACY_LIFT_LOW):
        names = (BALANCED_ACCURACY_LIFT, BALANCED_ACCURACY_LIFT_LOW)
        super().__init__(_computations_fn(_picked(*names)), name=name)
