"""The model in production as TFX's BulkInferrer can run it.

BulkInferrer runs a SavedModel's signature in a TF1 session through tfx_bsl's RunInference,
whose predict handler turns each output row into a TensorProto by its numpy dtype; a string
output (our `label`) reaches it as Python bytes and fails (`'bytes' object has no attribute
'dtype'`, tfx_bsl 1.16.1). `write_bulk_inference_model` therefore saves a view of an exported
model whose `serving_examples` signature has only the numeric outputs, `label_id` and
`probabilities`, computed by the exported model's own signature (the same graph, tokenizer and
weights), and whose `class_labels()` is the model's. It works for every model this pipeline
exported, whichever version is in production.
"""

from __future__ import annotations

import logging

import tensorflow as tf

from components.core.features import LABEL_ID
from components.core.serving import (
    EXAMPLES_INPUT,
    OUTPUT_PROBABILITIES,
    SERVING_EXAMPLES,
    class_labels,
    load_classifier,
)

log = logging.getLogger(__name__)


def write_bulk_inference_model(source: str, export_dir: str) -> list[str]:
    """Saves the BulkInferrer view of the model at `source` into `export_dir` (see the module
    docstring); returns the model's class labels. Raises ModelNotFoundError when `source` holds no
    model this pipeline exported."""
    module = tf.Module()
    module.model = load_classifier(source)

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)], autograph=False
    )
    def serve_examples(examples):
        outputs = module.model.signatures[SERVING_EXAMPLES](**{EXAMPLES_INPUT: examples})
        return {LABEL_ID: outputs[LABEL_ID], OUTPUT_PROBABILITIES: outputs[OUTPUT_PROBABILITIES]}

    @tf.function(input_signature=[], autograph=False)
    def labels_by_id():
        return module.model.class_labels()

    module.serve_examples = serve_examples
    module.class_labels = labels_by_id
    signatures = {SERVING_EXAMPLES: serve_examples.get_concrete_function()}
    tf.saved_model.save(module, export_dir, signatures=signatures)
    labels = class_labels(module.model)
    log.info("BulkInferrer's view of %s (classes %s) in %s", source, labels, export_dir)
    return labels
