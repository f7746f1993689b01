"""Finding the input of the text ExampleGen: files, splits and spans, and the preflight checks.

`input_split_config` turns `DataConfig.data` into the input base and split patterns of a
FileBasedExampleGen, and `check_input` is the preflight that fails fast (missing files, binary
files, empty input, unknown columns) before any Beam pipeline starts, and says how it told a
headerless file's columns apart; `scoring_input` finds and checks the files that batch scoring
reads; `read_accepted_rows` reads every split as the executor would, without Beam (for `bertpipe
infer-schema`). File-system access goes through `tfx.dsl.io.fileio`, so GCS paths work too.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import re
from typing import NamedTuple

from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2

from components.core.config import DataConfig
from components.core.uris import SCHEME_SEPARATOR, has_scheme
from components.text_example_gen.columns import Columns
from components.text_example_gen.parsing import (
    detect_format,
    parse_file,
    parse_text_file,
    read_rows,
)
from components.text_example_gen.rows import InputError
from components.text_example_gen.text_files import HEAD_BYTES, check_text, decode

# The split pattern that `input_split_config` writes for a folder-per-label layout.
FOLDER_PATTERN = "*/*.txt"
TRAIN_NAMES = ("train",)
EVAL_NAMES = ("dev", "eval", "validation", "test")  # in order of preference
DATA_EXTENSIONS = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".ndjson")
SINGLE_SPLIT = "single_split"  # TFX's name for an input that is hash-split into train/eval
_SPAN = re.compile(r"\{SPAN(?::(?P<width>\d+))?\}")

logger = logging.getLogger(__name__)


def has_span(pattern: str) -> bool:
    """Whether a path or split pattern still holds a {SPAN} placeholder."""
    return bool(_SPAN.search(pattern))


def is_folder_split(data_config: DataConfig, pattern: str) -> bool:
    """Whether a split pattern reads folder-per-label files (one file = one example)."""
    if data_config.format == "folder":
        return True
    return data_config.format == "auto" and pattern.endswith(FOLDER_PATTERN)


def _join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if has_scheme(base) else os.path.join(base, *parts)


def _absolute(path: str) -> str:
    return path if has_scheme(path) else os.path.abspath(path)


def _files(pattern: str) -> list[str]:
    return sorted(path for path in fileio.glob(pattern) if not fileio.isdir(path))


def _children(folder: str) -> tuple[list[str], list[str]]:
    """(subfolder names, file names) of a folder, hidden entries left out."""
    folders, files = [], []
    for name in sorted(fileio.listdir(folder)):
        name = name.rstrip("/")
        if name.startswith((".", "_")):
            continue
        (folders if fileio.isdir(_join(folder, name)) else files).append(name)
    return folders, files


def _has_label_folders(folder: str) -> bool:
    return bool(_files(_join(folder, FOLDER_PATTERN)))


def _stem_ext(name: str) -> tuple[str, str]:
    stem, ext = posixpath.splitext(name)
    return stem.lower(), ext.lower()


def _split_patterns(folder: str, data_config: DataConfig) -> list[tuple[str, str]]:
    """(split name, pattern relative to `folder`) for the data in one folder."""
    subfolders, files = _children(folder)
    fmt = data_config.format
    if fmt in ("auto", "folder"):  # train/<label>/*.txt and test/<label>/*.txt
        train = [name for name in subfolders if name.lower() in TRAIN_NAMES]
        evals = [name for name in subfolders if name.lower() in EVAL_NAMES]
        evals.sort(key=lambda name: EVAL_NAMES.index(name.lower()))
        train = [name for name in train if _has_label_folders(_join(folder, name))]
        evals = [name for name in evals if _has_label_folders(_join(folder, name))]
        if train and evals:
            return [
                ("train", f"{train[0]}/{FOLDER_PATTERN}"),
                ("eval", f"{evals[0]}/{FOLDER_PATTERN}"),
            ]

    data_files = [name for name in files if _stem_ext(name)[1] in DATA_EXTENSIONS]
    if fmt in ("csv", "tsv", "jsonl"):
        data_files = data_files or files  # an explicit format also reads extensionless files
    if fmt != "folder":  # train.* and dev.*/eval.*/validation.*/test.*
        train = [name for name in data_files if _stem_ext(name)[0] in TRAIN_NAMES]
        evals = [name for name in data_files if _stem_ext(name)[0] in EVAL_NAMES]
        if len(train) > 1:
            raise InputError(f"more than one train file in {folder}: {train}; keep one")
        if train and evals:
            evals.sort(key=lambda name: EVAL_NAMES.index(_stem_ext(name)[0]))
            return [("train", train[0]), ("eval", evals[0])]

    if fmt == "folder" or (fmt == "auto" and _has_label_folders(folder)):
        if not _has_label_folders(folder):
            raise InputError(
                f"no folder-per-label data in {folder}: expected <label>/*.txt files "
                f"(or train/<label>/*.txt and test/<label>/*.txt); found folders {subfolders}"
            )
        return [(SINGLE_SPLIT, FOLDER_PATTERN)]

    if not data_files:
        raise InputError(
            f"no data files in {folder}: expected {'/'.join(DATA_EXTENSIONS)} files, or "
            f"<label>/*.txt folders; found files {files} and folders {subfolders}"
        )
    if len(data_files) == 1:
        return [(SINGLE_SPLIT, data_files[0])]
    extensions = {_stem_ext(name)[1] for name in data_files}
    if len(extensions) > 1:
        raise InputError(
            f"{folder} mixes file types {sorted(extensions)} ({data_files}); point data.data at "
            "one file, or keep one type"
        )
    return [(SINGLE_SPLIT, "*" + extensions.pop())]


def _newest_span(base: str, rest: str) -> str:
    """`rest` with its {SPAN} replaced by the newest span that exists under `base`."""
    match = _SPAN.search(rest)
    width = match.group("width")
    before, after = rest[: match.start()], rest[match.end() :]
    glob = _join(base, before + "*" + after)
    digits = r"(\d{" + width + "})" if width else r"(\d+)"
    regex = re.compile(re.escape(before) + digits + re.escape(after) + "$")
    spans = {}
    for path in fileio.glob(glob):
        relative = path[len(base) :].lstrip("/") if path.startswith(base) else path
        found = regex.match(relative.rstrip("/"))
        if found:
            spans[int(found.group(1))] = found.group(0)
    if not spans:
        raise InputError(f"no span of {_join(base, rest)} exists: expected paths matching {glob}")
    return spans[max(spans)]


def input_split_config(
    data_config: DataConfig,
) -> tuple[str, example_gen_pb2.Input, example_gen_pb2.Output]:
    """(input_base, example_gen_pb2.Input, example_gen_pb2.Output) for `data_config.data`.

    - a file: input_base = its folder, one split with the file's name, hash-split;
    - a folder with train.* and dev.*/eval.*/validation.*/test.* files (or train/ and test/
      folder-per-label trees): those are the train and eval splits, output config empty;
    - any other folder: one split over its data files (or <label>/*.txt), hash-split into
      train/eval with (100 - eval_percent)/eval_percent buckets;
    - a path with {SPAN} (or {SPAN:width}): input_base is the part before the first {SPAN}
      component; the layout is taken from the newest span, and the patterns keep {SPAN} so
      that the FileBasedExampleGen driver picks the newest span at run time.

    Raises InputError when the path (or every span of it) does not exist.
    """
    if not data_config.data.strip():
        raise InputError("data.data is empty: expected an input file or folder")
    data = _absolute(data_config.data.strip())
    if len(data) > 1 and not data.endswith(SCHEME_SEPARATOR):
        data = data.rstrip("/")
    if "{VERSION" in data or any(spec in data for spec in ("{YYYY}", "{MM}", "{DD}")):
        raise InputError(f"only {{SPAN}} is supported in data.data, got {data}")
    if _SPAN.search(data):
        parts = data.split("/")
        first = next(i for i, part in enumerate(parts) if _SPAN.search(part))
        base, rest = "/".join(parts[:first]) or "/", "/".join(parts[first:])
        probe_rest = _newest_span(base, rest)
        probe = _join(base, probe_rest)
    else:
        if not fileio.exists(data):
            raise InputError(f"input path {data} does not exist: expected a data file or folder")
        base, rest, probe = None, None, data
    if fileio.isdir(probe):
        splits = _split_patterns(probe, data_config)
        if base is None:
            base = data
        else:
            splits = [(name, f"{rest}/{pattern}") for name, pattern in splits]
    elif base is None:
        base, name = posixpath.split(data) if has_scheme(data) else os.path.split(data)
        splits = [(SINGLE_SPLIT, name)]
    else:
        splits = [(SINGLE_SPLIT, rest)]

    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name=name, pattern=pattern) for name, pattern in splits]
    )
    if len(splits) > 1:
        return base, input_config, example_gen_pb2.Output()
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(
                    name="train", hash_buckets=100 - data_config.eval_percent
                ),
                example_gen_pb2.SplitConfig.Split(
                    name="eval", hash_buckets=data_config.eval_percent
                ),
            ]
        )
    )
    return base, input_config, output_config


# -- preflight --------------------------------------------------------------------------------------
def split_files(input_base: str, pattern: str) -> list[str]:
    """The files of one (span-resolved) split pattern, sorted."""
    return _files(_join(input_base, pattern))


def _head(path: str) -> tuple[bytes, bool]:
    """The first ~1 MiB of a file, and whether that is the whole file."""
    with fileio.open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES + 1)
    return head[:HEAD_BYTES], len(head) <= HEAD_BYTES


def _report_guess(columns: Columns | None) -> None:
    """Says how a headerless file's columns were told apart, when they were guessed."""
    if columns is not None and columns.guessed:
        logger.warning("%s", columns.guessed)


def _check_file(path: str, data_config: DataConfig, say_guesses: bool, require_label: bool) -> bool:
    """Raises InputError for a binary file and for unresolvable columns/keys; returns whether
    the file has any row. Says what it decided for a headerless file's columns (`say_guesses`)."""
    head, complete = _head(path)
    check_text(path, head)
    if not complete:  # leave out the possibly cut last line
        head = head[: max(head.rfind(b"\n"), 0)]
    text = decode(head)
    fmt = detect_format(path, text, data_config.format)
    if fmt == "jsonl" and text.lstrip().startswith("["):
        raise InputError(
            f"{path} holds a JSON array; expected JSON Lines (one JSON object per line)"
        )
    reader = read_rows(path, io.BytesIO(head), data_config, require_label=require_label)
    has_rows = bool(list(reader))
    if say_guesses:
        _report_guess(reader.columns)
    return has_rows or not complete


def check_input(
    data_config: DataConfig,
    input_base: str,
    input_config: example_gen_pb2.Input,
    *,
    say_guesses: bool = True,
    require_label: bool = True,
) -> dict[str, list[str]]:
    """Preflight before the Beam pipeline: {split name: its files}.

    Raises InputError when a split matches no files, when a file is binary (not text), when a
    split has no rows at all, or when a configured (or auto-detected) text/label column or key
    does not exist in a file (or, for a headerless file, cannot be told apart). Only the first
    ~1 MiB of each file is read. With `say_guesses` it logs how a headerless file's columns were
    told apart; the CLI's pre-flight leaves that to ExampleGen, which says it on every
    orchestrator, so that a local run says it once. Without `require_label` (scoring) a file
    needs no label column.
    """
    result = {}
    for split in input_config.splits:
        pattern = _join(input_base, split.pattern)
        files = split_files(input_base, split.pattern)
        if not files:
            raise InputError(
                f"no input files for split {split.name!r}: expected files matching {pattern}"
            )
        if is_folder_split(data_config, split.pattern) and data_config.pairs:
            raise InputError(
                f"data.text_pair_column is set, but split {split.name!r} is folder-per-label data"
                f" ({pattern}: one text per file); sentence pairs need CSV/TSV columns or JSON"
                " Lines keys"
            )
        if not is_folder_split(data_config, split.pattern):
            has_rows = [
                _check_file(path, data_config, say_guesses, require_label) for path in files
            ]
            if not any(has_rows):
                raise InputError(
                    f"split {split.name!r} is empty: expected at least one data row in {files}"
                    + (" (after the header row)" if data_config.header != "no" else "")
                )
        result[split.name] = files
    return result


def scoring_input(data_config: DataConfig) -> list[tuple[str, bool]]:
    """The files of `data_config.data` as batch scoring reads them, each with whether it is a
    folder-per-label file: those of every split, of the newest span when the path has {SPAN}
    (as ExampleGen's driver picks it), each checked as `check_input` checks it, a label column
    optional."""
    input_base, input_config, _ = input_split_config(data_config)
    example_gen_utils.calculate_splits_fingerprint_span_and_version(
        input_base, input_config.splits
    )  # writes the span into the patterns
    files = check_input(data_config, input_base, input_config, require_label=False)
    return [
        (path, is_folder_split(data_config, split.pattern))
        for split in input_config.splits
        for path in files[split.name]
    ]


# -- reading outside Beam ------------------------------------------------------------------------
class AcceptedRows(NamedTuple):
    """The accepted rows of every input split (`read_accepted_rows`), column by column."""

    texts: list[str]
    labels: list[str]
    rejected: int  # rows rejected, with any reason
    text_pairs: list[str] | None = None  # the second texts of a sentence-pair task


def read_accepted_rows(data: DataConfig) -> AcceptedRows:
    """The accepted rows of every input split, read as ExampleGen reads them."""
    input_base, input_config, _ = input_split_config(data)
    check_input(data, input_base, input_config, say_guesses=False)
    rows = AcceptedRows([], [], 0, [] if data.pairs else None)
    rejected = 0
    for split in input_config.splits:
        folder = is_folder_split(data, split.pattern)
        for path in split_files(input_base, split.pattern):
            with fileio.open(path, "rb") as handle:
                raw = handle.read()
            if folder:
                parsed = [parse_text_file(path, raw, data)]
            else:
                found = parse_file(path, raw, data)
                _report_guess(found.columns)
                parsed = found.rows
            for row in parsed:
                if row.reason is None:
                    rows.texts.append(row.text)
                    rows.labels.append(row.label)
                    if rows.text_pairs is not None:
                        rows.text_pairs.append(row.text_pair)
                else:
                    rejected += 1
    return rows._replace(rejected=rejected)
