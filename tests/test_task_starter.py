"""How `bertpipe run-package` starts a task (pipeline/kubeflow/task_starter.py): forked from a warm
Python or as a fresh subprocess, a `python -m` command gets the same arguments, environment,
folder, output and exit status either way."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipeline.kubeflow.task_starter import ColdStarter, WarmStarter, module_command

TASK = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "setting": os.environ.get("SETTING"),
                  "stdin": sys.stdin.read(), "name": __name__, "preloaded": "email.mime.text" in sys.modules}))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def task_module(tmp_path, monkeypatch) -> tuple[str, dict]:
    """A module `probe_task` in a folder on the tasks' PYTHONPATH, and that environment."""
    (tmp_path / "probe_task.py").write_text(TASK)
    environment = {**os.environ, "PYTHONPATH": str(tmp_path), "SETTING": "from the task env"}
    return "probe_task", environment


def run_task(starter, command: list[str]) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    try:
        task = starter.start(command, write_end)
    finally:
        os.close(write_end)
    with open(read_end, encoding="utf-8") as output:
        text = output.read()
    return task.wait(), text


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["warm", "cold"])
def test_a_task_sees_its_arguments_environment_and_folder(kind, task_module, tmp_path):
    import json

    module, environment = task_module
    folder = tmp_path / "work"
    folder.mkdir()
    starter = (
        WarmStarter(environment, folder, preload=("email.mime.text",))
        if kind == "warm"
        else ColdStarter(environment, folder)
    )
    try:
        for code in (0, 3):
            status, text = run_task(starter, ["python", "-m", module, str(code), "--flag=a b"])
            lines = text.splitlines()
            seen = json.loads(lines[0])
            assert status == code
            assert seen["argv"] == [str(code), "--flag=a b"]
            assert seen["cwd"] == str(folder) and seen["setting"] == "from the task env"
            assert seen["stdin"] == "" and seen["name"] == "__main__"
            assert seen["preloaded"] == (kind == "warm")  # the warm one imported it once, before
            assert lines[1:] == ["to stderr"]
    finally:
        starter.close()


@pytest.mark.slow
def test_a_task_that_raises_exits_1_with_its_traceback(tmp_path):
    (tmp_path / "broken_task.py").write_text("raise ValueError('bad input file')\n")
    environment = {**os.environ, "PYTHONPATH": str(tmp_path)}
    starter = WarmStarter(environment, tmp_path, preload=())
    try:
        status, text = run_task(starter, [sys.executable, "-m", "broken_task"])
        assert status == 1
        assert "Traceback" in text and "ValueError: bad input file" in text
        # The server is still there for the next task.
        (tmp_path / "fine_task.py").write_text("print('fine')\n")
        assert run_task(starter, ["python3", "-m", "fine_task"]) == (0, "fine\n")
    finally:
        starter.close()


def test_only_python_module_commands_are_forked():
    assert module_command(["python", "-m", "tfx.x", "--a", "1"]) == ("tfx.x", ["--a", "1"])
    assert module_command([sys.executable, "-m", "m"]) == ("m", [])
    assert module_command(["python", "script.py"]) is None
    assert module_command(["/bin/sh", "-m", "x"]) is None
    assert module_command([str(Path("/opt/venv/bin/python3")), "-m", "m"]) == ("m", [])
