"""Choosing the tf.distribute strategy for training (the precision policy: precision.py).

`select_strategy(config.train)` returns a ready strategy:

- `tpu`: a TPUStrategy on the TPU named by `--tpu` (config.train.tpu_address); else on the TPU
  attached to this machine (`local`: a TPU VM, a GKE TPU node, a Vertex AI TPU replica), found
  from its device files (/dev/accel*, /dev/vfio/N) or the environment GKE sets in TPU pods
  (TPU_ACCELERATOR_TYPE, TPU_TOPOLOGY, TPU_WORKER_ID, TPU_WORKER_HOSTNAMES); else on the TPU
  node named by TPU_NAME / COLAB_TPU_ADDR. The address is checked *before* TensorFlow is asked
  to connect (a TCP connect with a timeout for `host:port` / `grpc://host:port` addresses, the
  device files for `local`, a bounded-time lookup for a Cloud TPU name), so a TPU that is not
  there fails within seconds with a message naming what was looked for instead of hanging in
  gRPC. A TPU needs the TPU build of TensorFlow (tensorflow-tpu with its libtpu: the image
  built from build/Dockerfile.tpu); with any other build the failure says so.
- `mirrored`: MirroredStrategy over all local GPUs; without GPUs over all logical CPU devices
  (one CPU device gives a one-replica MirroredStrategy).
- `multi_worker`: MultiWorkerMirroredStrategy; needs TF_CONFIG naming the cluster.
- `cpu`: the default strategy (no distribution).
- `auto`: TPU if one is configured or attached (as for `tpu`), multi-worker if TF_CONFIG names
  more than one task, mirrored if there is more than one GPU, else the default strategy (which
  places work on the one GPU when there is one).

On MultiWorkerMirroredStrategy every worker runs the same program; `is_chief` says which one
writes the shared outputs, and `wait_for_all_workers` is a barrier (an all-reduce) for the end of
a run.

The Keras precision policy is chosen in precision.py (from the CPU's bf16 support, or the TPU).
"""

from __future__ import annotations

import glob
import importlib.metadata
import json
import logging
import os
import re
import socket
import threading
import time

import tensorflow as tf

from components.core.config import STRATEGIES, TrainConfig
from components.core.errors import UserError

log = logging.getLogger(__name__)

TPU_ENV_VARS = ("TPU_NAME", "COLAB_TPU_ADDR")
# What GKE sets in a container that holds TPU chips (GKE's TPU docs; libtpu reads them too).
GKE_TPU_ENV_VARS = ("TPU_ACCELERATOR_TYPE", "TPU_TOPOLOGY", "TPU_WORKER_ID", "TPU_WORKER_HOSTNAMES")
# TPU chips of the machine itself: /dev/accel* (TPU v2-v4, v5p), /dev/vfio/N (v5e, v6e).
TPU_DEVICE_GLOBS = ("/dev/accel*", "/dev/vfio/[0-9]*")
# How long a TPU may take to answer before we give up (TCP connect; Cloud TPU name lookup).
TPU_CONNECT_TIMEOUT_S = 5.0
TPU_RESOLVE_TIMEOUT_S = 10.0

_ENDPOINT = re.compile(r"^(?:grpc://)?(?P<host>\[[^\]]+\]|[^/:\s]+):(?P<port>\d+)$")


class StrategyError(UserError, RuntimeError):
    """The requested distribution strategy cannot be set up (e.g. the TPU is not reachable)."""


# -- TPU -----------------------------------------------------------------------------------------
def tpu_devices() -> list[str]:
    """The TPU device files of this machine (empty without TPU chips)."""
    return sorted(name for pattern in TPU_DEVICE_GLOBS for name in glob.glob(pattern))


def gke_tpu_environment() -> dict[str, str]:
    """The TPU variables GKE set in this container ({} outside a GKE TPU pod)."""
    return {name: os.environ[name] for name in GKE_TPU_ENV_VARS if os.environ.get(name, "").strip()}


def local_tpu_evidence() -> str:
    """What shows a TPU attached to this machine ('' when nothing does)."""
    devices, gke = tpu_devices(), gke_tpu_environment()
    found = []
    if devices:
        found.append("devices " + ", ".join(devices))
    if gke:
        found.append("GKE environment " + ", ".join(f"{k}={v}" for k, v in gke.items()))
    return "; ".join(found)


def tpu_address(train_config: TrainConfig) -> str:
    """The TPU to use ('' when none): `--tpu`; else `local` when a TPU is attached to this
    machine; else TPU_NAME, else COLAB_TPU_ADDR."""
    return _tpu_choice(train_config)[0]


def _tpu_choice(train_config: TrainConfig) -> tuple[str, str]:
    """(TPU address, where it came from)."""
    if train_config.tpu_address:
        return train_config.tpu_address.strip(), "--tpu"
    evidence = local_tpu_evidence()
    if evidence:
        return "local", evidence
    for name in TPU_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return "", ""


def tpu_runtime() -> str:
    """Which TensorFlow build drives a TPU here: tensorflow-tpu with libtpu, or the reason none."""
    try:
        build = f"tensorflow-tpu {importlib.metadata.version('tensorflow-tpu')}"
    except importlib.metadata.PackageNotFoundError:
        return (
            f"TensorFlow {tf.__version__} is not the TPU build: install tensorflow-tpu and its"
            " libtpu (the image from build/Dockerfile.tpu)"
        )
    try:
        return f"{build} with libtpu {importlib.metadata.version('libtpu')}"
    except importlib.metadata.PackageNotFoundError:
        return f"{build} without libtpu (install the libtpu it requires)"


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
    """`local` means TPU chips on this machine: /dev/accel* (v2-v4, v5p) or /dev/vfio/N (v5e+)."""
    if tpu_devices():
        return
    gke = gke_tpu_environment()
    hint = (
        f" although GKE set {', '.join(gke)} (does the pod request google.com/tpu?)" if gke else ""
    )
    raise StrategyError(
        f"TPU 'local' requested but this machine has no TPU devices ({', '.join(TPU_DEVICE_GLOBS)})"
        f"{hint}; run on a TPU VM or TPU node, or pass --tpu with the address of a TPU node"
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
            "strategy 'tpu' needs a TPU and found none: no TPU devices on this machine"
            f" ({', '.join(TPU_DEVICE_GLOBS)}), no GKE TPU environment"
            f" ({', '.join(GKE_TPU_ENV_VARS)}), and no --tpu / TPU_NAME / COLAB_TPU_ADDR"
            " naming a TPU node"
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
    try:
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (tf.errors.OpError, RuntimeError, ValueError) as exc:
        raise StrategyError(
            f"TPU {address!r} could not be initialized ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}); {tpu_runtime()}"
        ) from exc
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


def _connect_chosen_tpu(train_config: TrainConfig) -> tf.distribute.TPUStrategy:
    address, source = _tpu_choice(train_config)
    try:
        return connect_tpu(address)
    except StrategyError as exc:
        raise StrategyError(f"{exc}" + (f" [TPU from {source}]" if source else "")) from exc


def _auto(train_config: TrainConfig) -> tuple[str, tf.distribute.Strategy]:
    if tpu_address(train_config):
        return "tpu", _connect_chosen_tpu(train_config)
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
        strategy = _connect_chosen_tpu(train_config)
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


def wait_for_all_workers(strategy: tf.distribute.Strategy) -> None:
    """Returns once every worker of a multi-worker strategy has called this (an all-reduce over
    all replicas); at once for any other strategy. A worker that finished first thus waits for
    the chief, e.g. until the chief has written the exported model that TFX's Trainer executor
    checks for on every worker."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    @tf.function
    def all_reduce():
        arrived = strategy.run(lambda: tf.constant(1.0))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, arrived, axis=None)

    all_reduce().numpy()
