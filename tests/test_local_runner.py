"""The local runner's scheduling (pipeline/dag_threads.py: nodes that do not depend on each other
run at the same time) and its progress lines, with stand-in launches; the real pipeline under it
is tested end to end in test_e2e.py."""

import io
import logging
import os
import threading
import time

import pytest
from tfx.dsl.compiler.compiler import Compiler
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration import metadata
from tfx.types import standard_artifacts

from components.core.config import Config
from pipeline import local_runner
from pipeline.dag_threads import ThreadedLocalDagRunner, run_nodes
from pipeline.local_runner import ComponentProgress
from pipeline.pipeline import create_pipeline

WAIT_S = 10  # a stand-in launch waits at most this long for another one (instead of hanging)


class Launches:
    """A stand-in launch: records when each node starts and ends, and how many run at once; a
    node in `waits_for` runs until that other node has started, then `seconds` (or
    `seconds[node]`), and a node in `fail` then raises it."""

    def __init__(self, fail=None, waits_for=None, seconds=0.0):
        self.events: list[tuple[str, str]] = []
        self.threads: dict[str, threading.Thread] = {}
        self.fail = fail or {}
        self.waits_for = waits_for or {}
        self.seconds = seconds
        self.running = self.most = 0
        self.started = {}
        self._lock = threading.Lock()

    def __call__(self, node: str) -> None:
        with self._lock:
            self.events.append(("start", node))
            self.threads[node] = threading.current_thread()
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.setdefault(node, threading.Event()).set()
        try:
            if node in self.waits_for:
                other = self.waits_for[node]
                with self._lock:
                    event = self.started.setdefault(other, threading.Event())
                assert event.wait(WAIT_S), f"{other} did not start while {node} ran"
            seconds = self.seconds
            time.sleep(seconds.get(node, 0.0) if isinstance(seconds, dict) else seconds)
            if node in self.fail:
                raise self.fail[node]
        finally:
            with self._lock:
                self.running -= 1
                self.events.append(("end", node))

    def started_nodes(self) -> list[str]:
        return [node for kind, node in self.events if kind == "start"]

    def index(self, kind: str, node: str) -> int:
        return self.events.index((kind, node))


@pytest.fixture(scope="module")
def pipeline_graph(tmp_path_factory):
    """The real pipeline's nodes in the IR's (topological) order, and each one's upstream nodes."""
    root = tmp_path_factory.mktemp("graph")
    ir = Compiler().compile(
        create_pipeline(
            Config().replace(run={"output": str(root)}),
            pipeline_root=str(root / "pipeline_root"),
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                str(root / "metadata.sqlite")
            ),
        )
    )
    order = [node.pipeline_node.node_info.id for node in ir.nodes]
    upstream = {
        node.pipeline_node.node_info.id: set(node.pipeline_node.upstream_nodes) for node in ir.nodes
    }
    return order, upstream


BEAM_STEPS = {"TextExampleGen", "StatisticsGen", "Transform", "Evaluator"}


def test_one_at_a_time_is_the_sequential_runner(pipeline_graph):
    order, upstream = pipeline_graph
    launches = Launches()
    run_nodes(order, upstream, launches, max_parallel=1)
    assert launches.events == [(kind, node) for node in order for kind in ("start", "end")]
    assert {thread for thread in launches.threads.values()} == {threading.current_thread()}


def test_the_evaluator_and_the_serving_check_run_together_after_the_trainer(pipeline_graph):
    order, upstream = pipeline_graph
    # Each of the two waits until the other has started: they must run at the same time.
    launches = Launches(
        waits_for={"Evaluator": "ServingCheck", "ServingCheck": "Evaluator"}, seconds=0.01
    )
    run_nodes(order, upstream, launches, max_parallel=2, main_thread=BEAM_STEPS)
    assert sorted(launches.started_nodes()) == sorted(order) and launches.most == 2
    # The Beam steps and the nodes that run alone run in the calling thread.
    main = threading.current_thread()
    assert {node for node, thread in launches.threads.items() if thread is not main} <= {
        "ImportSchemaGen",
        "ProductionBaseline",
        "ServingCheck",
    }
    assert launches.threads["ServingCheck"] is not main
    assert launches.started_nodes()[0] == "TextExampleGen"  # the first Beam step, then beside it
    for node in order:  # no node starts before every node it depends on has ended
        for before in upstream[node]:
            assert launches.index("end", before) < launches.index("start", node), (before, node)
    trainer_end = launches.index("end", "Trainer")
    assert {node for _, node in launches.events[trainer_end + 1 : trainer_end + 3]} == {
        "Evaluator",
        "ServingCheck",
    }
    assert launches.index("start", "Pusher") > max(
        launches.index("end", "Evaluator"), launches.index("end", "ServingCheck")
    )


def test_no_more_nodes_run_at_once_than_allowed():
    launches = Launches(seconds=0.05)
    nodes = ["a", "b", "c", "d", "e"]
    run_nodes(nodes, {"e": {"a", "b", "c", "d"}}, launches, max_parallel=2)
    assert launches.most == 2
    assert launches.started_nodes()[:2] == ["a", "b"] and launches.started_nodes()[-1] == "e"


def test_a_main_thread_node_runs_in_the_calling_thread_beside_the_others():
    # y, second in order, may run only in the calling thread; x waits until y has started.
    launches = Launches(waits_for={"x": "y"})
    run_nodes(["x", "y", "z"], {"z": {"x", "y"}}, launches, max_parallel=2, main_thread={"y"})
    main = threading.current_thread()
    assert launches.threads["y"] is main and launches.threads["x"] is not main
    assert launches.threads["z"] is main  # alone


def test_the_first_failure_stops_the_run_and_is_raised():
    # a -> b -> d and a -> c -> e; b fails while c runs: c ends, neither d nor e starts.
    failure = ValueError("b failed")
    launches = Launches(fail={"b": failure}, waits_for={"b": "c"}, seconds={"c": 0.3})
    upstream = {"b": {"a"}, "c": {"a"}, "d": {"b"}, "e": {"c"}}
    with pytest.raises(ValueError) as raised:
        run_nodes(["a", "b", "c", "d", "e"], upstream, launches, max_parallel=2)
    assert raised.value is failure
    assert sorted(launches.started_nodes()) == ["a", "b", "c"]
    assert launches.events[-1] == ("end", "c")  # the running node was waited for


class Interrupted(BaseException):
    """Stands for a KeyboardInterrupt or the tests' guard (a BaseException, not an Exception)."""


def test_a_base_exception_in_a_node_thread_reaches_the_caller():
    launches = Launches(fail={"b": Interrupted()})
    with pytest.raises(Interrupted):
        run_nodes(["a", "b", "c"], {"c": {"a", "b"}}, launches, max_parallel=2)
    assert "c" not in launches.started_nodes()


def test_nodes_that_cannot_run_are_refused():
    with pytest.raises(ValueError, match=r"upstream nodes not in the pipeline: \['x'\]"):
        run_nodes(["a"], {"a": {"x"}}, Launches())
    launches = Launches()
    with pytest.raises(RuntimeError, match="nodes wait for each other"):
        run_nodes(["a", "b", "c"], {"b": {"c"}, "c": {"b"}}, launches, max_parallel=2)
    assert launches.started_nodes() == ["a"]


def test_progress_lines_name_each_of_two_components_running_at_once(monkeypatch):
    clock = iter([100.0, 101.0, 104.5, 106.0])
    monkeypatch.setattr(local_runner.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = ComponentProgress(stream)

    def record(message: str, thread: int) -> logging.LogRecord:
        entry = logging.LogRecord("absl", logging.INFO, __file__, 1, message, (), None)
        entry.thread = thread
        return entry

    for message, thread in [
        ("Component Evaluator is running.", 1),
        ("Component ServingCheck is running.", 2),
        ("A cached execution 12 is used.", 1),  # the Evaluator's, though the check started last
        ("Component ServingCheck is finished.", 2),
        ("Component Evaluator is finished.", 1),
    ]:
        progress.emit(record(message, thread))
    lines = [line.split("] ", 1)[1] for line in stream.getvalue().splitlines()]
    assert lines == [
        "Evaluator started",
        "ServingCheck started",
        "ServingCheck finished in 3.5 s",
        "Evaluator finished in 6.0 s (cached)",
    ]


# -- a real partial run ----------------------------------------------------------------------------
@component
def Source(text: Parameter[str], out: OutputArtifact[standard_artifacts.Model]):  # noqa: N802
    with open(os.path.join(out.uri, "value"), "w", encoding="utf-8") as handle:
        handle.write(text)


@component
def Append(  # noqa: N802
    text: Parameter[str],
    inp: InputArtifact[standard_artifacts.Model],
    out: OutputArtifact[standard_artifacts.Model],
):
    with open(os.path.join(inp.uri, "value"), encoding="utf-8") as handle:
        value = handle.read()
    with open(os.path.join(out.uri, "value"), "w", encoding="utf-8") as handle:
        handle.write(value + text)


@pytest.mark.slow
def test_a_partial_run_reuses_the_skipped_nodes_outputs(tmp_path):
    """TFX's partial run through the threaded runner: the nodes before `from_nodes` are skipped,
    their outputs of the last run snapshotted into this one before the nodes that read them."""
    from tfx.orchestration import pipeline as tfx_pipeline

    def pipeline(suffix: str):
        first = Source(text="a").with_id("First")
        second = Append(text=suffix, inp=first.outputs["out"]).with_id("Second")
        beside = Source(text="b").with_id("Beside")
        last = Append(text="!", inp=second.outputs["out"]).with_id("Last")
        return tfx_pipeline.Pipeline(
            pipeline_name="partial-run-test",
            pipeline_root=str(tmp_path / "root"),
            components=[first, second, beside, last],
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                str(tmp_path / "mlmd.sqlite")
            ),
            enable_cache=False,
        )

    ThreadedLocalDagRunner().run(pipeline("b"))
    ThreadedLocalDagRunner().run(
        pipeline("c"), run_options=tfx_pipeline.RunOptions(from_nodes=["Second"])
    )

    def outputs(node: str) -> list[str]:
        folders = sorted((tmp_path / "root" / node / "out").iterdir(), key=lambda p: int(p.name))
        return [(folder / "value").read_text() for folder in folders]

    assert outputs("First") == ["a"] and outputs("Beside") == ["b"]  # ran once: skipped after
    assert outputs("Second") == ["ab", "ac"] and outputs("Last") == ["ab!", "ac!"]
