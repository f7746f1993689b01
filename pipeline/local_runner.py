"""Runs the pipeline on this machine with TFX's LocalDagRunner or BeamDagRunner.

Both orchestrators run the same `create_pipeline` (the "local" one launches nodes that do not
depend on each other at the same time: pipeline/dag_threads.py); a run keeps its pipeline root and
MLMD store in the run folder, so a second run with nothing changed reuses cached component outputs.
A run holds the run folder's lock while it runs (pipeline/run_lock.py), and gets its pipeline run
id from here, so that what it reads back afterwards (its report) is its own run's
(pipeline/run_artifacts.py).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from absl import logging as absl_logging
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
from tfx.orchestration.portable import runtime_parameter_utils

from components.core.config import Config
from components.serving_check import process as serving_check_process
from pipeline.beam_options import beam_pipeline_args
from pipeline.dag_threads import ThreadedLocalDagRunner
from pipeline.pipeline import create_pipeline
from pipeline.run_artifacts import RunReport, run_report
from pipeline.run_lock import LOCK_FILE, hold_output


@dataclass(frozen=True)
class RunPaths:
    """Where a local run keeps everything, all under the run folder."""

    output: Path

    @property
    def pipeline_root(self) -> Path:
        return self.output / "pipeline_root"

    @property
    def metadata_path(self) -> Path:
        return self.output / "metadata.sqlite"

    @property
    def lock_path(self) -> Path:
        return self.output / LOCK_FILE


@dataclass(frozen=True)
class LocalRun:
    """A finished local run: its folder and its pipeline run id (MLMD's `pipeline_run` context)."""

    paths: RunPaths
    run_id: str

    def report(self) -> RunReport:
        """This run's report (its Report step's output)."""
        return run_report(str(self.paths.metadata_path), self.run_id)


class _FixedRunId:
    """Mixin for a TFX IR-based runner: runs with the pipeline run id `run_id` instead of its own.

    (Set after construction: BeamDagRunner's __new__ takes constructor arguments for its legacy
    implementation.)
    """

    run_id = ""

    def run_with_ir(self, pipeline, run_options=None, **kwargs):
        if not self.run_id:
            raise ValueError("set the runner's run_id before running")
        # The runners substitute their own id only where the parameter is still unset.
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self.run_id}
        )
        return super().run_with_ir(pipeline, run_options=run_options, **kwargs)


class _LocalDagRunner(_FixedRunId, ThreadedLocalDagRunner):
    pass


class _BeamDagRunner(_FixedRunId, BeamDagRunner):
    pass


RUNNERS = {"local": _LocalDagRunner, "beam": _BeamDagRunner}


def runner_with_run_id(kind: str, run_id: str) -> _FixedRunId:
    """The `kind` ("local" or "beam") orchestrator, running with pipeline run id `run_id`."""
    runner = RUNNERS[kind]()
    runner.run_id = run_id
    return runner


def new_run_id() -> str:
    """A pipeline run id: the start time (as LocalDagRunner's own ids are)."""
    return datetime.datetime.now().isoformat()


def run_pipeline(
    config: Config, runtime: Mapping[str, Any] | None = None, verbose: bool = False
) -> LocalRun:
    """Runs the whole pipeline with the configured local orchestrator, holding the run folder.

    `runtime` overrides the per-run settings (components.core.runtime_settings), as run-time parameters
    do on Kubeflow; by default they come from `config`. Raises pipeline.run_lock.OutputInUseError at
    once when another run holds the run folder. `verbose` shows TFX's INFO log as well as the
    progress lines.
    """
    paths = RunPaths(Path(config.run.output).resolve())
    beam_args = beam_pipeline_args(config.run)  # checked before anything is created
    run_id = new_run_id()
    with hold_output(paths.output, run_id):
        pipeline = create_pipeline(
            config,
            pipeline_root=str(paths.pipeline_root),
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                str(paths.metadata_path)
            ),
            beam_pipeline_args=beam_args,
            runtime=runtime,
        )
        # The serving check's fresh process imports TensorFlow while the steps before it run.
        with ComponentProgress(verbose=verbose), serving_check_process.started_early():
            runner_with_run_id(config.run.runner, run_id).run(pipeline)
    return LocalRun(paths, run_id)


class ComponentProgress(logging.Handler):
    """Prints a line when each component starts and ends, with its duration.

    TFX's orchestrators log "Component X is running." / "node X is finished." at INFO level; this
    handler turns those into progress lines without showing the rest of TFX's INFO logging. Two
    components may run at once, each in its own thread (pipeline/dag_threads.py): a launcher's
    "A cached execution" line belongs to the component that its thread started last.
    """

    _EVENTS = {
        ("component", "is running."): "start",
        ("node", "is running."): "start",
        ("component", "is finished."): "end",
        ("node", "is finished."): "end",
    }

    def __init__(self, stream=None, verbose: bool = False):
        super().__init__(level=logging.INFO)
        self._stream = stream
        self._verbose = verbose
        self._started: dict[str, float] = {}
        self._cached: set[str] = set()
        self._current: dict[int | None, str] = {}  # thread id -> the component it runs

    def __enter__(self):
        # TFX logs through absl's logger; a handler there survives handler changes on the root
        # logger that components make while they run. The level must be set through absl's
        # verbosity flag: TensorFlow's SavedModel code saves and restores that flag, which would
        # otherwise put the logger back to its default, WARNING, in the middle of the run. The
        # handlers that print log records keep showing warnings and errors only (all of it when
        # verbose).
        self._logger = logging.getLogger("absl")
        self._previous_verbosity = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.INFO)
        for logger in (
            () if self._verbose else (logging.getLogger(), logging.getLogger("tensorflow"))
        ):
            for handler in logger.handlers:
                if handler.level < logging.WARNING:
                    handler.setLevel(logging.WARNING)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self._logger.removeHandler(self)
        absl_logging.set_verbosity(self._previous_verbosity)
        return False

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("A cached execution"):
            if record.thread in self._current:
                self._cached.add(self._current[record.thread])
            return
        words = message.split(" ", 2)
        if len(words) != 3:
            return
        kind = self._EVENTS.get((words[0].lower(), words[2]))
        if kind is None:
            return
        node, now = words[1], time.monotonic()
        if kind == "start":
            self._started[node] = now
            self._current[record.thread] = node
            self._print(f"[{time.strftime('%H:%M:%S')}] {node} started")
        else:
            seconds = now - self._started.get(node, now)
            note = " (cached)" if node in self._cached else ""
            self._print(f"[{time.strftime('%H:%M:%S')}] {node} finished in {seconds:.1f} s{note}")

    def _print(self, line: str) -> None:
        print(line, file=self._stream, flush=True)
