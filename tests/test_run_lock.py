"""Two runs on one run folder cannot mix: the second stops at once naming the holder, and the lock
of a killed run blocks nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from components.core.config import Config
from pipeline.cli import main as bertpipe
from pipeline.local_runner import run_pipeline
from pipeline.run_lock import LOCK_FILE, OutputInUseError, hold_output

# A process that holds a run folder's lock as a run does, says so, then waits to be ended.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pipeline.run_lock import hold_output
    with hold_output(sys.argv[1], "holder-run"):
        print("HOLDING", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holder(repo_root):
    """holder(folder): a live process holding the lock of `folder` (killed at the end)."""
    started = []

    def start(folder) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=repo_root,
            env={**os.environ, "PYTHONPATH": str(repo_root)},
        )
        started.append(process)
        assert process.stdout.readline().strip() == "HOLDING"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


@pytest.mark.slow
def test_a_second_run_on_the_same_folder_stops_at_once_naming_the_holder(holder, tmp_path, capsys):
    folder = tmp_path / "run"
    first = holder(folder)

    code = bertpipe(["run", "--output", str(folder), "--train-steps", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"bertpipe run: the run folder {folder} is in use by another bertpipe run"
    )
    assert f"pid {first.pid} on {socket.gethostname()}, started 20" in err
    assert "(run holder-run)" in err
    # The run itself takes the lock too (the CLI only checked it before its imports).
    with pytest.raises(OutputInUseError, match=f"pid {first.pid} on "):
        run_pipeline(Config().replace(run={"output": str(folder)}))
    # Nothing of a pipeline run was started in the folder.
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE]

    # The lock is the run folder's, not the process's: the same process may not take it twice.
    first.kill()
    first.wait(timeout=60)
    second = hold_output(folder, "second")
    with second, pytest.raises(OutputInUseError, match="run second"), hold_output(folder, "third"):
        pass


@pytest.mark.slow
def test_the_lock_of_a_killed_run_blocks_nothing(holder, tmp_path):
    folder = tmp_path / "run"
    killed = holder(folder)
    assert json.loads((folder / LOCK_FILE).read_text())["pid"] == killed.pid
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    # Its record stays behind, but the kernel released its lock with the process.
    assert json.loads((folder / LOCK_FILE).read_text())["pid"] == killed.pid

    with hold_output(folder, "next-run") as path:
        holder_record = json.loads(path.read_text())
        assert (holder_record["pid"], holder_record["run_id"]) == (os.getpid(), "next-run")
    assert path.read_text() == ""  # emptied when released
