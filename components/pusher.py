"""A Pusher whose pushes are all-or-nothing.

TFX's Pusher copies the model straight into `<push_dir>/<version>/`. Here the model is copied into
a staging folder whose name is not a number (TF Serving and `ProductionBaseline` ignore it), with
`saved_model.pb` last, and only then renamed to its version number. A crash during a push leaves at
most a staging folder, never a partial version that a server would load. Versions are Unix
timestamps, kept strictly increasing even when two pushes fall in the same second.

It pushes only a model that is both blessed (the Evaluator's `model_blessing`) and infra-blessed
(the serving check's `infra_blessing`), and it pushes the model inside the InfraBlessing (TFX's
`stamped_model/`, the Trainer's model with its `assets.extra/` warmup requests and serving record),
as TFX's Pusher does when it is given an `infra_blessing` and no `model`.

Given the drift statistics of the model's training data (DriftCheck's `statistics`, components/
drift/), the Pusher carries them in the version folder, before saved_model.pb (core/serving.py:
`assets.extra/bertpipe/training_statistics/`): the lineage a later run compares its span with,
on every orchestrator.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
from tfx import types
from tfx.components import Pusher as TfxPusher
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import io_utils

from components.core import runtime_settings
from components.core.serving import (
    SAVED_MODEL_FILE,
    carry_training_statistics,
    production_versions,
)

# The optional input that the Pusher carries into the version folder.
STATISTICS_KEY = standard_component_specs.STATISTICS_KEY

STAGING_PREFIX = ".incoming-"


def push_model(model_path: str, push_dir: str, statistics=None) -> tuple[str, str]:
    """Copies the SavedModel at `model_path` to a new version under `push_dir`, atomically, with
    the drift statistics of its training data when given (an ExampleStatistics artifact).

    Returns (version, version folder).
    """
    tf.io.gfile.makedirs(push_dir)
    existing = production_versions(push_dir)
    version = str(max([int(time.time())] + [v + 1 for v in existing]))
    staging = os.path.join(push_dir, f"{STAGING_PREFIX}{version}")
    final = os.path.join(push_dir, version)
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
    io_utils.copy_dir(model_path, staging, deny_regex_patterns=[re.escape(SAVED_MODEL_FILE)])
    if statistics is not None:
        splits = artifact_utils.decode_split_names(statistics.split_names)
        carry_training_statistics(staging, statistics.uri, int(statistics.span), splits)
    io_utils.copy_file(
        os.path.join(model_path, SAVED_MODEL_FILE), os.path.join(staging, SAVED_MODEL_FILE)
    )
    tf.io.gfile.rename(staging, final)
    logging.info("Pushed model version %s to %s", version, final)
    return version, final


class Executor(tfx_pusher_executor.Executor):
    """Pushes blessed models to the push_dir runtime setting with `push_model`."""

    def Do(  # noqa: N802  (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        exec_properties, settings = runtime_settings.pop_settings(exec_properties)
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        push_dir = settings.get("push_dir", "")
        if not push_dir:
            raise ValueError("the Pusher has no push_dir (runtime setting) to push to")
        model_path = self.GetModelPath(input_dict)
        statistics = input_dict.get(STATISTICS_KEY) or [None]
        version, final = push_model(model_path, push_dir, statistics[0])
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=final, pushed_version=version)


class Pusher(runtime_settings.TakesRuntimeSettings, TfxPusher):
    """TFX's Pusher with all-or-nothing pushes to a versioned folder; give it `model_blessing` and
    `infra_blessing` (the model to push is the infra-blessed one), and `statistics` (the drift
    statistics of the model's training data, carried into the version folder).

    The folder is the runtime setting `push_dir` (components.core.runtime_settings).
    """

    SETTINGS = ("push_dir",)
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self, *, runtime: Mapping[str, Any], statistics: types.BaseChannel | None = None, **kwargs
    ):
        # The folder itself is the push_dir setting, so that it can change per run.
        destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem())
        super().__init__(runtime=runtime, push_destination=destination, **kwargs)
        if statistics is not None:
            extra = ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True)
            runtime_settings.extend_spec(self, inputs={STATISTICS_KEY: (extra, statistics)})
