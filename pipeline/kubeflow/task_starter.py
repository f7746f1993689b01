"""How `bertpipe run-package` starts a task's process: cold, as a container starts, or forked from a
warm Python that has imported the image's libraries once.

Every task of a package is `python -m <entry point> <arguments>` (TFX's KFP v2 entry point, or the
Report's). A new Python pays about 6-7 s on these machines to import TensorFlow, TFX, Beam and
the project before the task does any work, and a package run starts a dozen of them. The two
starters run the same command and give the same result, each in a process of its own with its
own exit status and its output (stdout and stderr together) on a pipe:

- `ColdStarter`: the command as a subprocess, exactly as the container would run it.
- `WarmStarter` (the default): one server process per run (`python -m
  pipeline.kubeflow.task_starter`, started in the tasks' environment and folder) imports
  `PRELOAD` once, then forks itself for each task; the child runs the entry point as `python -m`
  would (`runpy`, with the task's arguments as `sys.argv`) and exits with its status. Nothing
  else happens in the server between its imports and a fork, so each child starts where a fresh
  Python would be after those imports. A command that is not `python -m <module>` runs cold.

The server is driven over a socket pair: a request is the command (one JSON line) with the write
end of the task's output pipe attached (SCM_RIGHTS); the answer is a JSON line with the exit
status once the child has exited. A server that dies is a `LocalRunError`; closing the starter
stops the server and any child still running.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from pipeline.kubeflow.local_spec import LocalRunError

MODULE = "pipeline.kubeflow.task_starter"
PYTHON_COMMANDS = ("python", "python3")
# What every task imports: TFX's entry point and the libraries and project modules its executors
# load (the heavy part of a task's start; the rest each task imports itself).
PRELOAD = (
    "tensorflow",
    "tensorflow_text",
    "apache_beam",
    "tensorflow_transform",
    "tensorflow_model_analysis",
    "tensorflow_data_validation",
    "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
    "tfx.components",
    "components.text_example_gen.executor",
    "components.transform.executor",
    "components.trainer.executor",
    "components.evaluator.executor",
    "components.report.entrypoint",
    "components.report.executor",
    "components.pusher",
    "components.baseline",
    "components.validation_gate",
)
READY = "ready"
_MAX_FDS = 1


class Task(Protocol):
    """A started task."""

    def wait(self) -> int:
        """Waits for the task's end; its exit code (negative: killed by that signal)."""
        ...

    def kill(self) -> None: ...


class Starter(Protocol):
    """Starts the tasks of one run."""

    def start(self, command: Sequence[str], output: int) -> Task:
        """Starts `command` with stdout and stderr on `output` (a writable descriptor, which the
        caller closes after this returns and reads from the other end of its pipe)."""
        ...

    def close(self) -> None: ...


class ColdStarter:
    """Each command as a subprocess of its own (a fresh Python, as in the image)."""

    def __init__(self, environment: Mapping[str, str], folder: Path):
        self._environment = dict(environment)
        self._folder = folder

    def start(self, command: Sequence[str], output: int) -> Task:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=self._environment,
            cwd=self._folder,
        )

    def close(self) -> None:
        pass


def module_command(command: Sequence[str]) -> tuple[str, list[str]] | None:
    """(module, arguments) of `python -m <module> <arguments>`, else None."""
    if len(command) >= 3 and _is_python(command[0]) and command[1] == "-m":
        return command[2], list(command[3:])
    return None


def _is_python(program: str) -> bool:
    return Path(program).name in PYTHON_COMMANDS or program == sys.executable


class WarmStarter:
    """Tasks forked from one server Python that imported `PRELOAD` (see the module docstring)."""

    def __init__(
        self, environment: Mapping[str, str], folder: Path, preload: Sequence[str] = PRELOAD
    ):
        self._cold = ColdStarter(environment, folder)
        ours, theirs = socket.socketpair()
        self._channel = ours
        self._replies = ours.makefile("r", encoding="utf-8")
        self._server = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(theirs.fileno()), *preload],
            stdin=subprocess.DEVNULL,
            env=dict(environment),
            cwd=folder,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,  # its own process group: closing stops its children too
        )
        theirs.close()
        self._ready = False

    def _reply(self) -> dict:
        line = self._replies.readline()
        if not line:
            code = self._server.poll()
            raise LocalRunError(
                f"the task starter (python -m {MODULE}) stopped"
                + (f" with exit code {code}" if code is not None else "")
                + ": run again with --cold-start to start each task in a fresh Python"
            )
        return json.loads(line)

    def start(self, command: Sequence[str], output: int) -> Task:
        found = module_command(command)
        if found is None:
            return self._cold.start(command, output)
        if not self._ready:
            if self._reply() != {"status": READY}:
                raise LocalRunError(f"the task starter (python -m {MODULE}) did not start")
            self._ready = True
        module, arguments = found
        request = json.dumps({"module": module, "arguments": arguments}).encode("utf-8") + b"\n"
        socket.send_fds(self._channel, [request], [output])
        return _ForkedTask(self)

    def close(self) -> None:
        if self._server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._server.pid, signal.SIGKILL)
        self._server.wait()
        self._replies.close()
        self._channel.close()


class _ForkedTask:
    """A task that the server forked: its exit code comes as the server's next reply."""

    def __init__(self, starter: WarmStarter):
        self._starter = starter

    def wait(self) -> int:
        return int(self._starter._reply()["status"])

    def kill(self) -> None:
        self._starter.close()  # the child is in the server's process group


@contextlib.contextmanager
def starter(warm: bool, environment: Mapping[str, str], folder: Path) -> Iterator[Starter]:
    """A WarmStarter (or, with `warm` False, a ColdStarter), closed at the end."""
    chosen = WarmStarter(environment, folder) if warm else ColdStarter(environment, folder)
    try:
        yield chosen
    finally:
        chosen.close()


# -- the server ----------------------------------------------------------------------------------
def _receive(channel: socket.socket) -> tuple[dict, int] | None:
    """The next request and its output descriptor, or None when the client has gone."""
    data, fds, _, _ = socket.recv_fds(channel, 1 << 20, _MAX_FDS)
    if not data:
        return None
    if len(fds) != 1 or not data.endswith(b"\n"):
        raise RuntimeError(
            "task starter: a request is one JSON line with one descriptor, got"
            f" {data[:200]!r} and {fds}"
        )
    return json.loads(data), fds[0]


def _child(module: str, arguments: list[str], output: int) -> None:
    """In the forked child: the task's module as `python -m` runs it; never returns."""
    status = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.close(devnull)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        sys.argv = [module, *arguments]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as stop:
        code = stop.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if not isinstance(code, int | None):
            print(code, file=sys.stderr)
    except BaseException:  # noqa: BLE001  (the task's own failure: its traceback, then exit 1)
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


def serve(channel_fd: int, preload: Sequence[str]) -> None:
    """The server: imports `preload`, says it is ready, then forks one child per request."""
    for name in preload:
        importlib.import_module(name)
    channel = socket.socket(fileno=channel_fd)
    replies = channel.makefile("w", encoding="utf-8")

    def reply(**values) -> None:
        replies.write(json.dumps(values) + "\n")
        replies.flush()

    reply(status=READY)
    while True:
        received = _receive(channel)
        if received is None:
            return
        request, output = received
        pid = os.fork()
        if pid == 0:
            channel.close()
            _child(request["module"], request["arguments"], output)
        os.close(output)
        _, wait_status = os.waitpid(pid, 0)
        reply(status=os.waitstatus_to_exitcode(wait_status))


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2:])
