"""Shared fixtures: a tiny BERT checkpoint built offline, a stand-in Transform output, the real
datasets, and the fakes (tests/fakes/) that stand in for services these machines do not have.

The two tiers (README, "Install and test"): `make test-fast` runs the tests not marked `slow`,
`make test` all of them. A test that is not marked `slow` may not start a subprocess, a Beam
pipeline, a TFX component or a training run: `_HeavyWorkGuard` makes each of those raise
`HeavyWorkInFastTest` inside such a test (and inside the fixtures it sets up), whichever tier
runs, so a heavy test that lacks its marker fails at once instead of slowing the fast tier. A
test that reads `../shared/data` (the `shared_data` fixture) must be marked `realdata`, and skips
with the reason when the data is not there.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from components.core import env  # noqa: F401  (before anything imports TensorFlow)
from components.core.config import Config

# The KFP API stand-in's `kfp_standin` fixture (tests/fakes/kfp_server.py).
pytest_plugins = ("fakes.kfp_server",)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TINY_LENGTH = 16  # max_seq_length of the stand-in Transform output and tiny_config
POSITIVE = ["great", "wonderful", "excellent", "lovely", "brilliant", "superb", "delightful"]
NEGATIVE = ["awful", "terrible", "boring", "dreadful", "horrible", "dull", "painful"]
FILLER = ["the", "movie", "was", "really", "quite", "a", "story", "and", "plot", "acting"]


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_removed(tmp_path_factory):
    """The code under test and its subprocesses make their temporary files in a folder removed
    at the end: TFX leaves a 52 MB copy of itself in /tmp for each Beam step run with Beam
    arguments (tfx.utils.dependency_utils.build_ephemeral_package), 1.3 GB per suite run."""
    folder = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        patch.setattr(tempfile, "tempdir", str(folder))
        yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout (tests that use it are marked `realdata`)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real datasets are not at {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sms_spam_settings(shared_data) -> dict[str, str]:
    """How the SMS Spam Collection is read: no header, tab separated, label first."""
    return {
        "data": str(shared_data / "sms_spam" / "SMSSpamCollection"),
        "format": "tsv",
        "header": "no",
        "label_column": "0",
        "text_column": "1",
    }


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny, randomly initialised BERT in Hugging Face format (config.json, weights, vocab.txt).

    It reuses the real vocabulary of the default checkpoint, so tokenization is realistic, and is
    written with `save_pretrained` exactly as a downloaded checkpoint would be laid out.
    """
    from transformers import BertConfig, TFBertModel

    from components.core.checkpoint import default_checkpoint_dir

    folder = tmp_path_factory.mktemp("tiny_bert")
    real = Path(default_checkpoint_dir())
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (real / name).exists():
            shutil.copy(real / name, folder / name)
    vocab_size = len((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)  # the same tiny BERT in every pytest run: reproducible tests
    model = TFBertModel(config)
    model(model.dummy_inputs)
    model.save_pretrained(folder)
    return folder


# -- stand-in Transform -------------------------------------------------------------------------
def _stand_in_preprocessing_fn(vocab_file: str, max_seq_length: int):
    def preprocessing_fn(inputs):
        import tensorflow as tf
        import tensorflow_text as text
        import tensorflow_transform as tft

        with open(vocab_file, encoding="utf-8") as handle:
            vocab = [line.rstrip("\n") for line in handle]
        cls_id, sep_id = vocab.index("[CLS]"), vocab.index("[SEP]")
        tokenizer = text.BertTokenizer(vocab_file, lower_case=True, token_out_type=tf.int64)
        tokens = tokenizer.tokenize(tf.reshape(inputs["text"], [-1])).merge_dims(-2, -1)
        kept = tokens[:, : max_seq_length - 2]
        ids, segments = text.combine_segments([kept], cls_id, sep_id)
        input_ids, attention_mask = text.pad_model_inputs(ids, max_seq_length)
        token_type_ids, _ = text.pad_model_inputs(segments, max_seq_length)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
            "truncated": tf.cast(tokens.row_lengths() > max_seq_length - 2, tf.int64),
            "label_id": tft.compute_and_apply_vocabulary(
                tf.reshape(inputs["label"], [-1]), vocab_filename="label_vocab"
            ),
        }

    return preprocessing_fn


def _make_transform_output(folder: Path, vocab_file: str, max_seq_length: int, train, evaluation):
    """Runs the stand-in Transform: folder/transform_graph, folder/transformed/Split-*/*.gz."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    raw_metadata = dataset_metadata.DatasetMetadata.from_feature_spec(
        {
            "text": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.string),
        }
    )
    rows = {
        split: [{"text": t.encode(), "label": y.encode()} for t, y in data]
        for split, data in (("train", train), ("eval", evaluation))
    }
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=str(folder / "tmp")):
        train_data = p | "train" >> beam.Create(rows["train"])
        (train_out, metadata), transform_fn = (
            train_data,
            raw_metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(
            _stand_in_preprocessing_fn(vocab_file, max_seq_length)
        )
        eval_data = p | "eval" >> beam.Create(rows["eval"])
        eval_out, _ = ((eval_data, raw_metadata), transform_fn) | tft_beam.TransformDataset()
        coder = tft.coders.ExampleProtoCoder(metadata.schema)
        for split, data in (("train", train_out), ("eval", eval_out)):
            _ = (
                data
                | f"encode_{split}" >> beam.Map(coder.encode)
                | f"write_{split}"
                >> beam.io.WriteToTFRecord(
                    str(folder / "transformed" / f"Split-{split}" / "transformed_examples"),
                    file_name_suffix=".gz",
                    compression_type=beam.io.filesystem.CompressionTypes.GZIP,
                )
            )
        _ = transform_fn | tft_beam.WriteTransformFn(str(folder / "transform_graph"))
    # As TFX's Transform does: the raw schema beside the transform graph (raw_feature_spec()).
    metadata_io.write_metadata(raw_metadata, str(folder / "transform_graph" / "metadata"))
    return {
        "transform_output": str(folder / "transform_graph"),
        "train_files": [str(folder / "transformed" / "Split-train" / "*")],
        "eval_files": [str(folder / "transformed" / "Split-eval" / "*")],
    }


@pytest.fixture(scope="session")
def tiny_length() -> int:
    return TINY_LENGTH


@pytest.fixture(scope="session")
def make_transform_output():
    """make_transform_output(folder, vocab_file, max_seq_length, train rows, eval rows): runs the
    stand-in Transform; returns transform_output, train_files and eval_files."""
    return _make_transform_output


def _synthetic(count: int, seed: int, positive_every: int = 2) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        positive = i % positive_every == 0
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if positive else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), "positive" if positive else "negative"))
    return rows


@pytest.fixture(scope="session")
def synthetic_rows():
    """synthetic_rows(count, seed, positive_every=2): (text, label) rows; every
    `positive_every`-th is positive (alternately positive and negative by default)."""
    return _synthetic


def _tiny_config(checkpoint, **train) -> Config:
    settings = dict(
        train_steps=6,
        batch_size=8,
        checkpoint_every=3,
        learning_rate=1e-3,
        jit_compile=False,
        strategy="cpu",
    )
    settings.update(train)
    return Config().replace(
        model={"checkpoint": str(checkpoint), "max_seq_length": TINY_LENGTH},
        train=settings,
    )


@pytest.fixture(scope="session")
def tiny_config():
    """tiny_config(checkpoint, **train settings): a Config for a few fast CPU training steps."""
    return _tiny_config


def _fn_args(data, config: Config, root: Path):
    from tfx.components.trainer.fn_args_utils import FnArgs

    return FnArgs(
        train_files=data["train_files"],
        eval_files=data["eval_files"],
        transform_graph_path=data["transform_output"],
        transform_output=data["transform_output"],
        serving_model_dir=str(root / "model" / "7" / "Format-Serving"),
        model_run_dir=str(root / "model_run" / "7"),
        train_steps=None,
        custom_config={"config": config.to_json()},
    )


@pytest.fixture(scope="session")
def make_fn_args():
    """make_fn_args(transform data, config, root folder): the FnArgs TFX would give run_fn."""
    return _fn_args


def _write_ram_spans(root: str, spans=(1, 2)) -> None:
    import tensorflow as tf

    for span in spans:
        folder = f"{root}/span-{span}"
        tf.io.gfile.makedirs(folder)
        for name, body in (
            ("train.csv", f"text,label\ns{span} a,1\ns{span} b,0\n"),
            ("dev.csv", f"text,label\ns{span} dev,0\n"),
        ):
            with tf.io.gfile.GFile(f"{folder}/{name}", "w") as handle:
                handle.write(body)


@pytest.fixture(scope="session")
def write_ram_spans():
    """write_ram_spans(root, spans=(1, 2)): span folders with train.csv and dev.csv on
    TensorFlow's in-memory filesystem (ram://), a stand-in for gs:// in this process."""
    return _write_ram_spans


def _answer_in_fresh_process(model_dir: str, texts: list[str]) -> list[str]:
    """Labels from the SavedModel in a process that imports only tensorflow and tensorflow_text."""
    script = textwrap.dedent(
        f"""
        import sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        assert not any(m.split(".")[0] in ("pipeline", "components", "transformers", "tfx")
                       for m in sys.modules), sorted(sys.modules)
        model = tf.saved_model.load({model_dir!r})
        out = model.signatures["serving_default"](text=tf.constant({texts!r}))
        assert out["probabilities"].shape == ({len(texts)}, 2), out["probabilities"].shape
        print("LABELS", *[v.decode() for v in out["label"].numpy()])
        """
    )
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environ,
        cwd="/",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("LABELS"))
    return line.split()[1:]


@pytest.fixture(scope="session")
def answer_in_fresh_process():
    """answer_in_fresh_process(model_dir, texts): the labels a pushed SavedModel gives in a
    process that imports only tensorflow and tensorflow_text."""
    return _answer_in_fresh_process


# Three spans of a production retraining schedule, from the bundled sample: (train rows, eval rows,
# negative share). Spans 1 and 2 have the same distribution (other rows), span 3 is 95% negative.
SCHEDULE_SPANS = {1: (48, 24, 0.5), 2: (48, 24, 0.5), 3: (48, 24, 0.95)}


def _write_schedule_spans(root: Path) -> Path:
    import csv

    sample = REPO_ROOT / "pipeline" / "sample_data"
    used: dict[tuple[str, str], int] = {}  # rows of each split and label taken so far
    for span, (train, evaluation, negative_share) in SCHEDULE_SPANS.items():
        folder = root / f"span-{span}"
        folder.mkdir(parents=True)
        for split, count in (("train", train), ("eval", evaluation)):
            with open(sample / f"{split}.csv", newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            negatives = round(count * negative_share)
            kept = []
            for label, wanted in (("positive", count - negatives), ("negative", negatives)):
                start = used.get((split, label), 0)
                kept += [r for r in rows if r["label"] == label][start : start + wanted]
                used[(split, label)] = start + wanted
            with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=["text", "label"])
                writer.writeheader()
                writer.writerows(kept)
    return root


@pytest.fixture(scope="session")
def schedule_spans(tmp_path_factory) -> Path:
    """A folder holding span-1, span-2 and span-3 (train.csv, eval.csv each; SCHEDULE_SPANS):
    24 texts per label and 12 per label in eval in spans 1 and 2, other rows of the bundled
    sample in each; span 3 46 negative and 2 positive texts, 23 and 1 in eval."""
    return _write_schedule_spans(tmp_path_factory.mktemp("schedule_spans"))


# -- the tiers ----------------------------------------------------------------------------------------
class HeavyWorkInFastTest(BaseException):
    """Raised when a test not marked `slow` starts heavy work (a BaseException, so that no
    `except Exception` in the code under test turns it into something else)."""


_HEAVY_FOUND = pytest.StashKey[list]()


@functools.cache
def heavy_work() -> tuple[tuple[str, object, str], ...]:
    """What a fast test may not start: (what it is, the object and the attribute that starts it).
    Imported here, after components.core.env has set the environment TensorFlow reads."""
    import apache_beam
    import tf_keras
    from tfx.orchestration.portable import launcher

    return (
        ("a subprocess", subprocess.Popen, "_execute_child"),
        ("a forked process", os, "fork"),
        ("a Beam pipeline", apache_beam.Pipeline, "run"),
        ("a TFX component", launcher.Launcher, "launch"),
        ("a training run", tf_keras.Model, "fit"),
    )


@contextlib.contextmanager
def _heavy_work_guard(item: pytest.Item):
    """While a fast test runs (setup, call, teardown), each start of heavy work raises."""
    found = item.stash.setdefault(_HEAVY_FOUND, [])
    saved = [(owner, name, owner.__dict__[name]) for _, owner, name in heavy_work()]

    def refuse(what: str):
        def start(*args, **kwargs):
            found.append(what)
            raise HeavyWorkInFastTest(
                f"{item.nodeid} starts {what} but is not marked slow: mark it"
                " @pytest.mark.slow (the fast tier runs none), or keep it light"
            )

        return start

    for what, owner, name in heavy_work():
        setattr(owner, name, refuse(what))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if item.get_closest_marker("slow"):
        yield
        return
    with _heavy_work_guard(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A fast test that started heavy work fails, even where the code under test caught it."""
    outcome = yield
    report = outcome.get_result()
    found = item.stash.get(_HEAVY_FOUND, [])
    if found and report.when == "call" and report.passed:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} started {', '.join(found)} but is not marked slow"


def pytest_runtest_setup(item):
    """Every test that reads ../shared/data is marked `realdata`."""
    if "shared_data" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
        "realdata"
    ):
        pytest.fail(f"{item.nodeid} reads ../shared/data (shared_data) but is not marked realdata")


# -- process exit -------------------------------------------------------------------------------------
_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Ends the test process with pytest's own exit status once pytest is done with it.

    A process that has trained and exported a TFBertModel in-process can crash in the garbage
    collection of TensorFlow objects at interpreter shutdown (`Fatal Python error: Segmentation
    fault ... Garbage-collecting`, exit 139; reproduced on TF 2.16.2 with
    `pytest tests/test_trainer.py -k run_fn_trains`, whose test passes). The crash happens after
    every test and report has finished, but it would turn a passing run into a failed one, so the
    interpreter's teardown is skipped: the product's own processes (`bertpipe`) exit normally.
    """
    status = config.stash.get(_EXIT_STATUS, None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
