"""bertpipe: a TFX pipeline that fine-tunes a pretrained BERT for text classification."""

import os

# transformers' TF classes and TFX 1.16 need Keras 2 (tf-keras); this must be set before TensorFlow
# is first imported. Nothing may reach a model hub at run time.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
