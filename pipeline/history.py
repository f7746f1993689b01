"""`bertpipe history`: the runs of a local run folder, from its MLMD store, as one table.

Every run of the folder is a `pipeline_run` context in metadata.sqlite, whichever step it
reached: a run that stopped at ValidationGate (or any other step) is there with the step that
failed, a run that reached the Evaluator with its decision, read back from the Evaluator's own
output (`load_evaluation`, as `bertpipe explain` reads it), so the table does not depend on the
Report step having run. The entries are those of the report's "Run history" table
(components/core/history.py), which the Report steps keep in the push destination; for a
Kubeflow deployment, which has no local MLMD store, `bertpipe history --push-dir URI` prints
those.
"""

from __future__ import annotations

import os

from ml_metadata.proto import metadata_store_pb2

from components.core.artifacts import read_drift_result
from components.core.errors import UserError
from components.core.evaluation import EvaluationNotFoundError, load_evaluation
from components.core.history import HistoryEntry, outcome, utc_time
from components.core.serving_check import INFRA_BLESSED_PROPERTY
from components.drift import DriftCheck
from components.evaluator import Evaluator
from components.pusher import Pusher
from components.report import Report
from components.serving_check import ServingCheck
from components.text_example_gen.component import TextExampleGen
from pipeline.run_artifacts import (
    PIPELINE_RUN_CONTEXT,
    node_executions,
    open_store,
    run_artifacts,
)

METADATA_FILE = "metadata.sqlite"  # in a run folder (pipeline/local_runner.py RunPaths)
_STOPPED = (metadata_store_pb2.Execution.FAILED, metadata_store_pb2.Execution.CANCELED)
_DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


class NoRunFolderError(UserError, FileNotFoundError):
    """`bertpipe history --output` names a folder without an MLMD store."""


def local_history(output: str) -> list[HistoryEntry]:
    """The runs recorded in the run folder `output`, newest first."""
    path = os.path.join(output, METADATA_FILE)
    if not os.path.isfile(path):
        raise NoRunFolderError(
            f"no run folder at {output!r}: expected its MLMD store {METADATA_FILE} there (the"
            " --output of a `bertpipe run`)"
        )
    store = open_store(path)
    entries = []
    for run in store.get_contexts_by_type(PIPELINE_RUN_CONTEXT):
        executions = node_executions(store, run)
        # node -> the state of its (latest) execution in this run
        state = {node: execution.last_known_state for node, execution in executions}
        ended = max(
            [run.create_time_since_epoch]
            + [execution.last_update_time_since_epoch for _, execution in executions]
        )
        entries.append(_entry(path, run.name, utc_time(ended / 1000), state))
    return sorted(entries, key=lambda e: (e.time, e.run_id), reverse=True)


def _entry(path: str, run_id: str, ended: str, state: dict[str, int]) -> HistoryEntry:
    """The entry of run `run_id` from its artifacts and the state of each node's execution."""
    artifacts = run_artifacts(path, run_id)
    stopped_at = next((node for node, s in state.items() if s in _STOPPED), None)

    def output(node: type, key: str):
        done = state.get(node.__name__) in _DONE
        return artifacts.get((node.__name__, key)) if done else None

    examples = output(TextExampleGen, "examples")
    blessing = output(Evaluator, "blessing")
    evaluation = None
    if blessing is not None:
        try:
            evaluation = load_evaluation(output(Evaluator, "evaluation").uri)
        except EvaluationNotFoundError:  # its folder was deleted: the verdict is still known
            evaluation = None
    pushed = output(Pusher, "pushed_model")
    version = str(pushed.get("pushed_version", "")) if pushed and pushed.get("pushed") else ""
    report = output(Report, "report")
    drift_output = output(DriftCheck, "drift")
    drift = read_drift_result(drift_output.uri) if drift_output else None
    serving_check = output(ServingCheck, "blessing")
    return outcome(
        time=ended,
        run_id=run_id,
        evaluation=evaluation,
        blessed=None if blessing is None else bool(blessing.get("blessed")),
        stopped_at=stopped_at,
        span=(examples.get("span") or None) if examples else None,  # 0: no spans
        pushed_version=int(version) if version.isdigit() else None,
        report=report.uri if report else None,
        drift=drift.findings() if drift else None,
        serving_check_passed=(
            None if serving_check is None else bool(serving_check.get(INFRA_BLESSED_PROPERTY))
        ),
    )
