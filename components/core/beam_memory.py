"""Beam pipelines whose memory does not grow with the data on the DirectRunner.

Beam's DirectRunner runs a batch pipeline on the FnApiRunner, which fuses the transforms into
stages and keeps every PCollection that goes from one stage to the next in its own memory (a list
of encoded elements; a dict of them for a GroupByKey) until the next stage has read all of it.
Inside a stage, elements stream. Two steps of the stock TFX components this project runs send
the whole dataset across a stage boundary, so their memory grows with the rows:

- ExampleGen's `WriteSplit` reshuffles the examples of each split (`beam.Reshuffle`, a GroupByKey
  on random keys) before writing them, so every serialized example is held at once. On the
  FnApiRunner this buys nothing: its groups come out in the order they went in.
- Transform flattens the transformed datasets of its splits (`FlattenTransformedDatasets`) for
  the post-transform statistics. A Flatten of several inputs runs in the runner, so every
  transformed example (3 x max_seq_length int64 ids, about 3 KB at L = 128) is held at once.

`BoundedMemoryPipeline` removes both boundaries when, and only when, it runs on the DirectRunner,
with Beam's own mechanism for substituting transforms (`PTransformOverride`, as runners do):

- a Reshuffle it is told about becomes a pass-through (`Reshuffle` is the identity on the data;
  on a distributed runner, where it rebalances work and shuffles on disk, it stays);
- a Flatten of several inputs it is told about sends its data through local files: each bundle
  of each input writes its Arrow record batches to a compressed Arrow IPC stream in a temporary
  folder and passes on only the file's path; the stage after the Flatten (of the paths) reads the
  batches back one at a time and deletes each file once read. The folder is removed when the
  pipeline has run. Disk, not memory, then holds the data, compressed (zstd).

What is left in memory is what the analyzers and statistics keep (combiner accumulators) plus
one bundle in flight. Components opt in through `BoundedMemoryExecutor` (a mixin for a TFX Beam
executor), naming the transforms by their full labels in TFX's pipeline.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.pipeline import PTransformOverride
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner, DirectRunner
from apache_beam.transforms.window import GlobalWindow, GlobalWindows

logger = logging.getLogger(__name__)

SPILL_COMPRESSION = "zstd"  # Arrow IPC buffer compression of the Flatten's files
_DIRECT_RUNNERS = (DirectRunner, BundleBasedDirectRunner)


# -- Reshuffle -> pass-through ----------------------------------------------------------------------
def _same(element):
    return element


class _PassThrough(beam.PTransform):
    """The identity, in place of a Reshuffle (which is the identity on the data)."""

    def expand(self, pcoll):
        return pcoll | "PassThrough" >> beam.Map(_same)


class ReshuffleAsPassThrough(PTransformOverride):
    """Replaces each `beam.Reshuffle` whose full label matches `label_pattern` (a regex)."""

    def __init__(self, label_pattern: str):
        self._pattern = re.compile(label_pattern)
        self.replaced: list[str] = []

    def matches(self, applied_ptransform) -> bool:
        return isinstance(applied_ptransform.transform, beam.Reshuffle) and bool(
            self._pattern.fullmatch(applied_ptransform.full_label)
        )

    def get_replacement_transform_for_applied_ptransform(self, applied_ptransform):
        self.replaced.append(applied_ptransform.full_label)
        return _PassThrough()


# -- Flatten through local files --------------------------------------------------------------------
class _WriteRecordBatches(beam.DoFn):
    """Record batches -> one Arrow IPC stream file per bundle (and schema); emits the paths."""

    def __init__(self, folder: str):
        self._folder = folder
        self._open = None  # (path, schema, file, writer) of the file being written
        self._done: list[str] = []

    def start_bundle(self):
        self._open, self._done = None, []

    def process(self, batch, window=beam.DoFn.WindowParam):
        if not isinstance(batch, pa.RecordBatch):
            raise TypeError(
                f"the Flatten through files carries Arrow record batches, got {type(batch)}"
            )
        if window != GlobalWindow():
            raise ValueError(
                f"the Flatten through files keeps the global window only, got {window}"
            )
        if self._open is None or not self._open[1].equals(batch.schema, check_metadata=True):
            self._close()
            path = os.path.join(self._folder, f"{uuid.uuid4().hex}.arrows")
            sink = pa.OSFile(path, "wb")
            options = pa.ipc.IpcWriteOptions(compression=SPILL_COMPRESSION)
            self._open = (
                path,
                batch.schema,
                sink,
                pa.ipc.new_stream(sink, batch.schema, options=options),
            )
        self._open[3].write_batch(batch)

    def finish_bundle(self):
        self._close()
        for path in self._done:
            yield GlobalWindows.windowed_value(path)

    def _close(self):
        if self._open is not None:
            path, _, sink, writer = self._open
            writer.close()
            sink.close()
            self._done.append(path)
            self._open = None


class _ReadRecordBatches(beam.DoFn):
    """A file of `_WriteRecordBatches` -> its record batches, one at a time; then deletes it."""

    def process(self, path: str):
        with pa.OSFile(path, "rb") as source:
            yield from pa.ipc.open_stream(source)
        os.remove(path)


class _FlattenThroughFiles(beam.PTransform):
    """Flatten of record-batch PCollections whose data goes through files in `folder`."""

    def __init__(self, folder: str):
        super().__init__()
        self._folder = folder

    def expand(self, pcolls):
        paths = [
            pcoll | f"ToFiles[{index}]" >> beam.ParDo(_WriteRecordBatches(self._folder))
            for index, pcoll in enumerate(pcolls)
        ]
        return (
            paths
            | "FlattenPaths" >> beam.Flatten()
            | "FromFiles" >> beam.ParDo(_ReadRecordBatches())
        )


class FlattenThroughFiles(PTransformOverride):
    """Replaces each `beam.Flatten` of several inputs whose full label matches `label_pattern`."""

    def __init__(self, label_pattern: str, folder: str):
        self._pattern = re.compile(label_pattern)
        self._folder = folder
        self.replaced: list[str] = []

    def matches(self, applied_ptransform) -> bool:
        return (
            isinstance(applied_ptransform.transform, beam.Flatten)
            and len(applied_ptransform.main_inputs) > 1  # one input is fused: nothing to do
            and bool(self._pattern.fullmatch(applied_ptransform.full_label))
        )

    def get_replacement_transform_for_applied_ptransform(self, applied_ptransform):
        self.replaced.append(applied_ptransform.full_label)
        return _FlattenThroughFiles(self._folder)


# -- the pipeline -----------------------------------------------------------------------------------
def runs_in_memory(runner) -> bool:
    """Whether `runner` keeps the data between stages in memory (Beam's DirectRunner)."""
    return isinstance(runner, _DIRECT_RUNNERS)


class BoundedMemoryPipeline(beam.Pipeline):
    """A beam.Pipeline that, on the DirectRunner, replaces the named Reshuffles and Flattens
    before it runs (see the module docstring); on any other runner it is a plain beam.Pipeline.

    Args (besides beam.Pipeline's):
      reshuffles: regexes of full labels of Reshuffles to run as pass-throughs.
      flattens: regexes of full labels of Flattens (of record batches) to run through files.
    """

    def __init__(
        self,
        *args,
        reshuffles: Sequence[str] = (),
        flattens: Sequence[str] = (),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self._reshuffles = tuple(reshuffles)
        self._flattens = tuple(flattens)
        self.replaced: list[str] = []

    def run(self, test_runner_api="AUTO"):
        if not runs_in_memory(self.runner) or not (self._reshuffles or self._flattens):
            return super().run(test_runner_api)
        folder = tempfile.mkdtemp(prefix="bertpipe-flatten-")
        try:
            overrides = [ReshuffleAsPassThrough(label) for label in self._reshuffles] + [
                FlattenThroughFiles(label, folder) for label in self._flattens
            ]
            self.replace_all(overrides)
            self.replaced = [label for override in overrides for label in override.replaced]
            logger.info(
                "DirectRunner: %s run without holding the data in memory (%s)",
                self.replaced or "no transforms",
                "Reshuffle as pass-through, Flatten through files in " + folder,
            )
            result = super().run(test_runner_api)
            result.wait_until_finish()
            return result
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class BoundedMemoryExecutor:
    """Mixin for a TFX Beam executor (before the TFX class in the bases): its Beam pipeline is a
    `BoundedMemoryPipeline` replacing `DIRECT_RUNNER_RESHUFFLES` and `DIRECT_RUNNER_FLATTENS`
    (regexes of full labels in the executor's pipeline)."""

    DIRECT_RUNNER_RESHUFFLES: tuple[str, ...] = ()
    DIRECT_RUNNER_FLATTENS: tuple[str, ...] = ()

    def _make_beam_pipeline(self) -> beam.Pipeline:
        if self._make_beam_pipeline_fn is not None:
            logger.warning(
                "%s: the orchestrator makes the Beam pipeline; on the DirectRunner its memory "
                "grows with the data",
                type(self).__name__,
            )
            return super()._make_beam_pipeline()
        return BoundedMemoryPipeline(
            argv=self._beam_pipeline_args,
            reshuffles=self.DIRECT_RUNNER_RESHUFFLES,
            flattens=self.DIRECT_RUNNER_FLATTENS,
        )
