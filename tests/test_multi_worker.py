"""Two training processes on localhost, as the two replicas of a Vertex AI job run them.

The Vertex AI CustomJob is built by TFX's own job client (`VertexJobClient.create_training_job`)
from the worker pools that `bertpipe compile --vertex` writes; each pool's container command
(`python -m tfx.scripts.run_executor --executor_class_path components.trainer.executor.Executor
...`) is then run here, with the TF_CONFIG Vertex AI sets (chief = pool 0, worker = pool 1) on
127.0.0.1 ports. run_fn trains the tiny BERT under MultiWorkerMirroredStrategy (CPU collectives),
each worker taking half of every global batch of 8.

The first pair is SIGKILLed after step 10 (the last backup was at step 8); the second pair, the
same commands, resumes on both workers and finishes. The result is compared with a one-worker
run_fn of the same global batch in this process.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.cloud.aiplatform_v1.types import CustomJob
from tfx.extensions.google_cloud_ai_platform import training_clients
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import json_utils, name_utils, proto_utils
from tfx.v1.extensions import google_cloud_ai_platform as tfx_vertex

from components.core.artifacts import HISTORY_FILE
from components.core.config import Config
from components.core.runtime_settings import apply_to_custom_config
from components.trainer import callbacks
from components.trainer import module as trainer
from components.trainer.component import RUN_FN
from components.trainer.vertex import VertexExecutor
from pipeline.kubeflow.settings import CompileConfig
from pipeline.kubeflow.vertex import vertex_trainer_config

REPO_ROOT = Path(__file__).resolve().parent.parent
GLOBAL_BATCH, STEPS, CHECKPOINT_EVERY, KILLED_AFTER = 8, 12, 4, 10
# Largest difference allowed between a weight trained by two workers and by one (float32; the
# two sum the gradients of two half batches, one computes the gradient of the whole batch).
WEIGHT_TOLERANCE = 1e-5
TIMEOUT_S = 240

# Runs TFX's run_executor like the job command, but stops this worker after a training step (its
# backup done) and marks it, so that the test can SIGKILL it at a known point (the product has no
# such hook). TFX reloads the run_fn module, which then picks up this ResumableBackup.
PAUSING_EXECUTOR = """
import pathlib, sys, time
import components
from absl import app
from tfx.scripts import run_executor
from components.trainer import callbacks

marker, pause_after = sys.argv[1], int(sys.argv[2])

class PausingBackup(callbacks.ResumableBackup):
    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if batch + 1 == pause_after:
            pathlib.Path(marker).touch()
            time.sleep(3600)

callbacks.ResumableBackup = PausingBackup
app.run(run_executor.main, argv=["run_executor", *sys.argv[3:]],
        flags_parser=run_executor.parse_flags)
"""


@pytest.fixture(scope="module")
def no_dropout_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny BERT without dropout: the workers' dropout masks would differ from one worker's."""
    folder = tmp_path_factory.mktemp("bert_no_dropout") / "bert"
    shutil.copytree(tiny_checkpoint, folder)
    settings = json.loads((folder / "config.json").read_text())
    settings.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(settings))
    return folder


@pytest.fixture(scope="module")
def transformed(
    tiny_checkpoint, tmp_path_factory, synthetic_rows, tiny_length, make_transform_output
):
    return make_transform_output(
        tmp_path_factory.mktemp("multi_worker_transform"),
        str(tiny_checkpoint / "vocab.txt"),
        tiny_length,
        synthetic_rows(96, seed=3),
        synthetic_rows(21, seed=4),
    )


def _config(checkpoint: Path, tiny_config, **train) -> Config:
    return tiny_config(
        checkpoint,
        train_steps=STEPS,
        batch_size=GLOBAL_BATCH,
        checkpoint_every=CHECKPOINT_EVERY,
        # float32 on every CPU (auto picks bfloat16 on CPUs with native bf16): the comparison
        # with one worker is about the distribution, not about bf16 rounding.
        mixed_precision="float32",
        **train,
    ).replace(model={"dropout": 0.0})


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _vertex_job(compiled: CompileConfig, data: dict, root: Path) -> tuple[dict, dict]:
    """(the CustomJob TFX's Vertex AI Trainer would submit, the artifacts it runs on)."""
    config = compiled.pipeline
    examples = standard_artifacts.Examples()
    examples.uri = str(Path(data["train_files"][0]).parent.parent)
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    graph = standard_artifacts.TransformGraph()
    graph.uri = data["transform_output"]
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = str(root / "model"), str(root / "model_run")
    inputs = {"examples": [examples], "transform_graph": [graph]}
    outputs = {"model": [model], "model_run": [model_run]}
    custom_config = {
        "config": config.to_json(Config.TRAINER_SECTIONS),
        **vertex_trainer_config(compiled),
    }
    exec_properties = {
        "run_fn": RUN_FN,
        "custom_config": json_utils.dumps(custom_config),
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=STEPS)),
        "eval_args": "{}",
        # The pipeline's run-time parameters, as the Trainer step receives them.
        "checkpoint": config.model.checkpoint,
        "train_steps": STEPS,
        "learning_rate": config.train.learning_rate,
    }
    # What the launcher (VertexExecutor.Do, then TFX's runner) does before submitting the job;
    # the client itself needs Google credentials only to send it.
    exec_properties, _ = apply_to_custom_config(exec_properties, "Trainer")
    job_args = copy.deepcopy(custom_config[tfx_vertex.TRAINING_ARGS_KEY])
    job_args.pop("project")
    client = object.__new__(training_clients.VertexJobClient)
    job = client.create_training_job(
        inputs,
        outputs,
        exec_properties,
        name_utils.get_full_name(VertexExecutor()._GetExecutorClass()),
        job_args,
        None,
        None,
    )
    return job, {"serving": model.uri + "/Format-Serving", "model_run": model_run.uri}


def _start(command: list[str], tf_config: dict, log: Path, tmp: Path) -> subprocess.Popen:
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TF_CONFIG": json.dumps(tf_config),
        "TMPDIR": str(tmp),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with open(log, "w") as handle:
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )


def _logs(root: Path, wave: str) -> str:
    return "\n".join(
        f"--- {path.name} ---\n{path.read_text()[-4000:]}"
        for path in sorted(root.glob(f"{wave}-*.log"))
    )


def _run_pair(commands: dict[str, list[str]], root: Path, wave: str, until=None):
    """Starts chief and worker with Vertex AI's TF_CONFIG; waits until both exit (or `until()`)."""
    ports = _free_ports(2)
    cluster = {"chief": [f"127.0.0.1:{ports[0]}"], "worker": [f"127.0.0.1:{ports[1]}"]}
    processes = {
        task: _start(
            command,
            {"cluster": cluster, "task": {"type": task, "index": 0}},
            root / f"{wave}-{task}.log",
            root / f"tmp-{task}",
        )
        for task, command in commands.items()
    }
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if until is not None and until():
                return processes
            if all(p.poll() is not None for p in processes.values()):
                return processes
            if any(p.poll() not in (None, 0) for p in processes.values()):
                time.sleep(2)  # let the other one write its error too
                break
            time.sleep(0.5)
        pytest.fail(f"{wave}: did not finish as expected\n{_logs(root, wave)}")
    finally:
        if until is not None or any(p.poll() is None for p in processes.values()):
            for p in processes.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                p.wait()


def _exported_weights(serving_dir: str) -> list[np.ndarray]:
    """The model weights of an exported serving model, in the model's order (export.py keeps
    them as `model_variables`)."""
    reader = tf.train.load_checkpoint(os.path.join(serving_dir, "variables", "variables"))
    count = sum(1 for name in reader.get_variable_to_shape_map() if name.startswith("model_vari"))
    return [
        reader.get_tensor(f"model_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE") for i in range(count)
    ]


@pytest.mark.slow
def test_two_workers_train_resume_after_a_kill_and_match_one_worker(
    no_dropout_checkpoint, transformed, tmp_path, tiny_config
):
    config = CompileConfig(_config(no_dropout_checkpoint, tiny_config, strategy="auto")).replace(
        vertex={"enabled": True, "project": "test-project", "replica_count": 2},
        kubeflow={"image": "registry.example/bertpipe:test"},
    )
    job, outputs = _vertex_job(config, transformed, tmp_path / "job")
    CustomJob(job)  # what Vertex AI receives parses as its CustomJob
    pools = job["job_spec"]["worker_pool_specs"]
    assert [p["replica_count"] for p in pools] == [1, 1]
    assert {p["container_spec"]["image_uri"] for p in pools} == {"registry.example/bertpipe:test"}
    commands = {
        task: p["container_spec"]["command"]
        for task, p in zip(("chief", "worker"), pools, strict=True)
    }
    for command in commands.values():
        assert command[:3] == ["python", "-m", "tfx.scripts.run_executor"]
        assert command[3:5] == ["--executor_class_path", "components.trainer.executor.Executor"]
    run = {task: [sys.executable, *command[1:]] for task, command in commands.items()}

    # 1. Both workers train; both are SIGKILLed after step 10, the last backup being at step 8.
    markers = {task: tmp_path / f"paused-{task}" for task in run}
    pausing = {
        task: [sys.executable, "-c", PAUSING_EXECUTOR, str(markers[task]), str(KILLED_AFTER)]
        + command[3:]
        for task, command in run.items()
    }
    _run_pair(pausing, tmp_path, "killed", until=lambda: all(m.exists() for m in markers.values()))
    resume = Path(outputs["model_run"]).parent / trainer.RESUME_FOLDER
    (backup,) = resume.iterdir()
    assert callbacks.completed_steps(str(backup)) == 8
    assert not Path(outputs["serving"]).exists()

    # 2. The same commands again: both workers resume after step 8 and finish.
    processes = _run_pair(run, tmp_path, "resumed")
    assert {task: p.returncode for task, p in processes.items()} == {"chief": 0, "worker": 0}
    logs = {task: (tmp_path / f"resumed-{task}.log").read_text() for task in run}
    for task, text in logs.items():
        assert "CollectiveAllReduceStrategy with 2 replica(s)" in text, task
        assert "Resuming training at step 8" in text, task

    # Only the chief wrote: the model, history.json and TensorBoard logs; the backup is gone and
    # the worker's own export (to its temporary folder) was removed.
    assert tf.io.gfile.exists(os.path.join(outputs["serving"], "saved_model.pb"))
    assert sorted(os.listdir(outputs["model_run"])) == [HISTORY_FILE, "train"]
    assert all(
        name.startswith("events.out") for name in os.listdir(Path(outputs["model_run"]) / "train")
    )
    assert not backup.exists()
    assert not list((tmp_path / "tmp-worker").glob("serving_*"))
    history = json.loads((Path(outputs["model_run"]) / HISTORY_FILE).read_text())
    assert history["replicas"] == 2 and history["resumed_at"] == [8]
    assert [r["step"] for r in history["steps"]] == list(range(1, STEPS + 1))

    # 3. One worker, the same global batch, no interruption.
    single = trainer.train_and_evaluate(
        _config(no_dropout_checkpoint, tiny_config, strategy="cpu"),
        train_files=transformed["train_files"],
        eval_files=transformed["eval_files"],
        transform_output=transformed["transform_output"],
        model_run_dir=str(tmp_path / "single" / "run"),
        backup_dir=str(tmp_path / "single" / "backup"),
        verbose=0,
    )
    losses = [r["loss"] for r in history["steps"]]
    assert losses == pytest.approx([r.loss for r in single.history.steps], rel=1e-5)
    assert len({round(loss, 4) for loss in losses}) > 1  # it trained
    assert history["eval"]["accuracy"] == pytest.approx(single.evaluation["accuracy"])
    two, one = _exported_weights(outputs["serving"]), single.model.get_weights()
    assert [w.shape for w in two] == [w.shape for w in one] and len(one) > 20
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(two, one, strict=True))
    print(f"\nlargest weight difference, two workers vs one: {worst:.2e}")
    assert worst <= WEIGHT_TOLERANCE
