"""The report's plots, as PNG images by file name: the training curve and the confusion matrix.

report.md shows them as the files beside it, report.html embeds them (render.py).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from components.core.training_history import TrainingStep
from components.report.facts import RunFacts

TRAINING_CURVE = "training_curve.png"
CONFUSION_MATRIX = "confusion_matrix.png"


def confusion_grid(facts: RunFacts) -> tuple[list[int], np.ndarray]:
    """The class ids of the confusion matrix (every label, and any other id it holds) and its
    counts, rows actual and columns predicted, in that order."""
    ids = sorted(
        set(range(len(facts.labels)))
        | {a for a, _, _ in facts.evaluation.confusion}
        | {p for _, p, _ in facts.evaluation.confusion}
    )
    index = {c: i for i, c in enumerate(ids)}
    grid = np.zeros((len(ids), len(ids)))
    for actual, predicted, count in facts.evaluation.confusion:
        grid[index[actual], index[predicted]] += count
    return ids, grid


def plots(facts: RunFacts) -> dict[str, bytes]:
    """The plots the facts allow: a training curve when the Trainer recorded steps, a confusion
    matrix when the evaluation has one."""
    images = {}
    if facts.training and facts.training.steps:
        images[TRAINING_CURVE] = _training_curve(facts.training.steps)
    if facts.evaluation.confusion:
        images[CONFUSION_MATRIX] = _confusion_matrix(facts)
    return images


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _training_curve(steps: list[TrainingStep]) -> bytes:
    figure = Figure(figsize=(6, 3.5))
    ax = figure.subplots()
    ax.plot([s.step for s in steps], [s.loss for s in steps], label="training loss")
    if steps[0].accuracy is not None:
        ax.plot([s.step for s in steps], [s.accuracy for s in steps], label="training accuracy")
    ax.set_xlabel("step")
    ax.legend()
    ax.set_title("Training curve")
    return _png(figure)


def _confusion_matrix(facts: RunFacts) -> bytes:
    ids, grid = confusion_grid(facts)
    names = [facts.label(c) for c in ids]
    size = 2.5 + 0.6 * len(ids)
    figure = Figure(figsize=(size, size))
    ax = figure.subplots()
    ax.imshow(grid, cmap="Blues")
    for i in range(len(ids)):
        for j in range(len(ids)):
            dark = grid[i, j] > grid.max() / 2
            ax.text(
                j, i, f"{grid[i, j]:.0f}", ha="center", va="center",
                color="white" if dark else "black",
            )  # fmt: skip
    ax.set_xticks(range(len(ids)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(ids)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (eval)")
    return _png(figure)
