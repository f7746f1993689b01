"""Shared fixtures: a tiny BERT checkpoint built offline, and the paths of the real datasets."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SST2_DIR = SHARED_DATA / "sst2"
SMS_SPAM_FILE = SHARED_DATA / "sms_spam" / "SMSSpamCollection"
# How the SMS Spam Collection is read: no header, tab separated, label first.
SMS_SPAM_SETTINGS = {
    "data": str(SMS_SPAM_FILE),
    "format": "tsv",
    "header": "no",
    "label_column": "0",
    "text_column": "1",
}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"the real datasets are expected at {SHARED_DATA} (../shared/data beside the repo)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny, randomly initialised BERT in Hugging Face format (config.json, weights, vocab.txt).

    It reuses the real vocabulary of the default checkpoint, so tokenization is realistic, and is
    written with `save_pretrained` exactly as a downloaded checkpoint would be laid out.
    """
    import shutil

    from transformers import BertConfig, TFBertModel

    from components.checkpoint import default_checkpoint_dir

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
    model = TFBertModel(config)
    model(model.dummy_inputs)
    model.save_pretrained(folder)
    return folder
