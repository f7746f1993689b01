"""The Evaluator: TFMA metrics, slices and the blessing rule, built from the typed config.

Blessing needs accuracy >= `min_accuracy` and, when a model is in production, accuracy no more than
`max_accuracy_drop` below it. Labels are compared as ids through the Transform's label vocabulary:
TFMA runs the exported model's `transform_features` signature first, which yields `label_id`.
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma
import tensorflow_text  # noqa: F401  (the model's tokenizer ops, for TFMA to load it)
from tfx import types
from tfx import v1 as tfx
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.core import runtime_settings, serving
from components.core.config import Config
from components.core.features import LABEL_FEATURE, LABEL_ID, LENGTH_BUCKET

ACCURACY = "sparse_categorical_accuracy"


def build_eval_config(config: Config, class_names: tuple[str, ...] = ()) -> tfma.EvalConfig:
    """The EvalConfig of the pipeline. `class_names`, when known, adds per-class metrics."""
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.eval.min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.eval.max_accuracy_drop},
        ),
    )
    metrics_specs = [
        tfma.MetricsSpec(
            metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                # Judged on the whole eval split; slices are reported, not gated.
                tfma.MetricConfig(
                    class_name="SparseCategoricalAccuracy",
                    per_slice_thresholds=[
                        tfma.PerSliceMetricThreshold(
                            slicing_specs=[tfma.SlicingSpec()], threshold=accuracy_threshold
                        )
                    ],
                ),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ]
        )
    ]
    if class_names:
        class_ids = list(range(len(class_names)))
        metrics_specs.append(
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="Precision"),
                    tfma.MetricConfig(class_name="Recall"),
                    tfma.MetricConfig(class_name="F1Score"),
                ],
                binarize=tfma.BinarizationOptions(class_ids={"values": class_ids}),
                aggregate=tfma.AggregationOptions(
                    macro_average=True, class_weights={i: 1.0 for i in class_ids}
                ),
            )
        )
    if len(class_names) == 2:
        metrics_specs.append(
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name="AUC")],
                binarize=tfma.BinarizationOptions(class_ids={"values": [1]}),
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
        metrics_specs=metrics_specs,
    )


class Executor(tfx_evaluator_executor.Executor):
    """TFX's Evaluator executor, with an empty `ProductionBaseline` treated as no baseline."""

    def Do(  # noqa: N802  (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        exec_properties, settings = runtime_settings.pop_settings(exec_properties)
        if "min_accuracy" in settings:
            key = standard_component_specs.EVAL_CONFIG_KEY
            eval_config = proto_utils.json_to_proto(exec_properties[key], tfma.EvalConfig())
            set_min_accuracy(eval_config, float(settings["min_accuracy"]))
            exec_properties = {**exec_properties, key: proto_utils.proto_to_json(eval_config)}
        baseline_key = standard_component_specs.BASELINE_MODEL_KEY
        baselines = [m for m in input_dict.get(baseline_key, []) if serving.has_model(m)]
        input_dict = {k: v for k, v in input_dict.items() if k != baseline_key}
        if baselines:
            input_dict[baseline_key] = baselines
        super().Do(input_dict, output_dict, exec_properties)


class Evaluator(runtime_settings.TakesRuntimeSettings, tfx.components.Evaluator):
    """TFX's Evaluator, judging the first model (no model in production) on absolute bounds alone.

    Takes `min_accuracy` as a runtime setting (components.core.runtime_settings).
    """

    SETTINGS = ("min_accuracy",)
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def set_min_accuracy(eval_config: tfma.EvalConfig, value: float) -> None:
    """Sets the blessing lower bound on accuracy (overall slice) in `eval_config`, in place."""
    found = 0
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            if metric.class_name != "SparseCategoricalAccuracy":
                continue
            for per_slice in metric.per_slice_thresholds:
                per_slice.threshold.value_threshold.lower_bound.value = value
                found += 1
    if not found:
        raise ValueError(
            "the EvalConfig has no accuracy threshold to set min_accuracy on; expected the"
            " SparseCategoricalAccuracy per-slice threshold that build_eval_config writes"
        )
