"""The Evaluator's executor: TFX's, with the run's bounds, the binary AUC and the production model.

Before TFX's Evaluator executor runs, the EvalConfig gets
- the run's `min_accuracy` and `majority_margin` (runtime settings, run-time parameters on
  Kubeflow) as its lower bounds;
- the AUC of class 1, when the model judged has two classes (read from its serving signature, so
  also when the classes were not known before training);
and an empty `ProductionBaseline` output (no model in production yet) is treated as no baseline.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf
import tensorflow_model_analysis as tfma
import tensorflow_text  # noqa: F401  (the model's tokenizer ops, for TFMA to load it)
from tensorflow.core.protobuf import saved_model_pb2
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils, proto_utils

from components.core import runtime_settings, serving
from components.evaluator.eval_config import add_binary_auc, set_bound

# The runtime settings that are blessing bounds (components.core.runtime_settings).
BOUNDS = ("min_accuracy", "majority_margin")


def class_count(model_dir: str) -> int:
    """How many classes a serving model answers: the width of `probabilities` in its
    `serving_examples` signature (read from saved_model.pb, without loading the model)."""
    path = os.path.join(model_dir, serving.SAVED_MODEL_FILE)
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    for meta_graph in saved_model.meta_graphs:
        signature = meta_graph.signature_def.get(serving.SERVING_EXAMPLES)
        if signature is None or serving.OUTPUT_PROBABILITIES not in signature.outputs:
            continue
        dims = signature.outputs[serving.OUTPUT_PROBABILITIES].tensor_shape.dim
        if len(dims) == 2 and dims[1].size > 0:
            return int(dims[1].size)
        raise ValueError(
            f"{path}: the {serving.OUTPUT_PROBABILITIES!r} output of {serving.SERVING_EXAMPLES!r}"
            f" has shape {[d.size for d in dims]}; expected [batch, number of classes]"
        )
    raise ValueError(
        f"{path} has no {serving.SERVING_EXAMPLES!r} signature with a"
        f" {serving.OUTPUT_PROBABILITIES!r} output: not a model this pipeline exported"
    )


class Executor(tfx_evaluator_executor.Executor):
    """TFX's Evaluator executor, with the changes in the module docstring."""

    def Do(  # noqa: N802  (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        exec_properties, settings = runtime_settings.pop_settings(exec_properties)
        key = standard_component_specs.EVAL_CONFIG_KEY
        eval_config = proto_utils.json_to_proto(exec_properties[key], tfma.EvalConfig())
        for bound in BOUNDS:
            if bound in settings:
                set_bound(eval_config, bound, float(settings[bound]))
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        if class_count(path_utils.serving_model_path(model.uri)) == 2:
            add_binary_auc(eval_config)
        exec_properties = {**exec_properties, key: proto_utils.proto_to_json(eval_config)}

        baseline_key = standard_component_specs.BASELINE_MODEL_KEY
        baselines = [m for m in input_dict.get(baseline_key, []) if serving.has_model(m)]
        input_dict = {k: v for k, v in input_dict.items() if k != baseline_key}
        if baselines:
            input_dict[baseline_key] = baselines
        super().Do(input_dict, output_dict, exec_properties)
