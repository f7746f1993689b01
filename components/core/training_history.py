"""What the Trainer records of a training, typed: the history.json of its model_run output.

The Trainer (components/trainer/) writes it; the run report (components/report/) reads it back
with `components.core.artifacts.read_training_history`. The file's keys:

    steps             one record per training step (per execution when steps_per_execution > 1,
                      named by its last step): step, loss, accuracy, learning_rate
    resumed_at        the steps a killed training was resumed after
    eval              the Trainer's own evaluation: loss, accuracy (both absent when the eval split
                      is empty), examples, batches
    labels            class names by label id
    train_steps, batch_size, strategy, replicas, precision, precision_reason, jit_compile,
    trim_padding, train_seconds, warm_start (the model warm-started from, "" for none), config

`precision_reason`, `trim_padding` and `warm_start` are absent in a history written before the
Trainer recorded them (None here). `config` is the run's `Config.to_dict()` as the Trainer wrote
it, kept as a dict so that a history written under older settings still reads.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


class TrainingHistoryError(ValueError):
    """A history.json that lacks a key every history has, or holds one this reader does not know."""


def _check_keys(values: dict[str, Any], known: set[str], required: set[str], where: str) -> None:
    missing, unknown = sorted(required - set(values)), sorted(set(values) - known)
    problems = ([f"missing {missing}"] if missing else []) + (
        [f"unknown {unknown}"] if unknown else []
    )
    if problems:
        raise TrainingHistoryError(
            f"{where}: {'; '.join(problems)}; expected the keys {sorted(known)}"
        )


def _without_none(values: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    """`values` without the optional keys that are None (the file leaves them out)."""
    return {k: v for k, v in values.items() if not (k in optional and v is None)}


@dataclass(frozen=True)
class TrainingStep:
    """The training curve at one step: the step's own loss and accuracy (not running means)."""

    step: int
    loss: float
    accuracy: float | None  # None: Keras logged no accuracy
    learning_rate: float

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "training step") -> TrainingStep:
        _check_keys(values, {f.name for f in fields(cls)}, {"step", "loss", "learning_rate"}, where)
        return cls(**{"accuracy": None, **values})

    def to_dict(self) -> dict[str, Any]:
        values = {
            "step": self.step,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "learning_rate": self.learning_rate,
        }
        return _without_none(values, ("accuracy",))


@dataclass(frozen=True)
class TrainerEvaluation:
    """The Trainer's quick evaluation on the first batches of the eval split."""

    examples: int
    batches: int
    loss: float | None = None  # None: the eval split was empty, nothing was evaluated
    accuracy: float | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "eval") -> TrainerEvaluation:
        _check_keys(values, {f.name for f in fields(cls)}, {"examples", "batches"}, where)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "examples": self.examples,
            "batches": self.batches,
        }
        return _without_none(values, ("loss", "accuracy"))


# history.json keys that are not TrainingHistory field names.
_FILE_KEYS = {"evaluation": "eval"}
_OPTIONAL = ("precision_reason", "trim_padding", "warm_start")
# The settings read from `config` (the properties below), checked when a history is read.
_CONFIG_READ = (("model", "checkpoint"), ("model", "max_seq_length"), ("train", "learning_rate"))


@dataclass(frozen=True)
class TrainingHistory:
    """One training, as the Trainer recorded it (see the module docstring)."""

    steps: list[TrainingStep]
    resumed_at: list[int]
    evaluation: TrainerEvaluation
    labels: list[str]
    train_steps: int
    batch_size: int
    strategy: str
    replicas: int
    precision: str
    jit_compile: bool
    train_seconds: float
    config: dict[str, Any]
    precision_reason: str | None = None
    trim_padding: bool | None = None
    warm_start: str | None = None  # "": trained from the pretrained checkpoint

    @property
    def checkpoint(self) -> str:
        """The pretrained checkpoint setting ("" for the default one)."""
        return self.config["model"]["checkpoint"]

    @property
    def max_seq_length(self) -> int:
        return self.config["model"]["max_seq_length"]

    @property
    def learning_rate(self) -> float:
        return self.config["train"]["learning_rate"]

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "history.json") -> TrainingHistory:
        """The history in `values` (a parsed history.json); `where` names it in errors."""
        keys = {_FILE_KEYS.get(f.name, f.name): f.name for f in fields(cls)}
        _check_keys(values, set(keys), set(keys) - set(_OPTIONAL), where)
        found = {keys[key]: value for key, value in values.items()}
        for section, name in _CONFIG_READ:
            if name not in found["config"].get(section, {}):
                raise TrainingHistoryError(f"{where}: config.{section} lacks {name!r}")
        found["steps"] = [
            TrainingStep.from_dict(step, f"{where}: steps[{i}]")
            for i, step in enumerate(found["steps"])
        ]
        found["evaluation"] = TrainerEvaluation.from_dict(found["evaluation"], f"{where}: eval")
        return cls(**found)

    def to_dict(self) -> dict[str, Any]:
        """The history.json form (the keys in the order the Trainer has always written them)."""
        values = {
            "steps": [step.to_dict() for step in self.steps],
            "resumed_at": list(self.resumed_at),
            "eval": self.evaluation.to_dict(),
            "labels": list(self.labels),
            "train_steps": self.train_steps,
            "batch_size": self.batch_size,
            "strategy": self.strategy,
            "replicas": self.replicas,
            "precision": self.precision,
            "precision_reason": self.precision_reason,
            "jit_compile": self.jit_compile,
            "trim_padding": self.trim_padding,
            "train_seconds": self.train_seconds,
            "warm_start": self.warm_start,
            "config": self.config,
        }
        return _without_none(values, _OPTIONAL)
