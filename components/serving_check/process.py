"""The serving check's fresh process, which can be started before the model exists.

`FreshProcess()` starts `python -I fresh_process.py`: this interpreter in isolated mode (no
PYTHONPATH, no user site, not even the script's own folder on sys.path), so that it reaches only
what is installed, as a server's environment would, in its own temporary folder. It imports
tensorflow and tensorflow_text, then waits for its request (fresh_process.py). `answer()` hands
it the request file and waits for the result; `close()` ends a process that was never asked.

Importing tensorflow and tensorflow_text takes several CPU seconds, which a serving check paid
after the Evaluator. A local run starts the process when the pipeline starts (`started_early`,
around the run in pipeline/local_runner.py), so that the imports overlap the steps before the
check, which then takes it (`take()`); the process is as fresh as one started at the check: it
has imported the same two packages and nothing else, and has loaded no model. A process not
taken (a run stopped at a gate, a cached serving check) is ended with the run. Anywhere else (a
Kubeflow task, a test that runs the executor) the check starts its own when it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

from components.serving_check import fresh_process

SCRIPT = os.path.abspath(fresh_process.__file__)
REQUEST_FILE, RESULT_FILE, LOG_FILE = "request.json", "result.json", "stderr.txt"


class FreshProcess:
    """One `python -I fresh_process.py`, started at once (see the module docstring)."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="serving-check-")
        self.request_path = os.path.join(self.folder, REQUEST_FILE)
        self.result_path = os.path.join(self.folder, RESULT_FILE)
        self._log = open(os.path.join(self.folder, LOG_FILE), "w+", encoding="utf-8")  # noqa: SIM115
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self._process = subprocess.Popen(
            [sys.executable, "-I", SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
            env=environ,
            cwd=self.folder,
        )

    def answer(self, request: dict, timeout: float) -> tuple[int, str]:
        """Hands the process `request`, waits for it to end (subprocess.TimeoutExpired after
        `timeout` seconds, the process killed); (its exit status, its stderr)."""
        with open(self.request_path, "w", encoding="utf-8") as handle:
            json.dump(request, handle)
        line = json.dumps({"request": self.request_path, "result": self.result_path}) + "\n"
        try:
            self._process.communicate(line, timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise
        except BrokenPipeError:  # it ended before reading its request: the status says why
            self._process.wait()
        self._log.seek(0)
        return self._process.returncode, self._log.read()

    def result(self) -> dict | None:
        """What the process answered (fresh_process.py's result), or None when it wrote none."""
        if not os.path.exists(self.result_path):
            return None
        with open(self.result_path, encoding="utf-8") as handle:
            return json.load(handle)

    def close(self) -> None:
        """Ends the process if it still runs, and removes its folder."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_early: list[FreshProcess] = []


@contextlib.contextmanager
def started_early() -> Iterator[None]:
    """Starts a fresh process for the serving check of the run inside the block (module
    docstring); ends it after the block when the check did not take it."""
    _early.append(FreshProcess())
    try:
        yield
    finally:
        while _early:
            _early.pop().close()


def take() -> FreshProcess:
    """The process started early, when there is one still running; else a new one."""
    while _early:
        process = _early.pop()
        if process._process.poll() is None:
            return process
        process.close()
    return FreshProcess()
