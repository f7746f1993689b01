"""Warm start: the Trainer starts from the weights of the model in production (tiny BERT)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from components.core import serving
from components.trainer import export
from components.trainer import module as trainer
from components.trainer.model import build_classifier

TEXTS = ["a lovely story", "it broke at once", "fine"]


pytestmark = pytest.mark.slow  # every test trains (run_fn) on a Beam-made Transform output


@pytest.fixture(scope="module")
def data(tiny_checkpoint, tmp_path_factory, synthetic_rows, tiny_length, make_transform_output):
    return make_transform_output(
        tmp_path_factory.mktemp("warm_transform"),
        str(tiny_checkpoint / "vocab.txt"),
        tiny_length,
        synthetic_rows(64, seed=3),
        synthetic_rows(16, seed=4),
    )


@pytest.fixture(scope="module")
def production(tiny_checkpoint, data, tmp_path_factory, make_fn_args, tiny_config) -> str:
    """A model trained a few steps and exported: what is in production."""
    config = tiny_config(tiny_checkpoint, train_steps=3)
    fn_args = make_fn_args(data, config, tmp_path_factory.mktemp("production"))
    trainer.run_fn(fn_args)
    return fn_args.serving_model_dir


def probabilities(model_dir: str) -> np.ndarray:
    return np.array([list(p.values()) for p in serving.predict_probabilities(model_dir, TEXTS)])


def weights(model_dir: str) -> list[np.ndarray]:
    """The classifier's weights in an exported serving model, in order."""
    return [v.numpy() for v in serving.load_serving_model(model_dir).model_variables]


def largest_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [x.shape for x in a] == [y.shape for y in b]
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


@pytest.fixture
def train_without_updates(tiny_checkpoint, data, make_fn_args, tiny_config):
    """train(root, base_model, warm_start): run_fn with learning rate 1e-30, given the production
    model as base; returns (serving model dir, history). No weight moves: every update is far
    below float32's resolution (a learning rate of 0 is refused as a setting)."""

    def train(root: Path, base_model: str, warm_start: bool):
        config = tiny_config(
            tiny_checkpoint, train_steps=2, learning_rate=1e-30, warm_start=warm_start
        )
        fn_args = make_fn_args(data, config, root)
        fn_args.base_model = base_model
        trainer.run_fn(fn_args)
        history = json.loads((Path(fn_args.model_run_dir) / "history.json").read_text())
        return fn_args.serving_model_dir, history

    return train


def test_training_starts_from_the_model_in_production(production, tmp_path, train_without_updates):
    warm, history = train_without_updates(tmp_path / "w", production, True)
    assert history["warm_start"] == production
    assert largest_difference(weights(warm), weights(production)) == 0.0
    np.testing.assert_allclose(probabilities(warm), probabilities(production), atol=1e-6)

    # Without warm start it starts from the checkpoint, which production has moved away from
    # (3 AdamW steps at 1e-3 move the weights by about 1e-3 each).
    cold, history = train_without_updates(tmp_path / "c", production, False)
    assert history["warm_start"] == ""
    assert largest_difference(weights(cold), weights(production)) > 1e-4


def test_no_model_in_production_trains_from_the_checkpoint(tmp_path, capsys, train_without_updates):
    empty = tmp_path / "baseline" / "Format-Serving"  # what ProductionBaseline leaves: nothing
    _, history = train_without_updates(tmp_path / "r", str(empty), True)
    assert history["warm_start"] == ""
    assert "No model in production: training from the pretrained checkpoint" in (
        capsys.readouterr().out
    )


def test_warm_start_refuses_other_classes_or_architectures(
    tiny_checkpoint, production, tiny_config
):
    from transformers import BertConfig

    config = tiny_config(tiny_checkpoint).model
    model = build_classifier(config, 2)
    labels = serving.class_labels(serving.load_serving_model(production))
    with pytest.raises(ValueError, match=r"classifies \[.*\], this data has \['ham', 'spam'\]"):
        export.load_serving_weights(model, production, ["ham", "spam"])
    with pytest.raises(ValueError, match="classifies"):  # the same classes, another order
        export.load_serving_weights(model, production, labels[::-1])

    wider = BertConfig.from_pretrained(str(tiny_checkpoint))
    wider.intermediate_size *= 2
    other = build_classifier(config, 2, bert_config=wider)
    with pytest.raises(ValueError, match=r"a different architecture \(variable .* is \("):
        export.load_serving_weights(other, production, labels)
