"""The checkpoint check (components/core/checkpoint.py, weights.py) passes sound checkpoints and
matches tensor names loosely, shapes strictly. The broken checkpoints, each one line through
`bertpipe run`, are in test_cli.py; the Trainer's own check is in test_trainer.py."""

import json
import shutil

import pytest

from components.core.checkpoint import check_checkpoint, default_checkpoint_dir
from components.core.config import ModelConfig
from components.core.weights import WeightsError, canonical_name, check_encoder_shapes


def test_sound_checkpoints_pass(tiny_checkpoint, tmp_path):
    default = default_checkpoint_dir()  # safetensors with PyTorch names
    assert check_checkpoint(ModelConfig()) == default
    assert check_checkpoint(ModelConfig(checkpoint=str(tiny_checkpoint))) == str(tiny_checkpoint)
    # Fewer tokens than vocab_size: every id the tokenizer gives is below it.
    short = tmp_path / "short_vocab"
    shutil.copytree(tiny_checkpoint, short)
    vocab = (short / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (short / "vocab.txt").write_text("\n".join(vocab[:-100]) + "\n", encoding="utf-8")
    assert json.loads((short / "config.json").read_text())["vocab_size"] == len(vocab)
    assert check_checkpoint(ModelConfig(checkpoint=str(short))) == str(short)


@pytest.mark.parametrize(
    "name, canonical",
    [
        ("embeddings.word_embeddings.weight", ("embeddings.word_embeddings.weight", False)),
        (
            "bert.encoder.layer.11.attention.self.query.weight",
            ("encoder.layer.11.attention.self.query.weight", False),
        ),
        ("bert.embeddings.LayerNorm.gamma", ("embeddings.LayerNorm.weight", False)),
        (
            "bert/tf_bert_for_pre_training/bert/encoder/layer_._3/output/dense/kernel:0",
            ("encoder.layer.3.output.dense.weight", True),
        ),
        (
            "bert/embeddings/position_embeddings/embeddings:0",
            ("embeddings.position_embeddings.weight", False),
        ),
        ("bert/pooler/dense/bias:0", ("pooler.dense.bias", False)),
        ("cls.predictions.transform.dense.weight", None),
        ("mlm___cls/predictions/bias:0", None),
    ],
)
def test_tensor_names_match_with_any_prefix_and_separator(name, canonical):
    assert canonical_name(name) == canonical


def test_a_tf_kernel_is_the_transposed_pytorch_weight():
    sizes = {
        "vocab_size": 10, "hidden_size": 4, "num_hidden_layers": 1, "intermediate_size": 6,
        "max_position_embeddings": 8, "type_vocab_size": 2,
    }  # fmt: skip
    prefix = "bert/encoder/layer_._0"
    shapes = {
        "bert/embeddings/word_embeddings/weight:0": (10, 4),
        "bert/embeddings/position_embeddings/embeddings:0": (8, 4),
        "bert/embeddings/token_type_embeddings/embeddings:0": (2, 4),
        "bert/embeddings/LayerNorm/gamma:0": (4,),
        "bert/embeddings/LayerNorm/beta:0": (4,),
        **{f"{prefix}/attention/self/{n}/kernel:0": (4, 4) for n in ("query", "key", "value")},
        **{f"{prefix}/attention/self/{n}/bias:0": (4,) for n in ("query", "key", "value")},
        f"{prefix}/attention/output/dense/kernel:0": (4, 4),
        f"{prefix}/attention/output/dense/bias:0": (4,),
        f"{prefix}/attention/output/LayerNorm/gamma:0": (4,),
        f"{prefix}/attention/output/LayerNorm/beta:0": (4,),
        f"{prefix}/intermediate/dense/kernel:0": (4, 6),
        f"{prefix}/intermediate/dense/bias:0": (6,),
        f"{prefix}/output/dense/kernel:0": (6, 4),
        f"{prefix}/output/dense/bias:0": (4,),
        f"{prefix}/output/LayerNorm/gamma:0": (4,),
        f"{prefix}/output/LayerNorm/beta:0": (4,),
    }
    check_encoder_shapes(shapes, sizes, "tf_model.h5")  # no pooler: optional
    shapes[f"{prefix}/intermediate/dense/kernel:0"] = (6, 4)  # the PyTorch layout in a TF file
    with pytest.raises(WeightsError, match=r"has shape \[6, 4\], expected \[4, 6\]"):
        check_encoder_shapes(shapes, sizes, "tf_model.h5")
    del shapes[f"{prefix}/intermediate/dense/kernel:0"]
    with pytest.raises(WeightsError, match="lacks 1 of the BERT encoder's tensors, e.g."):
        check_encoder_shapes(shapes, sizes, "tf_model.h5")
