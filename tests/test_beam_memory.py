"""Beam pipelines whose memory does not grow with the data on the DirectRunner (core.beam_memory).

The components' own runs (ExampleGen, Transform) check that TFX's transforms are found and
replaced; here the mechanism itself runs on small Beam pipelines.
"""

from __future__ import annotations

import tempfile

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.runners.portability.portable_runner import PortableRunner
from apache_beam.testing.util import assert_that, equal_to

from components.core import beam_memory


def batch(values: list[int], name: str = "x") -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({name: pa.array(values, pa.int64())})


def rows(record_batch: pa.RecordBatch) -> list[tuple]:
    return [tuple(sorted(row.items())) for row in record_batch.to_pylist()]


@pytest.fixture
def spill_root(tmp_path, monkeypatch):
    """Where the pipelines' temporary Flatten folders go (Python's tempfile folder)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.slow
def test_flatten_through_files_gives_the_same_elements(spill_root):
    pipeline = beam_memory.BoundedMemoryPipeline(
        argv=["--direct_num_workers=1"], flattens=("Both",)
    )
    first = pipeline | "First" >> beam.Create([batch([1, 2, 3]), batch([4]), batch([5], "y")])
    second = pipeline | "Second" >> beam.Create([batch(list(range(100, 1100)))])
    flattened = (first, second) | "Both" >> beam.Flatten()
    expected = [(("x", v),) for v in [1, 2, 3, 4, *range(100, 1100)]] + [(("y", 5),)]
    assert_that(flattened | "Rows" >> beam.FlatMap(rows), equal_to(expected))
    single = (first,) | "One" >> beam.Flatten()  # one input is fused anyway: left alone
    assert_that(
        single | "RowsOfOne" >> beam.FlatMap(rows),
        equal_to(expected[:4] + expected[-1:]),
        label="CheckOne",
    )
    with pipeline:
        pass
    assert pipeline.replaced == ["Both"]
    assert list(spill_root.iterdir()) == []  # every file read back and the folder removed


@pytest.mark.slow
def test_flatten_through_files_refuses_other_elements(spill_root):
    pipeline = beam_memory.BoundedMemoryPipeline(flattens=("Both",))
    numbers = pipeline | "Numbers" >> beam.Create([1, 2])
    _ = (numbers, pipeline | "More" >> beam.Create([3])) | "Both" >> beam.Flatten()
    with pytest.raises(Exception, match="carries Arrow record batches, got <class 'int'>"):
        pipeline.run()
    assert list(spill_root.iterdir()) == []


@pytest.mark.slow
def test_reshuffle_runs_as_a_pass_through():
    pipeline = beam_memory.BoundedMemoryPipeline(reshuffles=(r"Write\[\w+\]/Shuffle",))
    data = pipeline | beam.Create(range(50))
    for name in ("a", "b"):
        out = data | f"Write[{name}]/Shuffle" >> beam.Reshuffle()
        assert_that(out, equal_to(list(range(50))), label=f"Check[{name}]")
    kept = data | "Other" >> beam.Reshuffle()
    assert_that(kept, equal_to(list(range(50))), label="CheckOther")
    with pipeline:
        pass
    assert pipeline.replaced == ["Write[a]/Shuffle", "Write[b]/Shuffle"]


def test_only_the_direct_runner_holds_the_data_in_memory():
    assert beam_memory.runs_in_memory(beam.Pipeline().runner)
    assert not beam_memory.runs_in_memory(PortableRunner())
