"""Giving a built Keras model's layers of one class another class, in place.

The Trainer's encoder is transformers' TFBertModel, built (and loaded) by transformers. Its Keras
Dropout, Dense and LayerNormalization layers are made the project's subclasses (dropout.py,
dense.py, layer_norm.py) by changing each layer's class: the layers keep their weights, names and
configuration, and only the code that computes them changes.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


def swap_class(
    layer: tf.keras.layers.Layer,
    original: type,
    replacement: type,
    check: Callable[[tf.keras.layers.Layer], None] | None = None,
) -> None:
    """Makes every layer inside `layer` whose class is exactly `original` a `replacement` (a
    subclass of it), after `check` (which raises for a layer the replacement cannot compute).
    Call it before the model first runs."""
    for sublayer in layer.submodules:
        if type(sublayer) is original:
            if check is not None:
                check(sublayer)
            sublayer.__class__ = replacement
