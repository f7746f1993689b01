"""TFX's LocalDagRunner, with the nodes that do not depend on each other run at the same time.

TFX 1.16's LocalDagRunner launches the pipeline's nodes one after another, in the IR's topological
order. `ThreadedLocalDagRunner` launches each node as soon as every node it depends on (its
`upstream_nodes` in the IR) has finished, up to `MAX_PARALLEL_NODES` at once (`run_nodes`): the
calling thread runs the Beam steps and whatever runs alone, another thread the node beside it. In
this pipeline the ServingCheck (whose work happens in a separate process,
components/serving_check/process.py; its executor's own thread only waits) runs beside the
Evaluator (TFMA, mostly single-threaded Python), and ImportSchemaGen and ProductionBaseline beside
TextExampleGen.

Only the scheduling differs from TFX's `run_with_ir`: the same run-id substitution, deployment
and connection config, partial-run marking, skipped nodes (finished, for the nodes after them),
one `metadata.Metadata` and one `launcher.Launcher` per launch, telemetry labels (thread-local in
TFX, so set in each node's thread), and the same log lines ("Component X is running." / "... is
finished.", which the progress lines of pipeline/local_runner.py read: each names its
component). A partial run's snapshot is taken before any node starts instead of just before the
snapshot node's launch: every node before that one in the IR is skipped, so nothing happens in
between either way, and the nodes that depend on the snapshot cannot start before it.

MLMD on SQLite with two nodes at once needs nothing more: each MLMD call (MLMD's pybind11 wrapper
keeps the GIL for the whole call, transaction included) runs while the other thread waits for the
GIL, so the two connections never hold SQLite transactions at the same time and never see
"database is locked"; should they (another process on the store), MLMD's own busy handler and its
Python client's retries on ABORTED apply.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence

from absl import logging
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import launcher, partial_run_utils, runtime_parameter_utils
from tfx.proto.orchestration import executable_spec_pb2
from tfx.utils import telemetry_utils

# Nodes launched at once: the pipeline is at most three nodes wide, and its parallel nodes each
# keep about one core busy; on a one-core machine the runner is TFX's sequential one.
MAX_PARALLEL_NODES = max(1, min(2, os.cpu_count() or 1))
_LABELS = {telemetry_utils.LABEL_TFX_RUNNER: "local"}


class _Schedule:
    """What `run_nodes` shares between its threads: which nodes wait, run and finished."""

    def __init__(
        self,
        order: Sequence[str],
        upstream: Mapping[str, Collection[str]],
        main_thread: Collection[str],
        workers: int,
    ):
        unknown = {u for node in order for u in upstream.get(node, ())} - set(order)
        if unknown:
            raise ValueError(f"upstream nodes not in the pipeline: {sorted(unknown)}")
        self.waiting = list(order)
        self.upstream = {node: frozenset(upstream.get(node, ())) for node in order}
        self.main_thread = frozenset(main_thread) if workers else frozenset()
        self.finished: set[str] = set()
        self.running = 0
        self.main_busy = False  # the calling thread runs a node
        self.failure: BaseException | None = None
        self.stopped = False
        self.changed = threading.Condition()  # held for every read and change of the above

    def _over(self) -> bool:
        return self.failure is not None or self.stopped or not self.waiting

    def _ready(self) -> list[str]:
        return [node for node in self.waiting if self.upstream[node] <= self.finished]

    def _take(self, node: str, main: bool) -> str:
        self.waiting.remove(node)
        self.running += 1
        self.main_busy = self.main_busy or main
        self.changed.notify_all()
        return node

    def next_for_main(self) -> str | None:
        """The calling thread's next node, once one is ready: the first ready one in `order` that
        only this thread may run, else the first ready one; None when none will start any more."""
        while not self._over():
            ready = self._ready()
            if ready:
                own = [node for node in ready if node in self.main_thread]
                return self._take((own or ready)[0], main=True)
            if not self.running:  # nothing runs that could make a node ready: a cycle
                self.failure = RuntimeError(f"nodes wait for each other: {self.waiting}")
                return None
            self.changed.wait()
        return None

    def next_for_worker(self) -> str | None:
        """Another thread's next node: the first ready one in `order` that it may run, taken only
        while the calling thread runs one; None when none will start any more."""
        while not self._over():
            if self.main_busy:
                ready = [node for node in self._ready() if node not in self.main_thread]
                if ready:
                    return self._take(ready[0], main=False)
            self.changed.wait()
        return None

    def work(self, launch: Callable[[str], None], main: bool) -> None:
        """Launches nodes one after another until none is left to start, or one failed."""
        while True:
            with self.changed:
                node = self.next_for_main() if main else self.next_for_worker()
            if node is None:
                return
            error = None
            try:
                launch(node)
            except BaseException as raised:  # noqa: BLE001  (kept, and raised by run_nodes)
                error = raised
            with self.changed:
                self.running -= 1
                self.main_busy = self.main_busy and not main
                if error is None:
                    self.finished.add(node)
                else:
                    self.failure = self.failure or error
                self.changed.notify_all()
            if error is not None:
                return

    def stop(self) -> None:
        """No node starts any more."""
        with self.changed:
            self.stopped = True
            self.changed.notify_all()


def run_nodes(
    order: Sequence[str],
    upstream: Mapping[str, Collection[str]],
    launch: Callable[[str], None],
    max_parallel: int = MAX_PARALLEL_NODES,
    main_thread: Collection[str] = (),
) -> None:
    """Calls `launch(node)` for every node of `order` (a topological order), each once every node
    in `upstream[node]` has returned, up to `max_parallel` at once; the first ready node in
    `order` starts first, so that with `max_parallel=1` the nodes run in `order`.

    The calling thread launches a node whenever one is ready, `max_parallel - 1` other threads
    only while it runs one, and never the nodes in `main_thread` (the Beam steps: a Beam job
    server for Flink or Spark sets a signal handler, which only the main thread may do). So a node
    that runs alone runs in the calling thread, as in TFX's sequential runner, and a Ctrl-C
    interrupts it. When a launch raises, no node starts any more, those running are waited for,
    and the first exception is raised here (BaseExceptions such as KeyboardInterrupt as well).
    """
    workers = max(0, min(max_parallel, len(order)) - 1)
    schedule = _Schedule(order, upstream, main_thread, workers)
    threads = [
        threading.Thread(target=schedule.work, args=(launch, False), name=f"pipeline-node-{i + 1}")
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        schedule.work(launch, main=True)
    finally:  # work() returns once no node will start; a Ctrl-C while it waits stops them here
        schedule.stop()
        for thread in threads:
            thread.join()
    if schedule.failure is not None:
        raise schedule.failure


class ThreadedLocalDagRunner(LocalDagRunner):
    """LocalDagRunner whose independent nodes run at the same time (module docstring)."""

    max_parallel = MAX_PARALLEL_NODES

    def run_with_ir(self, pipeline, run_options=None) -> None:
        """Runs the pipeline IR `pipeline` as TFX's LocalDagRunner does, but for the scheduling."""
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline,
            {constants.PIPELINE_RUN_ID_PARAMETER_NAME: datetime.datetime.now().isoformat()},
        )
        deployment_config = runner_utils.extract_local_deployment_config(pipeline)
        connection_config = getattr(
            deployment_config.metadata_connection_config,
            deployment_config.metadata_connection_config.WhichOneof("connection_config"),
        )
        logging.info("Using deployment config:\n %s", deployment_config)
        logging.info("Using connection config:\n %s", connection_config)
        if run_options:
            logging.info("Using run_options:\n %s", run_options)
            partial_run = run_options.partial_run
            partial_run_utils.mark_pipeline(
                pipeline,
                from_nodes=partial_run.from_nodes or None,
                to_nodes=partial_run.to_nodes or None,
                snapshot_settings=partial_run.snapshot_settings,
            )
        nodes = {node.pipeline_node.node_info.id: node.pipeline_node for node in pipeline.nodes}
        executor_specs = {
            node_id: runner_utils.extract_executor_spec(deployment_config, node_id)
            for node_id in nodes
        }

        def launch(node_id: str) -> None:
            pipeline_node = nodes[node_id]
            if pipeline_node.execution_options.HasField("skip"):
                logging.info("Skipping component %s.", node_id)
                return
            component_launcher = launcher.Launcher(
                pipeline_node=pipeline_node,
                mlmd_connection=metadata.Metadata(connection_config),
                pipeline_info=pipeline.pipeline_info,
                pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=executor_specs[node_id],
                custom_driver_spec=runner_utils.extract_custom_driver_spec(
                    deployment_config, node_id
                ),
            )
            with telemetry_utils.scoped_labels(_LABELS):  # thread-local: in each node's thread
                logging.info("Component %s is running.", node_id)
                component_launcher.launch()
                logging.info("Component %s is finished.", node_id)

        if any(node.execution_options.run.perform_snapshot for node in nodes.values()):
            with (
                telemetry_utils.scoped_labels(_LABELS),
                metadata.Metadata(connection_config) as mlmd_handle,
            ):
                partial_run_utils.snapshot(mlmd_handle, pipeline)
        run_nodes(
            list(nodes),
            {node_id: node.upstream_nodes for node_id, node in nodes.items()},
            launch,
            self.max_parallel,
            main_thread=[
                node_id
                for node_id, spec in executor_specs.items()
                if isinstance(spec, executable_spec_pb2.BeamExecutableSpec)
            ],
        )
