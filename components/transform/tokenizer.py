"""An in-graph BERT WordPiece tokenizer that reproduces Hugging Face `BertTokenizerFast` exactly.

`BertTokenizer(checkpoint_dir, max_seq_length).tokenize(texts)` turns a batch of raw UTF-8 strings
(a `tf.string` tensor of shape [batch]) into the model inputs of a BERT classifier::

    {"input_ids":      int64 [batch, max_seq_length]   [CLS] word pieces [SEP] [PAD]...
     "attention_mask": int64 [batch, max_seq_length]   1 on [CLS]..[SEP], 0 on padding
     "token_type_ids": int64 [batch, max_seq_length]   all 0 (single-sentence inputs)
     "truncated":      int64 [batch]                   1 when the text had more than
                                                       max_seq_length - 2 word pieces
     "word_pieces":    int64 [batch]                   word pieces of the text, before the cut
                                                       (of both texts, for a pair)
     "unknown_pieces": int64 [batch]                   how many of them are [UNK]}

`tokenize(texts, text_pairs)` packs sentence pairs as BERT was pre-trained on them:
`[CLS] a [SEP] b [SEP] [PAD]...`, token_type_ids 0 on `[CLS] a [SEP]` and 1 on `b [SEP]`, and
`truncated` is 1 when a word piece of either text was cut (see step 5 for how).

Everything is TensorFlow ops on the whole batch (no per-example Python), so the same object works
eagerly (benchmarks, notebooks), inside a `tf.function`, inside a tf.Transform `preprocessing_fn`
and inside a Keras serving signature. It is a `tf.Module`: the vocabulary lookup table (initialised
from the checkpoint's own `vocab.txt`, which therefore becomes a SavedModel asset) is tracked.

Parity with Hugging Face. The steps are those of the Rust `tokenizers` BERT pipeline that
`BertTokenizerFast.from_pretrained(folder)` runs, in the same order:

1. special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) written literally in the text are kept
   whole, un-normalised (HF's added-token matching happens before normalisation);
2. BertNormalizer: drop NUL, U+FFFD and control/format/private-use characters (\\t \\n \\r kept),
   turn whitespace into spaces; put spaces around CJK ideographs; strip accents (NFD, then drop
   non-spacing marks) when `strip_accents` is true or is unset and `lower_case` is true; lower-case
   character by character (no final-sigma rule);
3. BertPreTokenizer: split on whitespace and isolate every punctuation character (Unicode P* and
   the ASCII symbols);
4. WordPiece, greedy longest-match-first with the '##' continuation prefix; a word longer than
   100 characters, or one that cannot be covered by the vocabulary, becomes a single [UNK];
5. truncate to max_seq_length - 2 pieces, add [CLS] / [SEP], pad with [PAD]. A pair is cut to
   max_seq_length - 3 pieces with the Rust `tokenizers` "longest_first" rule
   (`truncate_encodings` in tokenizers/src/utils/truncation.rs, which `BertTokenizerFast(a, b,
   truncation="longest_first")` runs): with budget B, when the two texts hold more than B pieces
   together, the shorter one keeps its n pieces and the longer one B - n when that leaves the
   longer one at least n; otherwise the first text keeps B // 2 and the second B - B // 2 when
   the first is not longer, and the other way round when it is. (The slow Python tokenizer
   removes one piece at a time from the longer text instead, which differs when the two are
   cut to about the same length.) Each text is cut at its end.

The character classes of step 2 and 3 are written out from the Unicode tables that the
`tokenizers` library uses (see `_HF_*` below); this matters only for characters that are rare
or that Unicode assigned recently, and the test suite checks every code point against Hugging Face.

`tensorflow_text` must be imported in every process that loads a graph built with this tokenizer
(importing this module does it).
"""

from __future__ import annotations

import functools

import tensorflow as tf
import tensorflow_text as tf_text

# The op itself: tf_text.regex_split adds offsets and validates three ragged tensors around it.
from tensorflow_text.python.ops.regex_split_ops import gen_regex_split_ops

from components.core.checkpoint import (
    SPECIAL_TOKENS,
    resolve_checkpoint,
    tokenizer_settings,
)
from components.core.features import (
    ATTENTION_MASK,
    INPUT_IDS,
    TOKEN_TYPE_IDS,
    TRUNCATED,
    UNKNOWN_PIECES,
    WORD_PIECES,
)

MAX_INPUT_CHARS_PER_WORD = 100  # Hugging Face WordPiece's max_input_chars_per_word

# -- character classes ------------------------------------------------------------------------------
# Whitespace that BertNormalizer turns into a space (Rust char::is_whitespace, less the controls
# it deletes and the space itself).
_WHITESPACE = r"\t\n\r\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
# BertNormalizer::is_chinese_char, exactly as in `tokenizers` (whose fifth block starts at 0x2B920,
# not at 0x2B820 as in Google's BERT).
_CJK = (
    r"\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}"
)
# Control characters, non-spacing marks and punctuation follow the Unicode tables of `tokenizers`
# (the `unicode_categories` crate, Unicode 8.0), written out at the end of this module; RE2's own
# \p{...} classes are newer and differ on several hundred code points assigned since 2015.


class BertTokenizer(tf.Module):
    """Batched, in-graph BERT WordPiece tokenization of raw strings (see the module docstring).

    Args:
      checkpoint_dir: a Hugging Face BERT folder (local); its `vocab.txt` and
        `tokenizer_config.json` define the vocabulary and the normalisation.
      max_seq_length: tokens per example, [CLS] and [SEP] included (at least 3).
      name: the tf.Module name.
    """

    def __init__(
        self,
        checkpoint_dir: str,
        max_seq_length: int = 128,
        *,
        name: str = "bert_tokenizer",
    ):
        super().__init__(name=name)
        if max_seq_length < 3:
            raise ValueError(f"max_seq_length must be at least 3, got {max_seq_length}")
        settings = tokenizer_settings(checkpoint_dir)  # reads vocab.txt, once
        vocab = settings.vocab
        self.max_seq_length = int(max_seq_length)
        self.options = settings.options
        self.vocab_file = settings.vocab_file
        self.vocab_size = settings.vocab_size
        self.cls_id, self.sep_id = settings.token_id("[CLS]"), settings.token_id("[SEP]")
        self.pad_id, self.unk_id = settings.token_id("[PAD]"), settings.token_id("[UNK]")
        self.unk_token = "[UNK]"
        specials = [token for token in SPECIAL_TOKENS if token in set(vocab)]
        self._special_pattern = "|".join(_re_escape(token) for token in specials)
        # The longest vocabulary entry (bytes, '##' excluded) bounds the WordPiece search.
        longest = max(len(t.removeprefix("##").encode("utf-8")) for t in vocab)
        with tf.init_scope():
            initializer = tf.lookup.TextFileInitializer(
                self.vocab_file,
                key_dtype=tf.string,
                key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                value_dtype=tf.int64,
                value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            )
            self.vocab_table = tf.lookup.StaticHashTable(initializer, default_value=-1)
            self._wordpiece = tf_text.WordpieceTokenizer(
                self.vocab_table,
                suffix_indicator="##",
                max_bytes_per_word=4 * MAX_INPUT_CHARS_PER_WORD,
                max_chars_per_token=longest,
                token_out_type=tf.int64,
                unknown_token=self.unk_token,
            )

    @classmethod
    def from_checkpoint(cls, checkpoint: str = "", max_seq_length: int = 128) -> BertTokenizer:
        """From a checkpoint URI as in the config ('' = the packaged default), resolved locally."""
        return cls(resolve_checkpoint(checkpoint), max_seq_length)

    # -- the steps ------------------------------------------------------------------------------
    def normalize(self, texts: tf.Tensor) -> tf.Tensor:
        """BertNormalizer on a string tensor of any shape (no special-token handling)."""
        x = tf.strings.regex_replace(texts, _char_class(_HF_CONTROL), "")
        x = tf.strings.regex_replace(x, f"[{_WHITESPACE}]", " ")
        if self.options.tokenize_chinese_chars:
            x = tf.strings.regex_replace(x, f"[{_CJK}]", r" \0 ")
        if self.options.strips_accents:
            x = tf_text.normalize_utf8(x, "NFD")
            x = tf.strings.regex_replace(x, _char_class(_HF_NONSPACING_MARKS), "")
        if self.options.lower_case:
            # ICU's lower-casing turns a word-final capital sigma into ς; Rust's char-wise
            # to_lowercase (what Hugging Face uses) always gives σ.
            x = tf.strings.regex_replace(x, "\u03a3", "\u03c3")
            x = tf.strings.lower(x, encoding="utf-8")
        return x

    def words(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """The pre-tokenized words of a [batch] string tensor, [batch, (words)] (special tokens
        kept whole)."""
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        # Invalid UTF-8 becomes U+FFFD, and so does NUL (tf_text.regex_split stops at a NUL byte);
        # the normalizer deletes both, as Hugging Face does.
        texts = tf.strings.unicode_transcode(
            texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        texts = tf.strings.regex_replace(texts, r"\x00", "\ufffd")
        if not self._special_pattern:
            return tf.strings.split(self._spaced(texts))
        # Each text cut into segments: a special token alone, or the text between two of them.
        group = f"({self._special_pattern})"  # the op wants the pattern as a capture group
        segments, _, _, segment_splits = gen_regex_split_ops.regex_split_with_offsets(
            texts, group, group
        )
        is_special = tf.strings.regex_full_match(segments, self._special_pattern)
        # A special token holds no space, so it splits into itself: one word, un-normalised.
        words = tf.strings.split(tf.where(is_special, segments, self._spaced(segments)))
        return _merged(words, segment_splits)

    def _spaced(self, texts: tf.Tensor) -> tf.Tensor:
        """Normalised text with every punctuation character isolated by spaces: only spaces are
        left as whitespace, so splitting on them gives BertPreTokenizer's words."""
        return tf.strings.regex_replace(
            self.normalize(texts), _char_class(_HF_PUNCTUATION), r" \0 "
        )

    def word_piece_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Word-piece ids without special tokens and untruncated, [batch, (pieces)]."""
        words = self.words(texts)
        flat = words.flat_values
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > MAX_INPUT_CHARS_PER_WORD
        flat = tf.where(too_long, self.unk_token, flat)
        # Natural text repeats words a lot: split each distinct word once.
        unique, index = tf.unique(flat)
        pieces = tf.gather(self._wordpiece.tokenize(unique), index)  # [words, (pieces)]
        return _merged(pieces, words.row_splits)

    def tokenize(
        self, texts: tf.Tensor, text_pairs: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """Model inputs for a [batch] string tensor, or for the pairs of two (`text_pairs`, the
        second texts); see the module docstring."""
        ids = self.word_piece_ids(_vector(texts))
        pieces, unknown = ids.row_lengths(), self._unknown(ids)
        if text_pairs is None:
            kept = tf.minimum(pieces, self.max_seq_length - 2)
            truncated = pieces > kept
            texts_kept = [(ids, kept)]
        else:
            pair_ids = self.word_piece_ids(_vector(text_pairs))
            first, second = pieces, pair_ids.row_lengths()
            pieces, unknown = first + second, unknown + self._unknown(pair_ids)
            keep_first, keep_second = longest_first(first, second, self.max_seq_length - 3)
            truncated = (keep_first < first) | (keep_second < second)
            texts_kept = [(ids, keep_first), (pair_ids, keep_second)]
        input_ids, attention_mask, segments = self._pack(texts_kept)
        return {
            INPUT_IDS: input_ids,
            ATTENTION_MASK: attention_mask,
            TOKEN_TYPE_IDS: segments,
            TRUNCATED: tf.cast(truncated, tf.int64),
            WORD_PIECES: pieces,
            UNKNOWN_PIECES: unknown,
        }

    def _pack(
        self, texts_kept: list[tuple[tf.RaggedTensor, tf.Tensor]]
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """`[CLS] a [SEP]` (or `[CLS] a [SEP] b [SEP]`) padded to max_seq_length, from each text's
        word pieces and how many of them are kept: (input_ids, attention_mask, token_type_ids).

        Dense [batch, max_seq_length] arithmetic on positions: each text's first `kept` pieces
        are gathered into place after the tokens before them, then its [SEP].
        """
        length = self.max_seq_length
        positions = tf.range(length, dtype=tf.int64)[tf.newaxis, :]
        pad, sep = tf.constant(self.pad_id, tf.int64), tf.constant(self.sep_id, tf.int64)
        one = tf.constant(1, tf.int64)
        batch = tf.shape(texts_kept[0][1], out_type=tf.int64)
        # tf.equal, not ==: a compat.v1 graph (tf.Transform's v1 mode) compares tensors by identity.
        input_ids = tf.where(
            tf.equal(positions, 0),
            tf.constant(self.cls_id, tf.int64),
            tf.fill(tf.concat([batch, [length]], 0), pad),
        )
        segments = tf.zeros_like(input_ids)
        start = tf.ones_like(texts_kept[0][1])[:, tf.newaxis]  # after [CLS]
        for index, (ids, kept) in enumerate(texts_kept):
            end = start + kept[:, tf.newaxis]  # where this text's [SEP] goes
            dense = ids.to_tensor(default_value=pad, shape=[None, length])
            shifted = tf.gather(
                dense, tf.clip_by_value(positions - start, 0, length - 1), batch_dims=1
            )
            inside = (positions >= start) & (positions < end)
            input_ids = tf.where(inside, shifted, input_ids)
            input_ids = tf.where(tf.equal(positions, end), sep, input_ids)
            if index:  # the second text and its [SEP]
                segments = tf.where((positions >= start) & (positions <= end), one, segments)
            start = end + 1
        attention_mask = tf.cast(positions < start, tf.int64)
        return input_ids, attention_mask, segments

    def _unknown(self, ids: tf.RaggedTensor) -> tf.Tensor:
        """How many of each row's word pieces are [UNK] (int64 [batch])."""
        # Running counts at the row boundaries: one pass over the flat pieces.
        counts = tf.cumsum(tf.cast(tf.equal(ids.flat_values, self.unk_id), tf.int64))
        counts = tf.concat([tf.zeros([1], tf.int64), counts], axis=0)
        return tf.gather(counts, ids.row_splits[1:]) - tf.gather(counts, ids.row_splits[:-1])

    def __call__(
        self, texts: tf.Tensor, text_pairs: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        return self.tokenize(texts, text_pairs)


def longest_first(first: tf.Tensor, second: tf.Tensor, budget: int) -> tuple[tf.Tensor, tf.Tensor]:
    """How many word pieces of each text of a pair are kept within `budget` (int64 [batch] piece
    counts in, kept counts out): Hugging Face's fast "longest_first" rule (module docstring)."""
    short = tf.minimum(first, second)
    long_kept = tf.where(short > budget, short, tf.maximum(short, budget - short))
    halves = short + long_kept > budget
    short_kept = tf.where(halves, tf.constant(budget // 2, tf.int64), short)
    long_kept = tf.where(halves, tf.constant(budget - budget // 2, tf.int64), long_kept)
    first_longer = first > second
    fits = first + second <= budget
    keep_first = tf.where(first_longer, long_kept, short_kept)
    keep_second = tf.where(first_longer, short_kept, long_kept)
    return (
        tf.where(fits, first, tf.minimum(first, keep_first)),
        tf.where(fits, second, tf.minimum(second, keep_second)),
    )


def _vector(texts) -> tf.Tensor:
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    return texts if texts.shape.rank == 1 else tf.reshape(texts, [-1])


def _merged(inner: tf.RaggedTensor, outer_splits: tf.Tensor) -> tf.RaggedTensor:
    """The rows of `inner` grouped by `outer_splits` (the row splits of a level above them),
    each group's values in one row: [outer, (inner), (values)] -> [outer, (values)].

    Built from row splits that ops made, so without validation: the validation's assertions
    were most of the tokenizer's graph, and of the time to trace it.
    """
    return tf.RaggedTensor.from_row_splits(
        inner.flat_values, tf.gather(inner.row_splits, outer_splits), validate=False
    )


@functools.cache
def _char_class(ranges: str) -> str:
    """An RE2 character class from "300-36F,483,..." (hexadecimal code points and ranges)."""
    parts = []
    for item in ranges.split(","):
        low, _, high = item.partition("-")
        parts.append(f"\\x{{{low}}}" + (f"-\\x{{{high}}}" if high else ""))
    return "[" + "".join(parts) + "]"


def _re_escape(token: str) -> str:
    return "".join("\\" + c if not c.isalnum() else c for c in token)


# -- Unicode tables of Hugging Face `tokenizers` 0.21 (hexadecimal code points and ranges) -----------
# Regenerate (and check) with tests/test_transform.py::test_character_tables_match_hugging_face.
# removed by clean_text
_HF_CONTROL = (
    "0-8,B-C,E-1F,7F-9F,AD,600-605,61C,6DD,70F,180E,200B-200F,202A-202E,2060-2064,2066-206F,"
    "E000-F8FF,FEFF,FFF9-FFFB,FFFD,110BD,1BCA0-1BCA3,1D173-1D17A,E0001,E0020-E007F,"
    "F0000-FFFFD,100000-10FFFD"
)
# removed when stripping accents (after NFD)
_HF_NONSPACING_MARKS = (
    "300-36F,483-487,591-5BD,5BF,5C1-5C2,5C4-5C5,5C7,610-61A,64B-65F,670,6D6-6DC,6DF-6E4,"
    "6E7-6E8,6EA-6ED,711,730-74A,7A6-7B0,7EB-7F3,816-819,81B-823,825-827,829-82D,859-85B,"
    "8E3-902,93A,93C,941-948,94D,951-957,962-963,981,9BC,9C1-9C4,9CD,9E2-9E3,A01-A02,A3C,"
    "A41-A42,A47-A48,A4B-A4D,A51,A70-A71,A75,A81-A82,ABC,AC1-AC5,AC7-AC8,ACD,AE2-AE3,B01,B3C,"
    "B3F,B41-B44,B4D,B56,B62-B63,B82,BC0,BCD,C00,C3E-C40,C46-C48,C4A-C4D,C55-C56,C62-C63,C81,"
    "CBC,CBF,CC6,CCC-CCD,CE2-CE3,D01,D41-D44,D4D,D62-D63,DCA,DD2-DD4,DD6,E31,E34-E3A,E47-E4E,"
    "EB1,EB4-EB9,EBB-EBC,EC8-ECD,F18-F19,F35,F37,F39,F71-F7E,F80-F84,F86-F87,F8D-F97,F99-FBC,"
    "FC6,102D-1030,1032-1037,1039-103A,103D-103E,1058-1059,105E-1060,1071-1074,1082,1085-1086,"
    "108D,109D,135D-135F,1712-1714,1732-1734,1752-1753,1772-1773,17B4-17B5,17B7-17BD,17C6,"
    "17C9-17D3,17DD,180B-180D,18A9,1920-1922,1927-1928,1932,1939-193B,1A17-1A18,1A1B,1A56,"
    "1A58-1A5E,1A60,1A62,1A65-1A6C,1A73-1A7C,1A7F,1AB0-1ABD,1B00-1B03,1B34,1B36-1B3A,1B3C,"
    "1B42,1B6B-1B73,1B80-1B81,1BA2-1BA5,1BA8-1BA9,1BAB-1BAD,1BE6,1BE8-1BE9,1BED,1BEF-1BF1,"
    "1C2C-1C33,1C36-1C37,1CD0-1CD2,1CD4-1CE0,1CE2-1CE8,1CED,1CF4,1CF8-1CF9,1DC0-1DF5,"
    "1DFC-1DFF,20D0-20DC,20E1,20E5-20F0,2CEF-2CF1,2D7F,2DE0-2DFF,302A-302D,3099-309A,A66F,"
    "A674-A67D,A69E-A69F,A6F0-A6F1,A802,A806,A80B,A825-A826,A8C4,A8E0-A8F1,A926-A92D,"
    "A947-A951,A980-A982,A9B3,A9B6-A9B9,A9BC,A9E5,AA29-AA2E,AA31-AA32,AA35-AA36,AA43,AA4C,"
    "AA7C,AAB0,AAB2-AAB4,AAB7-AAB8,AABE-AABF,AAC1,AAEC-AAED,AAF6,ABE5,ABE8,ABED,FB1E,"
    "FE00-FE0F,FE20-FE2F,101FD,102E0,10376-1037A,10A01-10A03,10A05-10A06,10A0C-10A0F,"
    "10A38-10A3A,10A3F,10AE5-10AE6,11001,11038-11046,1107F-11081,110B3-110B6,110B9-110BA,"
    "11100-11102,11127-1112B,1112D-11134,11173,11180-11181,111B6-111BE,111CA-111CC,"
    "1122F-11231,11234,11236-11237,112DF,112E3-112EA,11300-11301,1133C,11340,11366-1136C,"
    "11370-11374,114B3-114B8,114BA,114BF-114C0,114C2-114C3,115B2-115B5,115BC-115BD,"
    "115BF-115C0,115DC-115DD,11633-1163A,1163D,1163F-11640,116AB,116AD,116B0-116B5,116B7,"
    "1171D-1171F,11722-11725,11727-1172B,16AF0-16AF4,16B30-16B36,16F8F-16F92,1BC9D-1BC9E,"
    "1D167-1D169,1D17B-1D182,1D185-1D18B,1D1AA-1D1AD,1D242-1D244,1DA00-1DA36,1DA3B-1DA6C,"
    "1DA75,1DA84,1DA9B-1DA9F,1DAA1-1DAAF,1E8D0-1E8D6,E0100-E01EF"
)
# isolated by the pre-tokenizer
_HF_PUNCTUATION = (
    "21-2F,3A-40,5B-60,7B-7E,A1,A7,AB,B6-B7,BB,BF,37E,387,55A-55F,589-58A,5BE,5C0,5C3,5C6,"
    "5F3-5F4,609-60A,60C-60D,61B,61E-61F,66A-66D,6D4,700-70D,7F7-7F9,830-83E,85E,964-965,970,"
    "AF0,DF4,E4F,E5A-E5B,F04-F12,F14,F3A-F3D,F85,FD0-FD4,FD9-FDA,104A-104F,10FB,1360-1368,"
    "1400,166D-166E,169B-169C,16EB-16ED,1735-1736,17D4-17D6,17D8-17DA,1800-180A,1944-1945,"
    "1A1E-1A1F,1AA0-1AA6,1AA8-1AAD,1B5A-1B60,1BFC-1BFF,1C3B-1C3F,1C7E-1C7F,1CC0-1CC7,1CD3,"
    "2010-2027,2030-2043,2045-2051,2053-205E,207D-207E,208D-208E,2308-230B,2329-232A,"
    "2768-2775,27C5-27C6,27E6-27EF,2983-2998,29D8-29DB,29FC-29FD,2CF9-2CFC,2CFE-2CFF,2D70,"
    "2E00-2E2E,2E30-2E42,3001-3003,3008-3011,3014-301F,3030,303D,30A0,30FB,A4FE-A4FF,"
    "A60D-A60F,A673,A67E,A6F2-A6F7,A874-A877,A8CE-A8CF,A8F8-A8FA,A8FC,A92E-A92F,A95F,"
    "A9C1-A9CD,A9DE-A9DF,AA5C-AA5F,AADE-AADF,AAF0-AAF1,ABEB,FD3E-FD3F,FE10-FE19,FE30-FE52,"
    "FE54-FE61,FE63,FE68,FE6A-FE6B,FF01-FF03,FF05-FF0A,FF0C-FF0F,FF1A-FF1B,FF1F-FF20,"
    "FF3B-FF3D,FF3F,FF5B,FF5D,FF5F-FF65,10100-10102,1039F,103D0,1056F,10857,1091F,1093F,"
    "10A50-10A58,10A7F,10AF0-10AF6,10B39-10B3F,10B99-10B9C,11047-1104D,110BB-110BC,"
    "110BE-110C1,11140-11143,11174-11175,111C5-111C9,111CD,111DB,111DD-111DF,11238-1123D,"
    "112A9,114C6,115C1-115D7,11641-11643,1173C-1173E,12470-12474,16A6E-16A6F,16AF5,"
    "16B37-16B3B,16B44,1BC9F,1DA87-1DA8B"
)
