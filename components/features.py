"""The names of the Transform's output: the contract between Transform, Trainer, export and TFMA."""

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
MODEL_INPUT_KEYS = (INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS)
TRUNCATED = "truncated"
LENGTH_BUCKET = "length_bucket"
LABEL_ID = "label_id"
OUTPUT_KEYS = (*MODEL_INPUT_KEYS, TRUNCATED, LENGTH_BUCKET, LABEL_ID)
# The Transform's label vocabulary asset (label id -> label string).
LABEL_VOCAB_NAME = "label_vocab"
