"""Choosing the tf.distribute strategy for training (the precision policy: precision.py).

`select_strategy(config.train)` returns a ready strategy:

- `tpu`: a TPUStrategy on the TPU named by `--tpu` (config.train.tpu_address), or TPU_NAME /
  COLAB_TPU_ADDR. The address is checked *before* TensorFlow is asked to connect (a TCP connect
  with a timeout for `host:port` / `grpc://host:port` addresses, the device files for `local`, a
  bounded-time lookup for a Cloud TPU name), so a TPU that is not there fails within seconds with
  a message naming the address instead of hanging in gRPC.
- `mirrored`: MirroredStrategy over all local GPUs; without GPUs over all logical CPU devices
  (one CPU device gives a one-replica MirroredStrategy).
- `multi_worker`: MultiWorkerMirroredStrategy; needs TF_CONFIG naming the cluster.
- `cpu`: the default strategy (no distribution).
- `auto`: TPU if an address is configured (flag or environment), multi-worker if TF_CONFIG names
  more than one task, mirrored if there is more than one GPU, else the default strategy (which
  places work on the one GPU when there is one).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import socket
import threading
import time

import tensorflow as tf

from components.core.config import STRATEGIES, TrainConfig

log = logging.getLogger(__name__)

TPU_ENV_VARS = ("TPU_NAME", "COLAB_TPU_ADDR")
# How long a TPU may take to answer before we give up (TCP connect; Cloud TPU name lookup).
TPU_CONNECT_TIMEOUT_S = 5.0
TPU_RESOLVE_TIMEOUT_S = 10.0

_ENDPOINT = re.compile(r"^(?:grpc://)?(?P<host>\[[^\]]+\]|[^/:\s]+):(?P<port>\d+)$")


class StrategyError(RuntimeError):
    """The requested distribution strategy cannot be set up (e.g. the TPU is not reachable)."""


# -- TPU -----------------------------------------------------------------------------------------
def tpu_address(train_config: TrainConfig) -> str:
    """The configured TPU: `--tpu`, else TPU_NAME, else COLAB_TPU_ADDR ('' when none)."""
    if train_config.tpu_address:
        return train_config.tpu_address.strip()
    for name in TPU_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return ""


def _tpu_source(train_config: TrainConfig) -> str:
    if train_config.tpu_address:
        return "--tpu"
    return next((name for name in TPU_ENV_VARS if os.environ.get(name, "").strip()), "--tpu")


def _normalise_endpoint(address: str) -> str:
    """`10.0.0.2:8470` (as in COLAB_TPU_ADDR) -> `grpc://10.0.0.2:8470`; names stay as they are."""
    if _ENDPOINT.match(address) and not address.startswith("grpc://"):
        return "grpc://" + address
    return address


def check_endpoint_reachable(address: str, timeout_s: float = TPU_CONNECT_TIMEOUT_S) -> None:
    """Raises StrategyError unless a TCP connection to `host:port` opens within `timeout_s`."""
    match = _ENDPOINT.match(address)
    if not match:
        raise StrategyError(f"TPU address {address!r} is not of the form [grpc://]host:port")
    host, port = match.group("host").strip("[]"), int(match.group("port"))
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise StrategyError(
            f"TPU at {address!r} is not reachable ({exc.__class__.__name__}: {exc}); check "
            "--tpu / TPU_NAME / COLAB_TPU_ADDR, or choose another --strategy"
        ) from exc


def _check_local_tpu() -> None:
    """`local` means a TPU VM: its chips appear as /dev/accel* (v2-v4) or /dev/vfio/N (v5+)."""
    if not (glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")):
        raise StrategyError(
            "TPU 'local' requested but this machine has no TPU devices (/dev/accel*, /dev/vfio/*); "
            "run on a TPU VM, or pass --tpu with the address of a TPU node"
        )


def _resolve_with_timeout(address: str, timeout_s: float):
    """TPUClusterResolver(address) in a thread, so a stuck metadata/API lookup cannot hang us."""
    outcome: dict = {}

    def resolve():
        try:
            outcome["resolver"] = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        except Exception as exc:  # noqa: BLE001  (reported below, with the address)
            outcome["error"] = exc

    thread = threading.Thread(target=resolve, name="tpu-resolver", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise StrategyError(
            f"looking up TPU {address!r} did not finish within {timeout_s:.0f}s; check "
            "--tpu / TPU_NAME / COLAB_TPU_ADDR (a Cloud TPU name needs the GCE metadata server)"
        )
    if "error" in outcome:
        error = outcome["error"]
        raise StrategyError(
            f"TPU {address!r} cannot be resolved ({error.__class__.__name__}: {error})"
        ) from error
    return outcome["resolver"]


def connect_tpu(address: str) -> tf.distribute.TPUStrategy:
    """A TPUStrategy on `address` (`local`, `[grpc://]host:port` or a Cloud TPU name).

    Fails with StrategyError within about TPU_CONNECT_TIMEOUT_S + TPU_RESOLVE_TIMEOUT_S seconds
    when the TPU is not there; TensorFlow is only asked to connect to an endpoint that answered.
    """
    if not address:
        raise StrategyError(
            "strategy 'tpu' needs a TPU: pass --tpu (address or name), or set TPU_NAME / "
            "COLAB_TPU_ADDR"
        )
    started = time.monotonic()
    address = _normalise_endpoint(address)
    if address == "local":
        _check_local_tpu()
    elif _ENDPOINT.match(address):
        check_endpoint_reachable(address)
    resolver = _resolve_with_timeout(address, TPU_RESOLVE_TIMEOUT_S)
    master = resolver.master() if address != "local" else ""
    if master and master != address and _ENDPOINT.match(master):
        check_endpoint_reachable(master)  # a Cloud TPU name resolved to its grpc endpoint
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
    log.info(
        "connected to TPU %s (%s) in %.1fs: %d cores",
        address,
        master or "local",
        time.monotonic() - started,
        strategy.num_replicas_in_sync,
    )
    return strategy


# -- multi-worker --------------------------------------------------------------------------------
def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise StrategyError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return value


def _cluster_size(tf_config: dict) -> int:
    cluster = tf_config.get("cluster") or {}
    return sum(len(tasks) for job, tasks in cluster.items() if job in ("chief", "worker"))


def _multi_worker() -> tf.distribute.Strategy:
    tf_config = _tf_config()
    if not _cluster_size(tf_config) or "task" not in tf_config:
        raise StrategyError(
            "strategy 'multi_worker' needs TF_CONFIG with a 'cluster' (chief/worker addresses) "
            "and this process's 'task'; see "
            "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


# -- selection -----------------------------------------------------------------------------------
def _mirrored() -> tf.distribute.MirroredStrategy:
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


def _auto(train_config: TrainConfig) -> tuple[str, tf.distribute.Strategy]:
    address = tpu_address(train_config)
    if address:
        return "tpu", connect_tpu(address)
    if _cluster_size(_tf_config()) > 1:
        return "multi_worker", _multi_worker()
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        return "mirrored", _mirrored()
    # One GPU or none: the default strategy places the work on the GPU when there is one (and,
    # unlike OneDeviceStrategy, works with the BackupAndRestore callback).
    return "cpu" if not gpus else "default (1 GPU)", tf.distribute.get_strategy()


def select_strategy(train_config: TrainConfig) -> tf.distribute.Strategy:
    """The strategy asked for by `train_config.strategy` (see the module docstring)."""
    kind = train_config.strategy
    if kind not in STRATEGIES:
        raise StrategyError(f"unknown strategy {kind!r}; expected one of {STRATEGIES}")
    if kind == "tpu":
        address = tpu_address(train_config)
        try:
            strategy = connect_tpu(address)
        except StrategyError as exc:
            raise StrategyError(f"{exc} [TPU from {_tpu_source(train_config)}]") from exc
    elif kind == "mirrored":
        strategy = _mirrored()
    elif kind == "multi_worker":
        strategy = _multi_worker()
    elif kind == "cpu":
        strategy = tf.distribute.get_strategy()
    else:
        kind, strategy = _auto(train_config)
    log.info("distribution strategy (%s requested): %s", train_config.strategy, describe(strategy))
    print(f"Distribution strategy: {describe(strategy)}", flush=True)
    return strategy


def describe(strategy: tf.distribute.Strategy) -> str:
    try:
        devices = tuple(strategy.extended.worker_devices)
    except (RuntimeError, NotImplementedError):  # the default strategy has none
        devices = ()
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)" + (
        f" on {', '.join(devices)}" if devices else ""
    )


def is_tpu(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.TPUStrategy | tf.distribute.experimental.TPUStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the shared outputs (history, exported model)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief
