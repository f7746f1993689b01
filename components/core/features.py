"""Feature and vocabulary names: the contract between ExampleGen, Transform, Trainer, export and
TFMA. Every other module takes these names from here.

Raw features (tf.Examples written by the text ExampleGen; one bytes value each):
    TEXT_FEATURE, LABEL_FEATURE
    TEXT_PAIR_FEATURE   the second text of a sentence-pair task (data.text_pair_column set);
                        a model trained with it classifies pairs
Inference examples (the text ExampleGen in inference mode, for batch scoring; components/core/
scoring.py) have LABEL_FEATURE only where the row has a label, and also:
    SOURCE_FILE_FEATURE                         bytes, the file the row was read from
    SOURCE_LINE_FEATURE                         int64, the 1-based line where the row starts
Transformed features (written by the Transform):
    INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS   int64 [max_seq_length], what the model reads
                                                (a pair: [CLS] text [SEP] text_pair [SEP],
                                                token type 0 then 1)
    TRUNCATED                                   int64, 1 when a word piece of either text was cut
    WORD_PIECES                                 int64, word pieces of the text (of both texts,
                                                for a pair), before the cut ([CLS] and [SEP]
                                                not counted)
    UNKNOWN_PIECES                              int64, how many of those are [UNK]
    LENGTH_BUCKET                               string, token-count bucket (for TFMA slices)
    LABEL_ID                                    int64, index in the LABEL_VOCAB_NAME vocabulary
"""

TEXT_FEATURE = "text"
TEXT_PAIR_FEATURE = "text_pair"
LABEL_FEATURE = "label"
SOURCE_FILE_FEATURE = "source_file"
SOURCE_LINE_FEATURE = "source_line"

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"
MODEL_INPUT_KEYS = (INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS)
TRUNCATED = "truncated"
# Derived from the tokenizer for the drift check between spans (components/drift/); the Trainer,
# its export and TFMA do not read them.
WORD_PIECES = "word_pieces"
UNKNOWN_PIECES = "unknown_pieces"
LENGTH_BUCKET = "length_bucket"
LABEL_ID = "label_id"
TRANSFORMED_KEYS = (
    *MODEL_INPUT_KEYS,
    TRUNCATED,
    WORD_PIECES,
    UNKNOWN_PIECES,
    LENGTH_BUCKET,
    LABEL_ID,
)
# The Transform's label vocabulary asset (label id -> label string).
LABEL_VOCAB_NAME = "label_vocab"
