"""`bertpipe` as a user meets it: a user's mistake is one line naming the flag (exit 2, the
traceback only with --debug), settings and paths are checked before anything runs, a bug keeps its
traceback, and a default run prints only what the user acts on.

The quick checks call `main` in this process; the runs of the pipeline go through a subprocess (the
real process: its exit status, everything it prints), all on one run folder, so that the later
runs reuse the cached steps of the first.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.core.checkpoint import default_checkpoint_dir
from pipeline import preflight
from pipeline.cli import main as bertpipe

REPO_ROOT = Path(__file__).resolve().parent.parent
# What the libraries print that a default run must not show.
NOISE_MARKERS = (
    "cuFFT",
    "cuDNN",
    "oneDNN",
    "absl",
    "ArtifactQuery",
    "Tables initialized",
    "snappy",
    "FutureWarning",
    "RuntimeWarning",
    "WARNING:tensorflow",
    "TensorFlow and JAX classes are deprecated",
    "All model checkpoint layers",
    "Traceback",
)


@pytest.fixture(autouse=True)
def _console_environment(monkeypatch):
    """`main` sets the log-level variables of the process (console.configure): restore them."""
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)


def one_line_error(capsys, command: str) -> str:
    """The one stderr line of a user error (its message), after checking its form."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bertpipe {command}: "), err
    return lines[0]


# -- quick: settings and pre-flight -----------------------------------------------------------------
def test_a_bad_setting_is_one_line_naming_the_flag_and_debug_shows_the_traceback(tmp_path, capsys):
    output = tmp_path / "run"
    assert bertpipe(["run", "--learning-rate", "-1", "--output", str(output)]) == 2
    line = one_line_error(capsys, "run")
    assert line == "bertpipe run: --learning-rate must be above 0, got -1.0"
    for argv in (["run", "--dropout", "1.5", "--debug"], ["--debug", "run", "--dropout", "1.5"]):
        assert bertpipe(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "ConfigError" in err
        assert err.strip().splitlines()[-1] == "bertpipe run: --dropout must be in [0, 1), got 1.5"
    assert not output.exists()


def test_a_missing_data_path_fails_before_the_run_folder_exists(tmp_path, capsys):
    output = tmp_path / "run"
    missing = tmp_path / "reviews.csv"
    assert bertpipe(["run", "--data", str(missing), "--output", str(output)]) == 2
    line = one_line_error(capsys, "run")
    assert f"input path {missing} does not exist" in line
    assert not output.exists()
    spans = str(tmp_path / "span-{SPAN}" / "train.csv")
    assert bertpipe(["run", "--data", spans, "--output", str(output)]) == 2
    assert "no span of" in one_line_error(capsys, "run")
    assert not output.exists()


def test_a_missing_column_names_the_flag(tiny_checkpoint, tmp_path, capsys):
    output = tmp_path / "run"
    args = ["run", "--checkpoint", str(tiny_checkpoint), "--output", str(output)]
    assert bertpipe([*args, "--text-column", "review"]) == 2
    line = one_line_error(capsys, "run")
    assert "no text column 'review'" in line and "--text-column" in line
    assert "data.text_column" not in line
    assert not output.exists()


def test_the_checkpoint_is_checked_before_the_run(tiny_checkpoint, tmp_path, capsys):
    output = tmp_path / "run"
    gpt2 = tmp_path / "gpt2"
    shutil.copytree(tiny_checkpoint, gpt2)
    settings = json.loads((gpt2 / "config.json").read_text())
    (gpt2 / "config.json").write_text(json.dumps({**settings, "model_type": "gpt2"}))
    no_vocab = tmp_path / "no_vocab"
    shutil.copytree(tiny_checkpoint, no_vocab)
    (no_vocab / "vocab.txt").unlink()
    cases = [
        (["--checkpoint", str(tmp_path / "nothing")], "is not a folder"),
        (
            ["--checkpoint", str(gpt2)],
            f"{gpt2}/config.json says model_type 'gpt2': expected a BERT-architecture checkpoint"
            " (model_type 'bert'",
        ),
        (["--checkpoint", str(no_vocab)], "lacks vocab.txt"),
        (
            ["--checkpoint", str(tiny_checkpoint), "--max-seq-length", "600"],
            "--max-seq-length 600 is longer than the checkpoint",
        ),
    ]
    for flags, message in cases:
        assert bertpipe(["run", *flags, "--output", str(output)]) == 2
        assert message in one_line_error(capsys, "run")
    assert not output.exists()


def _default_safetensors(folder: Path, size: int | None = None) -> None:
    """Puts the default checkpoint's model.safetensors (hidden size 384) in place of the tiny
    checkpoint's tf_model.h5: its first `size` bytes (a copy cut short), or a link to all of it."""
    (folder / "tf_model.h5").unlink()
    source = Path(default_checkpoint_dir()) / "model.safetensors"
    if size is None:
        (folder / "model.safetensors").symlink_to(source)
    else:
        with open(source, "rb") as handle:
            (folder / "model.safetensors").write_bytes(handle.read(size))


def _set_config(folder: Path, **changes) -> None:
    settings = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**settings, **changes}))


def _pytorch_only(folder: Path) -> str:
    (folder / "tf_model.h5").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"a pickle, never opened")
    return (
        f"checkpoint '{folder}' has only PyTorch weights (pytorch_model.bin), which this project"
        " cannot load: that needs torch, which it does not install, and a pickle file runs code"
        " when loaded; convert it to model.safetensors on a machine with torch"
    )


def _safetensors_cut_in_its_header(folder: Path) -> str:
    _default_safetensors(folder, 5000)
    return (
        f"{folder}/model.safetensors is cut short: its header alone would need 11408 bytes after"
        " the first 8, the file has 5000 bytes in all; copy or download it again"
    )


def _safetensors_cut_in_its_tensors(folder: Path) -> str:
    _default_safetensors(folder, 20000)
    return (
        f"{folder}/model.safetensors is cut short: its header places tensors up to byte 90856960"
        " after the header, the file holds 8584"
    )


def _safetensors_of_another_model(folder: Path) -> str:
    _default_safetensors(folder)
    return (
        f"{folder}/model.safetensors: tensor 'embeddings.word_embeddings.weight' has shape"
        " [30522, 384], expected [30522, 32] (vocab_size 30522, hidden_size 32 in config.json)"
    )


def _h5_with_a_wrong_shape(folder: Path) -> str:
    import h5py

    name = "bert/tf_bert_model/bert/encoder/layer_._1/intermediate/dense/kernel:0"
    with h5py.File(folder / "tf_model.h5", "r+") as weights:
        del weights[name]
        weights.create_dataset(name, shape=(32, 48), dtype="float32")
    return (
        f"{folder}/tf_model.h5: tensor '{name}' has shape [32, 48], expected [32, 64]"
        " (hidden_size 32, intermediate_size 64 in config.json)"
    )


def _h5_cut_short(folder: Path) -> str:
    with open(folder / "tf_model.h5", "r+b") as weights:
        weights.truncate(5000)
    return f"{folder}/tf_model.h5 cannot be opened as HDF5 ("


def _fewer_layers_in_the_config(folder: Path) -> str:
    _set_config(folder, num_hidden_layers=1)
    return f"{folder}/tf_model.h5 holds 2 encoder layers, config.json says num_hidden_layers 1"


def _vocab_longer_than_vocab_size(folder: Path) -> str:
    with open(folder / "vocab.txt", "a", encoding="utf-8") as vocab:
        vocab.write("zzzextra1\nzzzextra2\n")
    return (
        f"{folder}/vocab.txt has 30524 tokens, config.json says vocab_size 30522: the ids from"
        " 30522 up would fall outside the model's word embeddings"
    )


def _vocab_without_sep(folder: Path) -> str:
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab[vocab.index("[SEP]")] = "[unused999]"
    (folder / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    return (
        f"{folder}/vocab.txt lacks the special token(s) [SEP]: a BERT vocabulary needs"
        " [CLS], [SEP], [PAD], [UNK]"
    )


def _vocab_with_a_token_twice(folder: Path) -> str:
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab[2000] = vocab[1999]
    (folder / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    return f"{folder}/vocab.txt line 2001 repeats the token {vocab[1999]!r} of line 2000"


@pytest.mark.parametrize(
    "breaks",
    [
        _pytorch_only,
        _safetensors_cut_in_its_header,
        _safetensors_cut_in_its_tensors,
        _safetensors_of_another_model,
        _h5_with_a_wrong_shape,
        _h5_cut_short,
        _fewer_layers_in_the_config,
        _vocab_longer_than_vocab_size,
        _vocab_without_sep,
        _vocab_with_a_token_twice,
    ],
)
def test_a_broken_checkpoint_stops_the_run_before_any_component(
    breaks, tiny_checkpoint, tmp_path, capsys
):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    message = breaks(folder)
    output = tmp_path / "run"
    args = ["run", "--checkpoint", str(folder), "--train-steps", "1", "--output", str(output)]
    assert bertpipe(args) == 2
    assert one_line_error(capsys, "run").startswith(f"bertpipe run: {message}")
    assert not output.exists()  # the run folder, which the first component would need


def test_a_missing_schema_is_named(tiny_checkpoint, tmp_path, capsys):
    args = ["run", "--checkpoint", str(tiny_checkpoint), "--output", str(tmp_path / "run")]
    assert bertpipe([*args, "--schema", str(tmp_path / "schema.pbtxt")]) == 2
    assert "(--schema) not found" in one_line_error(capsys, "run")
    (tmp_path / "bad.pbtxt").write_text("feature { nme: 'text' }\n")
    assert bertpipe([*args, "--schema", str(tmp_path / "bad.pbtxt")]) == 2
    assert "is not a TFMD schema in text format" in one_line_error(capsys, "run")


def test_compile_checks_local_paths_only_and_takes_only_its_flags(tmp_path, capsys):
    package = str(tmp_path / "p.yaml")
    missing = str(tmp_path / "bert")
    assert bertpipe(["compile", "--checkpoint", missing, "--package", package]) == 2
    assert f"checkpoint {missing!r} is not a folder" in one_line_error(capsys, "compile")
    assert not Path(package).exists()
    # A gs:// checkpoint is a run-time parameter that the cluster reads: not checked here.
    assert bertpipe(["compile", "--checkpoint", "gs://models/bert", "--package", package]) == 0
    assert Path(package).is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        bertpipe(["compile", "--output", "build/x.yaml"])
    assert exit_.value.code == 2
    assert (
        "bertpipe compile: error: --output is not used by compile: the package goes to --package"
        in capsys.readouterr().err
    )


def test_predict_refuses_an_empty_text_and_a_missing_model(tmp_path, capsys):
    model = str(tmp_path / "serving")
    assert bertpipe(["predict", "--model", model, "a good film", " "]) == 2
    assert one_line_error(capsys, "predict") == (
        "bertpipe predict: text 2 of 2 is empty: expected a sentence to classify (training"
        " rejects empty texts too)"
    )
    assert bertpipe(["predict", "--model", model, "a good film"]) == 2
    assert f"no SavedModel at {model!r}" in one_line_error(capsys, "predict")


def test_predict_pairs_are_checked_before_the_model_is_read(tmp_path, capsys):
    model = str(tmp_path / "serving")
    assert bertpipe(["predict", "--model", model, "a", "--pair", "b", "c"]) == 2
    assert one_line_error(capsys, "predict") == (
        "bertpipe predict: give texts or --pair TEXT TEXT_PAIR, not both"
    )
    assert bertpipe(["predict", "--model", model, "--pair", "a", "b", "--pair", "c", ""]) == 2
    assert one_line_error(capsys, "predict") == (
        "bertpipe predict: the second text of pair 2 of 2 is empty: expected a sentence to"
        " classify (training rejects empty texts too)"
    )
    assert bertpipe(["predict", "--model", model, "--pair", "a", "b"]) == 2
    assert f"no SavedModel at {model!r}" in one_line_error(capsys, "predict")


@pytest.mark.realdata
def test_mrpc_without_its_second_text_column_is_named_before_the_run(shared_data, tmp_path, capsys):
    output = tmp_path / "run"
    columns = ["--text-column", "#1 String", "--label-column", "Quality"]
    args = ["run", "--data", str(shared_data / "mrpc"), *columns, "--output", str(output)]
    assert bertpipe(args) == 2
    line = one_line_error(capsys, "run")
    assert "schemas/mrpc/schema.pbtxt has a 'text_pair' feature" in line
    assert line.endswith("set --text-pair-column to the second text's column")
    assert bertpipe([*args, "--text-pair-column", "#3 String"]) == 2
    assert "no text_pair column '#3 String'" in one_line_error(capsys, "run")
    assert not output.exists()


def test_explain_names_a_folder_that_holds_no_evaluation(tmp_path, capsys):
    assert bertpipe(["explain", "--evaluation", str(tmp_path)]) == 2
    assert f"no Evaluator output at {str(tmp_path)!r}" in one_line_error(capsys, "explain")


def test_run_package_exits_1_for_a_package_that_cannot_run_and_2_for_a_bad_one(tmp_path, capsys):
    """A LocalRunError (a task failed, or the package cannot run here) exits 1; a package or
    parameters that cannot be used exit 2; either is one line."""
    documents = list(yaml.safe_load_all((REPO_ROOT / "build" / "pipeline.yaml").read_text()))
    container = documents[0]["deploymentSpec"]["executors"]["Pusher_executor"]["container"]
    container["args"] = [arg for arg in container["args"] if arg != "{{$}}"]
    package = tmp_path / "no_executor_input.yaml"
    package.write_text(yaml.safe_dump_all(documents))
    flags = ["--param", f"push_dir={tmp_path / 'serving'}", "--pipeline-root", str(tmp_path)]
    assert bertpipe(["run-package", str(package), *flags]) == 1
    assert one_line_error(capsys, "run-package") == (
        "bertpipe run-package: executor Pusher_executor has no {{$}} (ExecutorInput) argument:"
        " run-package runs packages compiled by TFX's KubeflowV2DagRunner"
    )
    assert bertpipe(["run-package", str(tmp_path / "nothing.yaml"), *flags]) == 2
    assert one_line_error(capsys, "run-package") == (
        f"bertpipe run-package: pipeline package {tmp_path / 'nothing.yaml'} does not exist;"
        " compile the pipeline first"
    )
    assert bertpipe(["run-package", str(package), "--param", "push_dir", *flags[2:]]) == 2
    assert "parameter 'push_dir' must be name=value" in one_line_error(capsys, "run-package")


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    def broken(config):
        return {}["checkpoint"]  # what a bug in a pre-flight check would raise

    monkeypatch.setattr(preflight, "check_run", broken)
    with pytest.raises(KeyError, match="checkpoint"):
        bertpipe(["run", "--output", str(tmp_path / "run")])


# -- through the pipeline, in a bertpipe process ---------------------------------------------------
def run_bertpipe(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY"):
        env.pop(name, None)  # the command's own defaults, as a user gets them
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def tiny_run_flags(tiny_checkpoint, tmp_path_factory) -> list[str]:
    output = tmp_path_factory.mktemp("cli_run")
    return [
        "--checkpoint", str(tiny_checkpoint),
        "--max-seq-length", "32",
        "--train-steps", "4",
        "--batch-size", "8",
        "--checkpoint-every", "2",
        "--min-accuracy", "0",
        "--majority-margin", "-1",
        "--no-warm-start",
        "--output", str(output),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def quiet_run(tiny_run_flags) -> subprocess.CompletedProcess:
    return run_bertpipe("run", *tiny_run_flags)


@pytest.mark.slow
def test_a_default_run_prints_progress_training_and_summary_only(quiet_run):
    assert quiet_run.returncode == 0, quiet_run.stderr[-3000:]
    # Lines as a terminal shows them (the progress bar redraws its line with \r).
    lines = (quiet_run.stdout + quiet_run.stderr).rstrip("\n").split("\n")
    # 14 components x 2 progress lines, 13 from the Trainer (its progress bars included), a
    # 14-line summary, the report: 56 in all (against about 100 before the console was quieted).
    assert len(lines) <= 56, "\n".join(lines)
    assert quiet_run.stderr == ""
    for marker in NOISE_MARKERS:
        assert not [line for line in lines if marker in line], marker
    assert "Trainer finished in" in quiet_run.stdout and "Training 4 steps" in quiet_run.stdout
    assert re.search(r"4/4 \[=+\]", quiet_run.stdout)  # the progress bar
    assert quiet_run.stdout.strip().splitlines()[-1].startswith("report: ")


@pytest.mark.slow
def test_verbose_shows_every_library_log(quiet_run, tiny_run_flags):
    assert quiet_run.returncode == 0
    verbose = run_bertpipe("run", *tiny_run_flags, "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "INFO:absl:" in verbose.stderr
    assert len(verbose.stderr.split("\n")) > 3 * len(quiet_run.stdout.split("\n"))


@pytest.mark.slow
def test_a_component_s_user_error_reaches_the_cli_as_one_line(quiet_run, tiny_run_flags, tmp_path):
    assert quiet_run.returncode == 0
    # The Trainer (BeamDagRunner; the rest of the run is cached): no TPU here.
    tpu = run_bertpipe("run", *tiny_run_flags, "--runner", "beam", "--strategy", "tpu")
    assert tpu.returncode == 2, tpu.stderr[-3000:]
    assert tpu.stderr.startswith("bertpipe run: strategy 'tpu' needs a TPU and found none")
    assert len(tpu.stderr.splitlines()) == 1

    # The validation gate: the sample's labels are not the SMS schema's ham and spam.
    sms_schema = str(REPO_ROOT / "schemas" / "sms_spam")
    anomaly = run_bertpipe("run", *tiny_run_flags, "--schema", sms_schema)
    assert anomaly.returncode == 2, anomaly.stderr[-3000:]
    # The gate's message has a line per anomaly under its first line; no traceback, no noise.
    assert anomaly.stderr.startswith(
        "bertpipe run: the data does not match the schema; stopping before Transform and Trainer:"
    )
    assert "feature 'label'" in anomaly.stderr and "positive" in anomaly.stderr
    assert not [marker for marker in NOISE_MARKERS if marker in anomaly.stderr]

    # ExampleGen: 1 row in 10 has no label, above --max-rejected-fraction.
    data = tmp_path / "reviews.csv"
    rows = [f"review {i} was fine,{'' if i % 10 == 0 else 'positive'}" for i in range(100)]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    rejected = run_bertpipe("run", *tiny_run_flags, "--data", str(data))
    assert rejected.returncode == 2, rejected.stderr[-3000:]
    assert rejected.stderr.startswith("bertpipe run: ") and "--max-rejected-fraction" in (
        rejected.stderr
    )
    assert "data.max_rejected_fraction" not in rejected.stderr
    assert not [marker for marker in NOISE_MARKERS if marker in rejected.stderr]


@pytest.mark.slow
def test_predict_says_which_texts_were_cut(quiet_run, tiny_run_flags, capsys):
    assert quiet_run.returncode == 0
    serving = str(Path(tiny_run_flags[tiny_run_flags.index("--output") + 1]) / "serving")
    long_text = " ".join(["a wonderful film"] * 20)  # 60 words, more than 32 tokens
    assert bertpipe(["predict", "--model", serving, "a good film", long_text]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err == (
        "note: text 2 of 2 was cut to the model's 32 tokens (max_seq_length, [CLS] and [SEP]"
        " included); the rest was not read\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        "run",
        "compile",
        "submit",
        "schedule",
        "run-package",
        "explain",
        "history",
        "infer-schema",
        "predict",
    ],
)
def test_every_command_prints_its_help(command, capsys):
    """Every setting's help reaches the user (a literal "95%" once broke `run --help`)."""
    with pytest.raises(SystemExit) as stopped:
        bertpipe([command, "--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bertpipe {command}")
    if command in ("run", "compile"):
        assert "the lower end of its 95% interval" in " ".join(out.split())
