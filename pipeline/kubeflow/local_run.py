"""Runs a compiled pipeline package on this machine through kfp's own local executor, kfp.local.

`bertpipe run-package` is the smoke test of a package before `kfp run submit`: kfp 2.9's
`kfp.local` walks the package's DAG, builds each task's ExecutorInput, resolves its placeholders
and the run-time parameters, and passes artifacts from task to task, as the KFP backend does. It
cannot run a TFX package as it stands; what it lacks is done here, in one task handler
(`_TaskHandler`):

- Each container task's resolved command and arguments run in a process of their own on this
  machine, with this Python, the image's environment (components/core/env.py) and this checkout
  first on PYTHONPATH, instead of in the image: kfp.local's SubprocessRunner refuses container
  components (`validate_not_container_component`) and its DockerRunner needs a Docker daemon.
  By default each task's process is forked from a Python that imported the image's libraries
  once per run, which saves each task their imports (6-7 s); `cold_start` (`--cold-start`)
  starts each as a fresh subprocess, exactly as the container does (task_starter.py).
- TFX's driver hook, ExampleGen's `lifecycle.preCacheCheck` (span, version and fingerprint of the
  input), which kfp.local parses but never runs, runs first with the same ExecutorInput; what it
  writes (parameter values, the output artifact's metadata) is merged into the ExecutorInput of
  the task's executor, as Vertex AI Pipelines does.
- Input artifacts get back the types their task declares: kfp.local rebuilds upstream artifacts
  from `schemaTitle` alone, which TFX's types (`instanceSchema`) do not have, so they would arrive
  as `system.Artifact` ("Could not import system.Artifact" in StatisticsGen).

The package is adapted in memory before the run (the file is not touched; local_spec.py, pure
functions on the spec): its components get the `comp-` prefix that kfp.local's task folders
assume, and this project's files, which the package names by their path in the image
(`/bertpipe/...`), are mapped to this checkout. The image, accelerator requests and node selectors
are not used locally; caching is off (kfp.local has none).

The one seam into kfp.local: kfp 2.9 picks the task handler of a container task from a fixed map
of its two runner classes, looking the subprocess one up as
`kfp.local.subprocess_task_handler.SubprocessTaskHandler` on every call. `_kfp_local_session`
puts this module's handler there for the duration of a run (together with kfp.local's session
settings) and puts the originals back afterwards, after checking that kfp is the version this
was written against (KFP_VERSION). Runs are therefore one at a time per process.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import kfp
import yaml
from kfp import components as kfp_components
from kfp import local as kfp_local
from kfp.local import config as kfp_local_config
from kfp.local import status as kfp_status
from kfp.local import subprocess_task_handler, task_handler_interface
from tfx.dsl.io import fileio

from components.core import env
from components.core.artifacts import REPORT_SUMMARY_FILE
from components.core.config import PACKAGE_ROOT
from components.core.scoring import SUMMARY_TEXT
from components.report.executor import REPORT_KEY
from components.scoring import SCORES_KEY
from pipeline.kubeflow.local_spec import (
    Executor,
    LocalRunError,
    command_with_input,
    executors,
    local_paths,
    merge_driver_output,
    restore_input_types,
    task_folders,
    with_component_prefix,
)
from pipeline.kubeflow.package import (
    check_parameters,
    load_package,
    pipeline_parameters,
    read_documents,
)
from pipeline.kubeflow.task_starter import PYTHON_COMMANDS, Starter, starter

# The kfp release whose kfp.local internals the seam above was checked against (pinned).
KFP_VERSION = "2.9.0"
# Where the runs keep their artifacts and logs (one subfolder per run) unless told otherwise.
DEFAULT_PIPELINE_ROOT = Path("runs/package")
DRIVER, EXECUTOR = "driver", "executor"
LOG_TAIL_LINES = 40
KFP_LOG = "kfp_local.log"


@dataclass(frozen=True)
class StepRun:
    """One subprocess of a task: its driver hook or its executor."""

    task: str
    step: str  # DRIVER or EXECUTOR
    command: tuple[str, ...]
    executor_input: dict
    returncode: int
    seconds: float
    log: Path

    @property
    def output_file(self) -> Path:
        return Path(self.executor_input["outputs"]["outputFile"])


@dataclass
class PackageRun:
    """What a local run of a package did, step by step, and where it left its artifacts."""

    package: Path
    arguments: dict[str, Any]
    steps: list[StepRun] = field(default_factory=list)

    @property
    def folder(self) -> Path | None:
        """The run's folder (kfp.local: <pipeline root>/<pipeline name>-<time>)."""
        return self.steps[0].output_file.parent.parent if self.steps else None

    @property
    def failed(self) -> StepRun | None:
        return next((step for step in self.steps if step.returncode != 0), None)

    def executor(self, task: str) -> StepRun | None:
        return next((s for s in self.steps if s.task == task and s.step == EXECUTOR), None)

    def output(self, task: str, key: str) -> dict | None:
        """The RuntimeArtifact (uri, metadata) that a task's executor wrote under `key`."""
        step = self.executor(task)
        if step is None or step.returncode != 0 or not step.output_file.is_file():
            return None
        written = json.loads(step.output_file.read_text(encoding="utf-8"))
        artifacts = written.get("artifacts", {}).get(key, {}).get("artifacts", [])
        return artifacts[0] if artifacts else None

    def find_output(self, key: str) -> tuple[str, dict] | None:
        """(task, artifact) of the last task that wrote an output named `key`."""
        for step in reversed(self.steps):
            found = self.output(step.task, key) if step.step == EXECUTOR else None
            if found is not None:
                return step.task, found
        return None


# -- running tasks -----------------------------------------------------------------------------------
def task_environment(project_root: Path = PACKAGE_ROOT) -> dict[str, str]:
    """The environment of a task: the image's (components/core/env.py DEFAULTS, as the Dockerfile
    sets them), this checkout first on PYTHONPATH, and this Python's folder first on PATH (the
    image's `python`; Beam's worker processes are started as `python` too)."""
    environ = env.apply(dict(os.environ))
    python_path = [
        str(project_root),
        *filter(None, environ.get("PYTHONPATH", "").split(os.pathsep)),
    ]
    environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(python_path))
    environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")])
    return environ


class _LocalRun:
    """The state of one run: the package's executors, where to print, what ran."""

    def __init__(self, record: PackageRun, spec: dict, project_root: Path, stream, verbose: bool):
        self.record = record
        self.executors = executors(spec)
        self.task_folders = task_folders(spec)
        self.project_root = project_root
        self.environment = task_environment(project_root)
        self.stream = stream
        self.verbose = verbose
        self.starter: Starter | None = None  # set for the duration of the run

    def say(self, text: str) -> None:
        self.stream.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
        self.stream.flush()

    def find(self, command: list[str]) -> tuple[str, Executor, dict]:
        """(task, executor, ExecutorInput) of a command that kfp.local resolved."""
        for executor in self.executors:
            resolved = executor.executor_input(command)
            if resolved is not None:
                executor_input = json.loads(resolved)
                folder = Path(executor_input["outputs"]["outputFile"]).parent.name
                return self.task_folders.get(folder, folder), executor, executor_input
        raise LocalRunError(
            f"kfp.local asked to run a command that is no executor of the package: {command[:4]}"
        )

    def run_step(self, task: str, step: str, template, executor_input: dict) -> StepRun:
        command = command_with_input(template, executor_input)
        if command and command[0] in PYTHON_COMMANDS:
            command[0] = sys.executable
        task_root = Path(executor_input["outputs"]["outputFile"]).parent
        task_root.mkdir(parents=True, exist_ok=True)
        log = task_root / f"{step}.log"
        label = task if step == EXECUTOR else f"{task} ({step})"
        self.say(f"{label} started")
        started = time.monotonic()
        with open(log, "w", encoding="utf-8") as sink:
            returncode = self._execute(command, sink)
        seconds = time.monotonic() - started
        result = StepRun(task, step, tuple(command), executor_input, returncode, seconds, log)
        self.record.steps.append(result)
        if returncode == 0:
            self.say(f"{label} finished in {seconds:.1f} s")
        else:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
            self.say(f"{label} FAILED (exit {returncode}) after {seconds:.1f} s; log: {log}")
            if not self.verbose:
                self.stream.write("".join(f"    {line}\n" for line in tail))
        return result

    def _execute(self, command: list[str], sink: TextIO) -> int:
        read_end, write_end = os.pipe()
        try:
            task = self.starter.start(command, write_end)
        finally:
            os.close(write_end)
        with open(read_end, encoding="utf-8", errors="replace") as lines:
            try:
                for line in lines:
                    sink.write(line)
                    if self.verbose:
                        self.stream.write(f"    {line}")
            except BaseException:
                task.kill()
                raise
        return task.wait()


def _driver_output(output_file: Path, task: str) -> dict:
    """The ExecutorOutput that a task's driver hook wrote; the file is removed, so that the
    executor's ExecutorOutput is the only one there."""
    if not output_file.is_file():
        raise LocalRunError(f"the driver hook of {task} wrote no ExecutorOutput at {output_file}")
    driver_output = json.loads(output_file.read_text(encoding="utf-8"))
    output_file.unlink()
    return driver_output


class _TaskHandler(task_handler_interface.ITaskHandler):
    """kfp.local's handler for one container task (see the module docstring)."""

    def __init__(self, run: _LocalRun, *, image, full_command, pipeline_root, runner) -> None:
        del image, pipeline_root, runner  # the task runs here, in this Python environment
        self.run_state = run
        self.full_command = list(full_command)

    def run(self) -> kfp_status.Status:
        state = self.run_state
        task, executor, executor_input = state.find(self.full_command)
        restore_input_types(executor_input, executor.input_types)
        if executor.hook is not None:
            driver = state.run_step(task, DRIVER, executor.hook, executor_input)
            if driver.returncode != 0:
                return kfp_status.Status.FAILURE
            driver_output = _driver_output(driver.output_file, task)
            executor_input = merge_driver_output(executor_input, driver_output)
        result = state.run_step(task, EXECUTOR, executor.template, executor_input)
        return kfp_status.Status.SUCCESS if result.returncode == 0 else kfp_status.Status.FAILURE


@contextlib.contextmanager
def _kfp_local_session(handler, pipeline_root: Path) -> Iterator[None]:
    """kfp.local set up to run container tasks with `handler` (the seam; module docstring)."""
    if kfp.__version__ != KFP_VERSION:
        raise LocalRunError(
            f"run-package drives kfp.local as of kfp {KFP_VERSION} (the pinned version); found kfp"
            f" {kfp.__version__}: check pipeline/kubeflow/local_run.py against it"
        )
    previous_handler = subprocess_task_handler.SubprocessTaskHandler
    previous_session = kfp_local_config.LocalExecutionConfig.instance
    subprocess_task_handler.SubprocessTaskHandler = handler
    try:
        kfp_local.init(
            runner=kfp_local.SubprocessRunner(use_venv=False),
            pipeline_root=str(pipeline_root),
            raise_on_error=False,
        )
        yield
    finally:
        subprocess_task_handler.SubprocessTaskHandler = previous_handler
        kfp_local_config.LocalExecutionConfig.instance = previous_session


# -- the entry point ---------------------------------------------------------------------------------
def run_package(
    package: str | Path,
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | Path | None = None,
    *,
    project_root: Path = PACKAGE_ROOT,
    stream: TextIO | None = None,
    verbose: bool = False,
    cold_start: bool = False,
) -> PackageRun:
    """Runs a compiled package locally through kfp.local; returns what ran.

    `params` are the run-time parameters (checked against the package's declarations, as
    `bertpipe submit` checks them); each run gets a folder under `pipeline_root` (default:
    DEFAULT_PIPELINE_ROOT). Progress lines go to `stream` (default: stdout), each step's output to
    `<task folder>/{driver,executor}.log` (and to `stream` too when `verbose`), and kfp.local's
    own log to `<run folder>/kfp_local.log`. Each task's process is forked from a warm Python,
    or with `cold_start` started fresh (see the module docstring). Raises LocalRunError naming
    the task that failed,
    package.py's errors for a package or parameters that cannot be used.
    """
    stream = stream or sys.stdout
    package = Path(package)
    documents = read_documents(package)
    spec_proto = load_package(package)  # strictly, as the KFP API server reads it
    declared = pipeline_parameters(spec_proto)
    arguments = {
        name: float(value) if declared[name].type in ("NUMBER_DOUBLE", "DOUBLE") else value
        for name, value in check_parameters(spec_proto, params).items()
    }
    arguments = local_paths(arguments, project_root)
    spec = with_component_prefix(local_paths(documents[0], project_root))
    component = kfp_components.load_component_from_text(yaml.safe_dump(spec, sort_keys=True))

    if pipeline_root is None:
        pipeline_root = DEFAULT_PIPELINE_ROOT
    pipeline_root = Path(pipeline_root).resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    record = PackageRun(package=package, arguments=arguments)
    state = _LocalRun(record, spec, project_root, stream, verbose)
    images = sorted(
        {
            e["container"]["image"]
            for e in spec["deploymentSpec"]["executors"].values()
            if "container" in e
        }
    )
    how = "a fresh Python" if cold_start else "a fork of a warm Python"
    state.say(
        f"Running {package} with kfp {kfp.__version__}'s local executor: each task in {how}"
        f" ({sys.executable}, not in {', '.join(images)}), artifacts under {pipeline_root}"
    )
    kfp_log = io.StringIO()
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(kfp_log)
    try:
        with (
            starter(not cold_start, state.environment, project_root) as state.starter,
            _kfp_local_session(functools.partial(_TaskHandler, state), pipeline_root),
            quiet,
        ):
            component(**arguments)
    finally:
        if record.folder is not None:
            (record.folder / KFP_LOG).write_text(kfp_log.getvalue(), encoding="utf-8")
    failed = record.failed
    if failed is not None:
        raise LocalRunError(
            f"task {failed.task} failed ({failed.step} exit code {failed.returncode}); its log:"
            f" {failed.log}"
        )
    return record


# -- what a run did ----------------------------------------------------------------------------------
def summary(run: PackageRun) -> str:
    """What the run did, as `bertpipe run-package` prints it: the tasks in the order they ran,
    the parameters, then the run's own Report step's summary (what a local run prints), or the
    scoring package's ScoreWriter's."""
    tasks = list(dict.fromkeys(step.task for step in run.steps))
    drivers = {step.task for step in run.steps if step.step == DRIVER}
    order = [f"{task} (after its driver)" if task in drivers else task for task in tasks]
    lines = ["", "=" * 72, f"Package run summary: {run.package}", "=" * 72]
    lines.append(f"{len(tasks)} tasks ran, in this order: {', '.join(order)}")
    lines.append(f"parameters: {json.dumps(run.arguments, sort_keys=True)}")
    report, scores = run.find_output(REPORT_KEY), run.find_output(SCORES_KEY)
    if report is not None:
        with fileio.open(os.path.join(report[1]["uri"], REPORT_SUMMARY_FILE)) as handle:
            lines.append(handle.read().strip("\n"))
    elif scores is not None:  # the scoring package
        with fileio.open(os.path.join(scores[1]["uri"], SUMMARY_TEXT)) as handle:
            lines.append(handle.read().strip("\n"))
    else:
        lines.append("the package has no Report step: see the task logs for what happened")
    lines.append(f"artifacts and logs: {run.folder}")
    return "\n".join(lines)
