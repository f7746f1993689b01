"""Finding the TPU attached to the machine (TPU VM, GKE TPU node, Vertex AI TPU replica) with no
address flag, and failing within seconds with a clear message where there is none.

This machine has no TPU: TPU device files are stood in by files in a temporary folder (the glob
patterns are the module's), GKE's TPU environment by variables. With "devices" present, the
strategy asks TensorFlow to initialize the local TPU, which fails at once here (this TensorFlow
is not the TPU build, and there is no chip), and the message says so.
"""

from __future__ import annotations

import importlib.metadata
import re
import time

import pytest
import tensorflow as tf

from components.core.config import TrainConfig
from components.trainer import strategy as strategies

FAST_S = 10  # "within seconds", with room for a loaded 2-core machine


@pytest.fixture
def devices(monkeypatch, tmp_path):
    """No TPU anywhere: no TPU environment, device globs over an empty folder. Returns a function
    that adds a stand-in device file."""
    for name in (*strategies.TPU_ENV_VARS, *strategies.GKE_TPU_ENV_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(strategies, "TPU_DEVICE_GLOBS", (str(tmp_path / "accel*"),))

    def add(name: str = "accel0") -> str:
        (tmp_path / name).touch()
        return str(tmp_path / name)

    return add


def _fails_fast(kind: str, **train) -> str:
    started = time.monotonic()
    with pytest.raises(strategies.StrategyError) as error:
        strategies.select_strategy(TrainConfig(strategy=kind, **train))
    assert time.monotonic() - started < FAST_S
    return str(error.value)


def test_the_tensorflow_build_is_named():
    try:
        version = importlib.metadata.version("tensorflow-tpu")
    except importlib.metadata.PackageNotFoundError:  # the project's environment, not the TPU image
        assert strategies.tpu_runtime() == (
            f"TensorFlow {tf.__version__} is not the TPU build: install tensorflow-tpu and its"
            " libtpu (the image from build/Dockerfile.tpu)"
        )
    else:
        runtime = rf"tensorflow-tpu {version} (with libtpu \S+|without libtpu \(install .*\))"
        assert re.fullmatch(runtime, strategies.tpu_runtime())


def test_without_a_tpu_auto_trains_here_and_tpu_says_what_it_looked_for(devices):
    assert strategies.local_tpu_evidence() == ""
    assert strategies.select_strategy(TrainConfig(strategy="auto")) is tf.distribute.get_strategy()
    message = _fails_fast("tpu")
    assert "needs a TPU and found none" in message
    for looked_for in (*strategies.TPU_DEVICE_GLOBS, *strategies.GKE_TPU_ENV_VARS, "--tpu"):
        assert looked_for in message


def test_gke_tpu_environment_without_devices_fails_fast(devices, monkeypatch):
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v5litepod-4")
    monkeypatch.setenv("TPU_TOPOLOGY", "2x2")
    assert strategies.tpu_address(TrainConfig()) == "local"
    message = _fails_fast("auto")
    assert "no TPU devices" in message
    assert "although GKE set TPU_ACCELERATOR_TYPE, TPU_TOPOLOGY" in message
    assert (
        "[TPU from GKE environment TPU_ACCELERATOR_TYPE=v5litepod-4, TPU_TOPOLOGY=2x2]" in message
    )


def test_tpu_devices_are_the_tpu_before_tpu_name_and_after_the_flag(devices, monkeypatch):
    device = devices()
    monkeypatch.setenv("TPU_NAME", "a-tpu-node")
    assert strategies.tpu_address(TrainConfig()) == "local"
    assert strategies.tpu_address(TrainConfig(tpu_address="127.0.0.1:1")) == "127.0.0.1:1"
    for kind in ("auto", "tpu"):
        message = _fails_fast(kind)
        assert message.startswith("TPU 'local' could not be initialized (NotFoundError")
        assert strategies.tpu_runtime() in message  # which TensorFlow build, libtpu or not
        assert message.endswith(f"[TPU from devices {device}]")
    assert "127.0.0.1:1" in _fails_fast("tpu", tpu_address="127.0.0.1:1")
