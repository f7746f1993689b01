"""The model in production, found where Pusher puts it, as a pipeline artifact.

TFX's Resolver with `LatestBlessedModelStrategy` needs the orchestrator to query MLMD; the
open-source Kubeflow Pipelines v2 backend does not run Resolver nodes, so the baseline would silently
vanish there. `ProductionBaseline` instead looks at the push destination itself (the newest complete
version folder, `<push_dir>/<version>/saved_model.pb`), which works on every orchestrator and is by
definition what is serving. Its output feeds the Evaluator (no-regression check) and the Trainer
(warm start).
"""

import logging
import os

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils

from components.core.serving import HAS_MODEL, SOURCE, VERSION, latest_production_model


# Finds the model in production (the newest pushed version) for the no-regression check and warm start.
@tfx.dsl.components.component
def ProductionBaseline(  # noqa: N802
    push_dir: tfx.dsl.components.Parameter[str],
    baseline: tfx.dsl.components.OutputArtifact[standard_artifacts.Model],
    expected_version: tfx.dsl.components.Parameter[int] = 0,
) -> None:
    """`expected_version` is the newest version when the pipeline was built; it only keys the cache."""
    del expected_version
    source = latest_production_model(push_dir)
    if source is None:
        logging.info("No model in production under %s: the first model is judged alone.", push_dir)
        baseline.set_int_custom_property(HAS_MODEL, 0)
        return
    io_utils.copy_dir(source, path_utils.serving_model_dir(baseline.uri))
    baseline.set_int_custom_property(HAS_MODEL, 1)
    baseline.set_string_custom_property(SOURCE, source)
    baseline.set_int_custom_property(VERSION, int(os.path.basename(source)))
    logging.info("Model in production: %s", source)
