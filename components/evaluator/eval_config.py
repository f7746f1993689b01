"""The Evaluator's TFMA EvalConfig: metrics, slices and the blessing bounds, from the typed config.

A model is blessed when, on the whole eval split,

- accuracy >= `min_accuracy`;
- balanced accuracy (the mean of the per-class recalls) is at least `majority_margin` above the
  majority-class baseline's. A model that always answers the most common class has a balanced
  accuracy of exactly 1 / (classes in the eval split), however imbalanced the split, and so has any
  model that answers without regard to the text; its plain accuracy, on the other hand, is the
  majority share (0.87 on SMS Spam), which an accuracy bound cannot tell from learning. The bound is
  TFMA's own lower-bound threshold on the `balanced_accuracy_lift` metric (metrics.py);
- when a model is in production: accuracy no more than `max_accuracy_drop` below its accuracy
  (TFMA's change threshold, against the baseline model).

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
    ACCURACY_CLASS,
    AUC_CLASS_ID,
    BALANCED_ACCURACY_LIFT,
    MAJORITY_MARGIN,
    MIN_ACCURACY,
    configured_name,
)
from components.core.features import LABEL_FEATURE, LABEL_ID, LENGTH_BUCKET
from components.evaluator import metrics


def _overall(threshold: tfma.MetricThreshold) -> list[tfma.PerSliceMetricThreshold]:
    """`threshold` on the whole eval split only: slices are reported, not gated."""
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def build_eval_config(config: Config) -> tfma.EvalConfig:
    """The EvalConfig of the pipeline (see the module docstring)."""
    accuracy_bounds = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.eval.min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.eval.max_accuracy_drop},
        ),
    )
    majority_bound = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": config.eval.majority_margin}
        )
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
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
                    tfma.MetricConfig(
                        class_name=ACCURACY_CLASS, per_slice_thresholds=_overall(accuracy_bounds)
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                    tfma.MetricConfig(
                        class_name=metrics.TopOneClassMetrics.__name__, module=metrics.MODULE
                    ),
                    tfma.MetricConfig(
                        class_name=metrics.BalancedAccuracyLift.__name__,
                        module=metrics.MODULE,
                        # Named explicitly, so that readers of the config find the bound by name.
                        config=json.dumps({"name": BALANCED_ACCURACY_LIFT}),
                        per_slice_thresholds=_overall(majority_bound),
                    ),
                ]
            )
        ],
    )


def set_bound(eval_config: tfma.EvalConfig, bound: str, value: float) -> None:
    """Sets the lower bound `min_accuracy` or `majority_margin` in `eval_config`, in place."""
    judged = {
        MIN_ACCURACY: lambda m: m.class_name == ACCURACY_CLASS,
        MAJORITY_MARGIN: lambda m: configured_name(m) == BALANCED_ACCURACY_LIFT,
    }[bound]
    found = 0
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            if judged(metric):
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
