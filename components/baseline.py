"""The model in production, found where Pusher puts it, as a pipeline artifact.

TFX's Resolver with `LatestBlessedModelStrategy` needs the orchestrator to query MLMD; the
open-source Kubeflow Pipelines v2 backend does not run Resolver nodes, so the baseline would silently
vanish there. `ProductionBaseline` instead looks at the push destination itself (the newest complete
version folder, `<push_dir>/<version>/saved_model.pb`), which works on every orchestrator and is by
definition what is serving. Its `baseline` output feeds the Evaluator (no-regression check) and
the Trainer (warm start); its `baseline_statistics` output, the drift statistics of that model's
training data that the Pusher carried in its version folder (components/core/serving.py), feeds
DriftCheck (components/drift/). Both are marked with HAS_MODEL and VERSION; the statistics with
HAS_STATISTICS (0 for a model pushed without them).
"""

import logging
import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils, path_utils

from components.core.serving import (
    HAS_MODEL,
    HAS_STATISTICS,
    SOURCE,
    VERSION,
    latest_production_model,
    training_statistics,
)


# Finds the model in production (the newest pushed version) for the no-regression check and warm start.
@component
def ProductionBaseline(  # noqa: N802
    push_dir: Parameter[str],
    baseline: OutputArtifact[standard_artifacts.Model],
    baseline_statistics: OutputArtifact[standard_artifacts.ExampleStatistics],
    expected_version: Parameter[int] = 0,
) -> None:
    """`expected_version` is the newest version when the pipeline was built; it only keys the cache."""
    del expected_version
    source = latest_production_model(push_dir)
    for output in (baseline, baseline_statistics):
        output.set_int_custom_property(HAS_MODEL, int(source is not None))
    baseline_statistics.set_int_custom_property(HAS_STATISTICS, 0)
    if source is None:
        logging.info("No model in production under %s: the first model is judged alone.", push_dir)
        return
    version = int(os.path.basename(source))
    io_utils.copy_dir(source, path_utils.serving_model_dir(baseline.uri))
    baseline.set_string_custom_property(SOURCE, source)
    for output in (baseline, baseline_statistics):
        output.set_int_custom_property(VERSION, version)
    logging.info("Model in production: %s", source)
    carried = training_statistics(source)
    if carried is not None:
        io_utils.copy_dir(carried.folder, baseline_statistics.uri)
        baseline_statistics.split_names = artifact_utils.encode_split_names(carried.split_names)
        baseline_statistics.span = carried.span
        baseline_statistics.set_int_custom_property(HAS_STATISTICS, 1)
