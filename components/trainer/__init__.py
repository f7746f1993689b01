"""The Trainer: fine-tunes a pretrained BERT with a classification head and exports it.

component.py (the TFX component) and executor.py; module.py (`run_fn`: strategy, data, training,
evaluation, export); data.py (tf.data input); callbacks.py (resumable backups, training history);
model.py (the Keras classifier, optimizer); strategy.py (tf.distribute strategy and precision);
export.py (the serving SavedModel, warm starts from one).
"""
