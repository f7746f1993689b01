"""The Evaluator's TFMA EvalConfig: metrics, slices and the blessing bounds, from the typed config.

A model is blessed when, on the whole eval split,

- the lower end of its accuracy's 95% interval (Wilson) is at least `min_accuracy`;
- the lower end of its balanced accuracy's 95% interval (the mean of the per-class recalls, its
  interval from the per-class counts: intervals.py) is at least `majority_margin` above the
  majority-class baseline's. A model that always answers the most common class has a balanced
  accuracy of exactly 1 / (classes in the eval split), however imbalanced the split, and so has any
  model that answers without regard to the text; its plain accuracy, on the other hand, is the
  majority share (0.87 on SMS Spam), which an accuracy bound cannot tell from learning;
- when a model is in production: accuracy no more than `max_accuracy_drop` below its accuracy,
  and balanced accuracy no more than `max_balanced_accuracy_drop` below its balanced accuracy
  (TFMA's change thresholds, against the baseline model), so that a model that gives up a class
  cannot pass on an eval split that turned majority-heavy.

Each bound is a TFMA threshold on a metric of metrics.py (the lower ends are metrics of their
own), so TFMA's validation is the one decision, and TFX's blessing, which the Pusher honours,
is that decision.

Labels are compared as ids through the Transform's label vocabulary: TFMA runs the exported
model's `transform_features` signature first, which yields `label_id`. Nothing here depends on the
classes: per-class metrics come from the confusion matrix (metrics.py), and the Evaluator's
executor adds the binary AUC when the model it judges has two classes (`add_binary_auc`).
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from components.core import serving
from components.core.config import Config
from components.core.evaluation import (
    ACCURACY,
    ACCURACY_LOW,
    AUC_CLASS_ID,
    BALANCED_ACCURACY,
    BALANCED_ACCURACY_LIFT_LOW,
    BOUND_METRICS,
    LOWER,
    judged_name,
)
from components.core.features import LABEL_FEATURE, LABEL_ID, LENGTH_BUCKET
from components.evaluator import metrics


def _overall(threshold: tfma.MetricThreshold) -> list[tfma.PerSliceMetricThreshold]:
    """`threshold` on the whole eval split only: slices are reported, not gated."""
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def _lower_bound(value: float) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": value})
    )


def _allowed_drop(drop: float) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -drop}
        )
    )


def _named(metric: type, name: str, threshold: tfma.MetricThreshold) -> tfma.MetricConfig:
    """A metric of metrics.py under `name`, the key its `threshold` judges (named explicitly,
    so that readers of the config find the bound by name)."""
    return tfma.MetricConfig(
        class_name=metric.__name__,
        module=metrics.MODULE,
        config=json.dumps({"name": name}),
        per_slice_thresholds=_overall(threshold),
    )


def build_eval_config(config: Config) -> tfma.EvalConfig:
    """The EvalConfig of the pipeline (see the module docstring)."""
    bounds = config.eval
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # Said, not inferred: TFMA would otherwise try to load the SavedModel as a Keras
                # model to find out (about 1 s per model judged), and fall back to this type.
                model_type=tfma.TF_GENERIC,
                signature_name=serving.SERVING_EXAMPLES,
                preprocessing_function_names=[serving.TRANSFORM_FEATURES],
                label_key=LABEL_ID,
                prediction_key=serving.OUTPUT_PROBABILITIES,
            )
        ],
        slicing_specs=[
            tfma.SlicingSpec(),
            tfma.SlicingSpec(feature_keys=[LABEL_FEATURE]),
            tfma.SlicingSpec(feature_keys=[LENGTH_BUCKET]),
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    _named(
                        metrics.TopOneAccuracy, ACCURACY, _allowed_drop(bounds.max_accuracy_drop)
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                    tfma.MetricConfig(
                        class_name=metrics.TopOneClassMetrics.__name__, module=metrics.MODULE
                    ),
                    _named(
                        metrics.TopOneAccuracyInterval,
                        ACCURACY_LOW,
                        _lower_bound(bounds.min_accuracy),
                    ),
                    _named(
                        metrics.TopOneBalancedAccuracy,
                        BALANCED_ACCURACY,
                        _allowed_drop(bounds.max_balanced_accuracy_drop),
                    ),
                    _named(
                        metrics.BalancedAccuracyLift,
                        BALANCED_ACCURACY_LIFT_LOW,
                        _lower_bound(bounds.majority_margin),
                    ),
                ]
            )
        ],
    )


def set_bound(eval_config: tfma.EvalConfig, bound: str, value: float) -> None:
    """Sets the lower bound `min_accuracy` or `majority_margin` in `eval_config`, in place."""
    judged, kind = BOUND_METRICS[bound]
    if kind != LOWER:
        raise ValueError(
            f"{bound} is not a lower bound: expected one of min_accuracy, majority_margin"
        )
    found = 0
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            if judged_name(metric) == judged:
                for per_slice in metric.per_slice_thresholds:
                    per_slice.threshold.value_threshold.lower_bound.value = value
                    found += 1
    if not found:
        raise ValueError(
            f"the EvalConfig has no threshold to set {bound} on; expected the per-slice"
            " threshold that build_eval_config writes"
        )


def add_binary_auc(eval_config: tfma.EvalConfig) -> None:
    """Adds the AUC of class 1 against class 0 (for a two-class model), in place."""
    eval_config.metrics_specs.append(
        tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(class_name="AUC")],
            binarize=tfma.BinarizationOptions(class_ids={"values": [AUC_CLASS_ID]}),
        )
    )
