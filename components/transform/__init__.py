"""The tokenization Transform: tensorflow-text WordPiece from the checkpoint's vocabulary, in the
graph, and the label vocabulary.

component.py (the TFX component) and executor.py; preprocessing.py (`preprocessing_fn`, the label
vocabulary analyzer); tokenizer.py (the in-graph BERT tokenizer, parity with Hugging Face).
"""
