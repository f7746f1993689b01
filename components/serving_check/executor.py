"""The serving check's executor: runs fresh_process.py on the candidate and writes TFX's
InfraBlessing.

The candidate is the Trainer's serving model; the canaries come from the first
`MAX_EVAL_RECORDS` serialized tf.Examples of the eval split. The fresh process is this
interpreter (`sys.executable`) in isolated mode (`-I`: no PYTHONPATH, no user site, not even the
script's own folder on sys.path), so that it reaches only what is installed, as a server's
environment would (process.py: on a local run it was started with the run and has imported
tensorflow and tensorflow_text meanwhile). Its result becomes a `ServingCheckResult`
(components/core/serving_check.py), written into the blessing. When every check passed, the model is copied into the blessing as
TFX's InfraValidator does with `RequestSpec(make_warmup=True)` (`stamped_model/`, property
`has_model`), with the two files of components/core/serving_assets.py added under its
`assets.extra/`: the warmup requests (the canaries of the length buckets, which the fresh process
has just answered) and the serving record. The Pusher pushes that model, not the Trainer's.
When a check failed, the blessing says so and holds no model; the step itself succeeds, so that
the run goes on to the Report, which says why nothing was pushed.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import time
from typing import Any

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils

from components.core import serving
from components.core.artifacts import EVAL_SPLIT
from components.core.features import ATTENTION_MASK, LABEL_ID, TEXT_FEATURE
from components.core.serving_assets import (
    ServingRecord,
    WarmupRequest,
    graph_ops,
    read_meta_graph,
    signature_io,
    write_serving_record,
    write_warmup_requests,
)
from components.core.serving_check import (
    INFRA_BLESSED_FILE,
    INFRA_BLESSED_PROPERTY,
    INFRA_HAS_MODEL_PROPERTY,
    INFRA_NOT_BLESSED_FILE,
    LOAD,
    PROCESS,
    CheckFailure,
    Latency,
    ServingCheckResult,
    write_serving_check,
)
from components.serving_check import process

log = logging.getLogger(__name__)

MAX_EVAL_RECORDS = 256
TOLERANCE = 1e-5  # on each probability: raw strings against tf.Examples, batch 1 against 32
BATCH_SIZE = 32
LATENCY_REPEATS = 4  # calls per steady-latency median at batch 1 (half of it at batch 32)
TIMEOUT_S = 900
# Packages the fresh process must not have imported: a server has none of them.
FORBIDDEN_MODULES = ("pipeline", "components", "transformers", "tfx")


def eval_records(examples: types.Artifact, limit: int = MAX_EVAL_RECORDS) -> list[bytes]:
    """The first `limit` serialized tf.Examples of the eval split, in file order."""
    folder = artifact_utils.get_split_uri([examples], EVAL_SPLIT)
    files = sorted(fileio.glob(os.path.join(folder, "*")))
    if not files:
        raise ValueError(f"no {EVAL_SPLIT} split in {examples.uri}: expected files in {folder}")
    compression = "GZIP" if files[0].endswith(".gz") else ""
    dataset = tf.data.TFRecordDataset(files, compression_type=compression).take(limit)
    return [bytes(record) for record in dataset.as_numpy_iterator()]


def check_request(model_dir: str, records: list[bytes], ops: list[str]) -> dict[str, Any]:
    """What fresh_process.py reads: the model, the canary sources and every name it needs."""
    return {
        "model_dir": model_dir,
        "records": [base64.b64encode(record).decode("ascii") for record in records],
        "graph_ops": ops,
        "names": {
            "default": serving.SERVING_DEFAULT,
            "examples": serving.SERVING_EXAMPLES,
            "transform": serving.TRANSFORM_FEATURES,
            "examples_input": serving.EXAMPLES_INPUT,
            "probabilities": serving.OUTPUT_PROBABILITIES,
            "label_id": LABEL_ID,
            "attention_mask": ATTENTION_MASK,
            "text_feature": TEXT_FEATURE,
            "load": LOAD,
        },
        "tolerance": TOLERANCE,
        "batch_size": BATCH_SIZE,
        "repeats": LATENCY_REPEATS,
        "forbidden_modules": list(FORBIDDEN_MODULES),
    }


def run_fresh_process(
    model_dir: str, records: list[bytes], ops: list[str], timeout: float = TIMEOUT_S
) -> tuple[ServingCheckResult, dict[str, Any]]:
    """Runs the checks in a fresh process (one started early, when there is one: process.py);
    (the result, everything the process answered)."""
    fresh = process.take()
    try:
        started = time.monotonic()
        try:
            status, stderr = fresh.answer(check_request(model_dir, records, ops), timeout)
        except subprocess.TimeoutExpired:
            failure = CheckFailure(PROCESS, "answers in time", f"no answer within {timeout:g} s")
            return ServingCheckResult(passed=False, failure=failure, seconds=timeout), {}
        seconds = round(time.monotonic() - started, 2)
        found = fresh.result()
    finally:
        fresh.close()
    if status != 0 or found is None:
        last = [line for line in stderr.splitlines() if line.strip()][-1:] or ["-"]
        failure = CheckFailure(PROCESS, "exits cleanly", f"exit status {status}: {last[0][:300]}")
        log.info("the serving check's process failed; its output:\n%s", stderr[-6000:])
        return ServingCheckResult(passed=False, failure=failure, seconds=seconds), {}
    latency = found.get("latency")
    failure = found.get("failure")
    result = ServingCheckResult(
        passed=bool(found["passed"]),
        failure=CheckFailure(**failure) if failure else None,
        latency=Latency(**latency) if latency else None,
        signatures=tuple(found.get("signatures", ())),
        canaries=int(found.get("canaries", 0)),
        tensorflow_version=found["tensorflow_version"],
        tensorflow_text_version=found["tensorflow_text_version"],
        seconds=seconds,
    )
    return result, found


def warmup_requests(found: dict[str, Any]) -> list[WarmupRequest]:
    """One `serving_default` request per length bucket: the canaries the process answered."""
    return [
        WarmupRequest(
            serving.SERVING_DEFAULT, {name: [text] for name, text in entry["inputs"].items()}
        )
        for entry in found["warmup"]
    ]


def _mark(blessing: types.Artifact, blessed: bool) -> None:
    name = INFRA_BLESSED_FILE if blessed else INFRA_NOT_BLESSED_FILE
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    blessing.set_int_custom_property(INFRA_BLESSED_PROPERTY, int(blessed))
    blessing.set_int_custom_property(INFRA_HAS_MODEL_PROPERTY, int(blessed))


class Executor(base_executor.BaseExecutor):
    """Runs the serving check (see the module docstring)."""

    def Do(  # noqa: N802  (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY]
        )
        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY]
        )
        model_dir = path_utils.serving_model_path(model.uri)
        meta_graph = read_meta_graph(model_dir)
        result, found = run_fresh_process(model_dir, eval_records(examples), graph_ops(meta_graph))
        write_serving_check(blessing.uri, result)
        if not result.passed:
            log.warning("serving check failed, nothing will be pushed: %s", result.failure.line)
            _mark(blessing, blessed=False)
            return
        stamped = path_utils.stamped_model_path(blessing.uri)
        io_utils.copy_dir(model_dir, stamped)
        requests = warmup_requests(found)
        write_warmup_requests(stamped, requests)
        record = ServingRecord(
            tensorflow_text_ops=found["tensorflow_text_ops"],
            tensorflow_version=meta_graph.meta_info_def.tensorflow_version,
            tensorflow_git_version=meta_graph.meta_info_def.tensorflow_git_version,
            tensorflow_text_version=result.tensorflow_text_version,
            signatures=signature_io(meta_graph),
            warmup_requests=len(requests),
        )
        write_serving_record(stamped, record)
        _mark(blessing, blessed=True)
        log.info("serving check passed: %s", result.to_json())
