"""The in-graph tokenizer (exact parity with Hugging Face) and the Tokenization Transform."""

from __future__ import annotations

import functools
import glob
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.core import features
from components.core import transform_output as outputs
from components.core.checkpoint import resolve_checkpoint, tokenizer_settings
from components.core.config import Config
from components.core.features import LABEL_FEATURE, TEXT_FEATURE
from components.transform import preprocessing as tr
from components.transform.component import PREPROCESSING_FN
from components.transform.tokenizer import (
    _HF_CONTROL,
    _HF_NONSPACING_MARKS,
    _HF_PUNCTUATION,
    BertTokenizer,
)

SST2_TRAIN_ROWS = 3000  # plus the whole dev split

EDGE_CASES = [
    "",
    "   \t\n ",
    "Hello, World!",
    "don't STOP-believing... (ok?) 100% $5.00 a+b=c <tag> ~x~ |pipe| `tick` ^caret^",
    "Café naïve résumé coöperate Ångström ÉCOLE Ñandú",
    "İstanbul ΟΔΟΣ ὈΔΥΣΣΕΎΣ Straße ǅemal ﬁnance ＦＵＬＬ width ½ ²",
    "中文字符和日本語のテキスト 한국어 텍스트 𠀀𪜀 \U0002b820\U0002b91f\U0002b920",
    "emoji 😀👍🏽 👨\u200d👩\u200d👧 ❤️ 🥰 flags 🇬🇧 keycap 1\ufe0f\u20e3",
    "zero\u200bwidth\ufeffbom soft\u00adhyphen nbsp\u00a0here line\u2028sep ideographic\u3000space",
    "controls \x01\x07\x1b[0m \x7f\x85\x92\x9f end",
    "nul\x00inside and \ufffd replacement",
    "[CLS] literal [SEP] tokens [PAD][UNK][MASK] and [cls] [Sep] x[SEP]y [[SEP]] [CL S]",
    "a" * 100 + " " + "b" * 101 + " " + "ж" * 60 + " " + "ab" * 30,
    "https://example.com/path?q=1&r=2#frag user@mail.co.uk 07732584351 £1000 €5 ¥9",
    "Arabic العربية Hebrew עברית Hindi हिन्दी Thai ภาษาไทย Tamil தமிழ்",
    "combining e\u0301 n\u0303 a\u0308\u0304 q\u0323\u0307 x\u20dd",
    "unassigned \u0378 private \ue000 \U000f0000 tags \U000e0041",
    "unbreakable" * 20,
    "ham\tspam\r\nnew line",
]


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint() -> str:
    return resolve_checkpoint("")


@pytest.fixture(scope="module")
def hf_tokenizer(checkpoint):
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(checkpoint)


@pytest.fixture(scope="module")
def sst2_sentences(shared_data) -> list[str]:
    rows = []
    for name, limit in (("train.tsv", SST2_TRAIN_ROWS), ("dev.tsv", None)):
        lines = (shared_data / "sst2" / name).read_text(encoding="utf-8").split("\n")[1:]
        rows += [line.split("\t")[0] for line in lines if line][:limit]
    return rows


@pytest.fixture(scope="module")
def mrpc_pairs(shared_data) -> tuple[list[str], list[str]]:
    """(first texts, second texts) of every MRPC pair, train and test, read as ExampleGen reads
    them."""
    from components.core.config import DataConfig
    from components.text_example_gen import read_accepted_rows

    rows = read_accepted_rows(
        DataConfig(
            data=str(shared_data / "mrpc"),
            text_column="#1 String",
            text_pair_column="#2 String",
            label_column="Quality",
        )
    )
    return rows.texts, rows.text_pairs


@pytest.fixture(scope="module")
def sms_rows(shared_data) -> list[tuple[str, str]]:
    """(label, text) for every line of the SMS Spam Collection."""
    lines = (shared_data / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8").split("\n")
    rows = [tuple(line.split("\t", 1)) for line in lines if line]
    assert len(rows) == 5574
    return rows


def _hf_reference(
    hf_tokenizer, texts: list[str], max_seq_length: int, pairs: list[str] | None = None
) -> dict[str, np.ndarray]:
    encoded = hf_tokenizer(
        texts,
        pairs,
        padding="max_length",
        truncation="longest_first",
        max_length=max_seq_length,
        return_tensors="np",
    )
    full = hf_tokenizer(texts, add_special_tokens=False)["input_ids"]
    lengths = np.array([len(ids) for ids in full])
    budget = max_seq_length - 2
    if pairs is not None:
        lengths += [len(ids) for ids in hf_tokenizer(pairs, add_special_tokens=False)["input_ids"]]
        budget -= 1
    truncated = (lengths > budget).astype(np.int64)  # some word piece of either text was cut
    return {**{key: encoded[key] for key in features.MODEL_INPUT_KEYS}, "truncated": truncated}


def _assert_parity(tokenizer, hf_tokenizer, texts, max_seq_length, what: str, pairs=None) -> float:
    """Asserts identical outputs for every text (or pair); returns the match rate (1.0)."""
    second = None if pairs is None else tf.constant(pairs)
    ours = {k: v.numpy() for k, v in tokenizer.tokenize(tf.constant(texts), second).items()}
    reference = _hf_reference(hf_tokenizer, texts, max_seq_length, pairs)
    same = np.ones(len(texts), bool)
    for key in features.MODEL_INPUT_KEYS:
        assert ours[key].shape == (len(texts), max_seq_length), key
        same &= (ours[key] == reference[key]).all(axis=1)
    same &= ours["truncated"] == reference["truncated"]
    rate = float(same.mean())
    mismatches = [
        (
            texts[i] if pairs is None else (texts[i], pairs[i]),
            hf_tokenizer.convert_ids_to_tokens(reference["input_ids"][i]),
            hf_tokenizer.convert_ids_to_tokens(ours["input_ids"][i]),
        )
        for i in np.flatnonzero(~same)[:5]
    ]
    print(f"tokenizer parity {what} (L={max_seq_length}): {same.sum()}/{len(texts)} = {rate:.4%}")
    assert rate == 1.0, f"{what}: match rate {rate:.4%}; first mismatches {mismatches}"
    return rate


# -- the tokenizer ----------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.parametrize("max_seq_length", [128, 32])
def test_parity_with_hugging_face_on_real_text(
    checkpoint, hf_tokenizer, sst2_sentences, sms_rows, max_seq_length
):
    tokenizer = BertTokenizer(checkpoint, max_seq_length)
    _assert_parity(tokenizer, hf_tokenizer, sst2_sentences, max_seq_length, "SST-2")
    sms_texts = [text for _, text in sms_rows]
    _assert_parity(tokenizer, hf_tokenizer, sms_texts, max_seq_length, "SMS spam")


def test_parity_on_edge_cases(checkpoint, hf_tokenizer):
    for max_seq_length in (128, 8, 3):
        tokenizer = BertTokenizer(checkpoint, max_seq_length)
        _assert_parity(tokenizer, hf_tokenizer, EDGE_CASES, max_seq_length, "edge cases")


@pytest.mark.realdata
@pytest.mark.parametrize("max_seq_length", [128, 32])
def test_pair_parity_with_hugging_face_on_every_mrpc_pair(
    checkpoint, hf_tokenizer, mrpc_pairs, max_seq_length
):
    """Every MRPC pair (train and test) packed as BertTokenizerFast(a, b, truncation=
    "longest_first") packs it; at L = 32 nearly every pair is cut, both texts of many."""
    texts, pairs = mrpc_pairs
    assert len(texts) == 5801
    tokenizer = BertTokenizer(checkpoint, max_seq_length)
    _assert_parity(tokenizer, hf_tokenizer, texts, max_seq_length, "MRPC pairs", pairs)
    cut = tokenizer.tokenize(tf.constant(texts), tf.constant(pairs))["truncated"].numpy()
    assert cut.mean() > 0.9 if max_seq_length == 32 else not cut.any()


def test_pair_truncation_follows_the_fast_tokenizer_at_every_split(checkpoint, hf_tokenizer):
    """Every combination of 0-14 word pieces in each text at odd and even budgets (L - 3 = 0, 1,
    2, 5, 6, 13): the cases where the fast
    (Rust) "longest_first" rule differs from the slow Python one (texts cut to about the same
    length) among them, and texts that normalise to no word piece at all."""
    lengths = [(a, b) for a in range(15) for b in range(15)]
    texts = [" ".join(["cat"] * a) or "\u200b" for a, _ in lengths]  # U+200B: no word piece
    pairs = [" ".join(["dog"] * b) or "\u200b" for _, b in lengths]
    for max_seq_length in (3, 4, 5, 8, 9, 16):
        tokenizer = BertTokenizer(checkpoint, max_seq_length)
        _assert_parity(tokenizer, hf_tokenizer, texts, max_seq_length, "lengths", pairs)
    for max_seq_length in (128, 8):  # and the edge cases as pairs, each against the next
        tokenizer = BertTokenizer(checkpoint, max_seq_length)
        pairs = EDGE_CASES[1:] + EDGE_CASES[:1]
        texts = [text or "x" for text in EDGE_CASES]  # a pair's first text is never empty
        _assert_parity(tokenizer, hf_tokenizer, texts, max_seq_length, "edge pairs", pairs)


def test_parity_code_point_by_code_point(checkpoint, hf_tokenizer):
    """Every BMP and plane-1 code point, and the CJK Extension C/D seam, in a few contexts."""
    code_points = [
        cp for cp in [*range(0x20000), *range(0x2B800, 0x2B940)] if not 0xD800 <= cp <= 0xDFFF
    ]
    texts = [f"a{chr(cp)}b {chr(cp)}Σ Ä{chr(cp)}\u0301" for cp in code_points]
    tokenizer = BertTokenizer(checkpoint, 16)
    ours = tokenizer.word_piece_ids(tf.constant(texts))
    reference = hf_tokenizer(texts, add_special_tokens=False)["input_ids"]
    splits, values = ours.row_splits.numpy(), ours.flat_values.numpy()
    bad = [
        hex(cp)
        for i, (cp, ids) in enumerate(zip(code_points, reference, strict=True))
        if values[splits[i] : splits[i + 1]].tolist() != ids
    ]
    assert not bad, f"{len(bad)} code points tokenize differently: {bad[:50]}"


def _code_points(ranges: str) -> set[int]:
    points = set()
    for item in ranges.split(","):
        low, _, high = item.partition("-")
        points.update(range(int(low, 16), int(high or low, 16) + 1))
    return points


def test_character_tables_match_hugging_face():
    """The Unicode tables written out in components/tokenizer.py are those of `tokenizers`.

    Should a `tokenizers` upgrade change them, print `_ranges(...)` of the sets derived here and
    paste them into components/tokenizer.py.
    """
    from tokenizers import normalizers, pre_tokenizers

    code_points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and cp != ord("|")]
    joined = "".join(chr(cp) + "|" for cp in code_points)

    def per_char(**steps) -> list[str]:
        options = {"clean_text": False, "handle_chinese_chars": False, "strip_accents": False}
        normalizer = normalizers.BertNormalizer(**{**options, **steps, "lowercase": False})
        out = normalizer.normalize_str(joined).split("|")[:-1]
        assert len(out) == len(code_points)
        return out

    cleaned = per_char(clean_text=True)
    control = {cp for cp, out in zip(code_points, cleaned, strict=True) if out == ""}
    stripped = per_char(strip_accents=True)
    marks = {cp for cp, out in zip(code_points, stripped, strict=True) if out == ""}
    all_points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    spaced = " ".join("x" + chr(cp) + "x" for cp in all_points)
    pieces = pre_tokenizers.BertPreTokenizer().pre_tokenize_str(spaced)
    punctuation = {
        all_points[start // 4]
        for piece, (start, end) in pieces
        if start % 4 == 1 and end == start + 1 and piece == chr(all_points[start // 4])
    }

    def _ranges(points: set[int]) -> str:  # the format of the tables
        runs: list[list[int]] = []
        for cp in sorted(points):
            if runs and runs[-1][1] == cp - 1:
                runs[-1][1] = cp
            else:
                runs.append([cp, cp])
        return ",".join(f"{a:X}" if a == b else f"{a:X}-{b:X}" for a, b in runs)

    assert control == _code_points(_HF_CONTROL), _ranges(control)
    assert marks == _code_points(_HF_NONSPACING_MARKS), _ranges(marks)
    assert punctuation == _code_points(_HF_PUNCTUATION), _ranges(punctuation)


def _copy_tokenizer_files(checkpoint: str, folder: Path, **config_changes) -> str:
    for name in os.listdir(checkpoint):
        if name.endswith((".json", ".txt")):
            shutil.copy(os.path.join(checkpoint, name), folder / name)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.update(config_changes)
    config_path.write_text(json.dumps(config))
    return str(folder)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "changes",
    [
        {"do_lower_case": False},
        {"do_lower_case": True, "strip_accents": False},
        {"do_lower_case": False, "strip_accents": True, "tokenize_chinese_chars": False},
    ],
    ids=["cased", "lowercase-keep-accents", "cased-strip-no-cjk"],
)
def test_parity_follows_the_tokenizer_config(checkpoint, tmp_path, sms_rows, changes):
    from transformers import BertTokenizerFast

    folder = _copy_tokenizer_files(checkpoint, tmp_path, **changes)
    options = tokenizer_settings(folder).options
    assert options.lower_case == changes["do_lower_case"]
    hf_tokenizer = BertTokenizerFast.from_pretrained(folder)
    texts = EDGE_CASES + [text for _, text in sms_rows[:1000]]
    _assert_parity(BertTokenizer(folder, 64), hf_tokenizer, texts, 64, str(changes))


def test_tokenizer_contract(checkpoint):
    tokenizer = BertTokenizer(checkpoint, 8)
    out = tokenizer.tokenize(tf.constant(["Hello world!", "a b c d e f g h i j", "", "\u2603 x"]))
    assert set(out) == {
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "truncated",
        "word_pieces",
        "unknown_pieces",
    }
    assert all(value.dtype == tf.int64 for value in out.values())
    np.testing.assert_array_equal(
        out["input_ids"].numpy(),
        [
            [101, 7592, 2088, 999, 102, 0, 0, 0],
            [101, 1037, 1038, 1039, 1040, 1041, 1042, 102],
            [101, 102, 0, 0, 0, 0, 0, 0],
            [101, 100, 1060, 102, 0, 0, 0, 0],
        ],
    )
    np.testing.assert_array_equal(out["attention_mask"].numpy().sum(axis=1), [5, 8, 2, 4])
    np.testing.assert_array_equal(out["truncated"].numpy(), [0, 1, 0, 0])
    # The derived features of the drift check: pieces before the cut, and how many are [UNK].
    np.testing.assert_array_equal(out["word_pieces"].numpy(), [3, 10, 0, 2])
    np.testing.assert_array_equal(out["unknown_pieces"].numpy(), [0, 0, 0, 1])
    assert not out["token_type_ids"].numpy().any()

    # Static shapes in a graph, [batch, 1] input, and invalid UTF-8 (replaced, then deleted).
    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.string)])
    def traced(texts):
        return tokenizer(texts)

    graph_out = traced(tf.constant([[b"Hello world!"], [b"\xffHello\xfe world!"]]))
    assert graph_out["input_ids"].shape == (2, 8)
    assert traced.get_concrete_function().structured_outputs["input_ids"].shape.as_list() == [
        None,
        8,
    ]
    np.testing.assert_array_equal(graph_out["input_ids"][0], out["input_ids"][0])
    np.testing.assert_array_equal(graph_out["input_ids"][1], out["input_ids"][0])
    with pytest.raises(ValueError, match="at least 3"):
        BertTokenizer(checkpoint, 2)


# -- the label vocabulary ---------------------------------------------------------------------------
def test_pair_contract(checkpoint):
    tokenizer = BertTokenizer(checkpoint, 10)
    out = tokenizer.tokenize(
        tf.constant(["Hello world!", "a b c d e f", "x"]),
        tf.constant(["Hi", "g h i j", "y z"]),
    )
    cls, sep, pad = 101, 102, 0
    a_to_f = [1037, 1038, 1039, 1040, 1041, 1042]
    np.testing.assert_array_equal(
        out["input_ids"].numpy(),
        [
            [cls, 7592, 2088, 999, sep, 7632, sep, pad, pad, pad],
            # 6 + 4 pieces for a budget of 7: the longer first text keeps 4, the second 3.
            [cls, *a_to_f[:4], sep, 1043, 1044, 1045, sep],
            [cls, 1060, sep, 1061, 1062, sep, pad, pad, pad, pad],
        ],
    )
    np.testing.assert_array_equal(
        out["token_type_ids"].numpy(),
        [
            [0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
            [0, 0, 0, 1, 1, 1, 0, 0, 0, 0],
        ],
    )
    np.testing.assert_array_equal(out["attention_mask"].numpy().sum(axis=1), [7, 10, 6])
    np.testing.assert_array_equal(out["truncated"].numpy(), [0, 1, 0])


def test_label_order():
    assert tr.ordered_labels([b"spam", "ham", b"ham"]) == [b"ham", b"spam"]
    assert tr.ordered_labels(["1", "0", "10", "2"]) == [b"0", b"1", b"10", b"2"]
    assert tr.ordered_labels(["neg"], declared=("pos", "neg")) == [b"pos", b"neg"]
    with pytest.raises(ValueError, match="not among the declared"):
        tr.ordered_labels(["pos", "other"], declared=("pos", "neg"))
    with pytest.raises(ValueError, match="line breaks"):
        tr.ordered_labels(["a\nb"])


# -- the Transform ----------------------------------------------------------------------------------
def test_one_value_per_example_features_become_vectors():
    expected = [b"a", b"b", b""]
    dense = tf.constant([[b"a"], [b"b"], [b""]])
    sparse = tf.sparse.from_dense(dense)  # the third example has no value
    ragged = tf.ragged.constant([[b"a"], [b"b"], []])
    for value in (tf.constant(expected), dense, sparse, ragged):
        assert tr._as_vector(value, "text").numpy().tolist() == expected
    with pytest.raises(ValueError, match="one value per example"):
        tr._as_vector(tf.constant([[b"a", b"b"]]), "text")


def _raw_rows(sms_rows) -> dict[str, list[tuple[str, str]]]:
    """A small train/eval split of SMS texts (labels ham/spam), plus edge cases in train."""
    train = sms_rows[:240] + [
        ("spam" if i % 2 else "ham", text) for i, text in enumerate(EDGE_CASES)
    ]
    return {"train": train, "eval": sms_rows[240:300]}


def _feature_spec() -> dict:
    # text arrives as [batch, 1], label as [batch]: both shapes are handled.
    return {
        TEXT_FEATURE: tf.io.FixedLenFeature([1], tf.string),
        LABEL_FEATURE: tf.io.FixedLenFeature([], tf.string),
    }


def _expected(tokenizer: BertTokenizer, rows, vocab: list[str]) -> list[tuple]:
    out = tokenizer.tokenize(tf.constant([text for _, text in rows]))
    labels = [vocab.index(label) if label in vocab else -1 for label, _ in rows]
    buckets = tr.length_bucket(out[features.ATTENTION_MASK], out[features.TRUNCATED]).numpy()
    return _records(
        [
            {
                **{key: out[key][i].numpy() for key in features.MODEL_INPUT_KEYS},
                features.TRUNCATED: out[features.TRUNCATED][i].numpy(),
                features.WORD_PIECES: out[features.WORD_PIECES][i].numpy(),
                features.UNKNOWN_PIECES: out[features.UNKNOWN_PIECES][i].numpy(),
                features.LENGTH_BUCKET: buckets[i],
                features.LABEL_ID: labels[i],
            }
            for i in range(len(rows))
        ]
    )


def test_length_buckets_name_token_counts_and_truncation():
    mask = tf.constant([[1] * 3 + [0] * 29, [1] * 17 + [0] * 15, [1] * 32], tf.int64)
    buckets = tr.length_bucket(mask, tf.constant([0, 0, 1], tf.int64)).numpy().tolist()
    assert buckets == [b"1-16", b"17-32", b"truncated"]


def _records(instances) -> list[tuple]:
    """Transformed instances as sorted hashable tuples (the order of Beam's output is not fixed)."""
    return sorted(
        tuple(
            tuple(np.asarray(instance[key]).reshape(-1).tolist())
            for key in features.TRANSFORMED_KEYS
        )
        for instance in instances
    )


def _analyze_and_transform(rows, config: Config, temp_dir: str, output_dir: str, v1: bool):
    """Single-process tf.Transform run: (transformed train, transformed eval)."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam

    metadata = tft.DatasetMetadata.from_feature_spec(_feature_spec())

    def instances(split):
        return [{TEXT_FEATURE: [text], LABEL_FEATURE: label} for label, text in rows[split]]

    fn = functools.partial(tr.preprocessing_fn, custom_config={"config": config.to_json()})
    with tft_beam.Context(temp_dir=temp_dir, force_tf_compat_v1=v1):
        (train, _), transform_fn = (
            instances("train"),
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(fn)
        evaluation, _ = ((instances("eval"), metadata), transform_fn) | tft_beam.TransformDataset()
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    return _records(train), _records(evaluation)


@pytest.fixture(scope="module")
def single_worker(tmp_path_factory, tiny_checkpoint, sms_rows):
    """The in-process (one worker) tf.Transform run in TF2 mode, with a non-default checkpoint."""
    folder = tmp_path_factory.mktemp("single_worker")
    config = Config().replace(model={"checkpoint": str(tiny_checkpoint), "max_seq_length": 24})
    rows = _raw_rows(sms_rows)
    output_dir = str(folder / "transform_output")
    train, evaluation = _analyze_and_transform(
        rows, config, str(folder / "tmp"), output_dir, v1=False
    )
    return {
        "config": config,
        "rows": rows,
        "output_dir": output_dir,
        "train": train,
        "eval": evaluation,
    }


def _check_transform_output(output_dir, rows, train, evaluation, labels, checkpoint):
    import tensorflow_transform as tft

    vocab = list(labels) or ["ham", "spam"]
    assert outputs.label_vocabulary(output_dir) == vocab
    output = tft.TFTransformOutput(output_dir)
    assert output.vocabulary_by_name(features.LABEL_VOCAB_NAME) == [v.encode() for v in vocab]
    assets = sorted(os.listdir(os.path.join(output_dir, "transform_fn", "assets")))
    assert assets == ["label_vocab", "vocab.txt"]
    spec = output.transformed_feature_spec()
    assert spec == {
        **{key: tf.io.FixedLenFeature([24], tf.int64) for key in features.MODEL_INPUT_KEYS},
        features.TRUNCATED: tf.io.FixedLenFeature([], tf.int64),
        features.WORD_PIECES: tf.io.FixedLenFeature([], tf.int64),
        features.UNKNOWN_PIECES: tf.io.FixedLenFeature([], tf.int64),
        features.LENGTH_BUCKET: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_ID: tf.io.FixedLenFeature([], tf.int64),
    }
    tokenizer = BertTokenizer(checkpoint, 24)
    assert train == _expected(tokenizer, rows["train"], vocab)
    assert evaluation == _expected(tokenizer, rows["eval"], vocab)
    assert 0 < np.mean([record[3][0] for record in train]) < 1  # some, not all, truncated


@pytest.mark.realdata
@pytest.mark.slow
def test_preprocessing_fn_tf2_sorted_labels(single_worker, tiny_checkpoint):
    run = single_worker
    _check_transform_output(
        run["output_dir"], run["rows"], run["train"], run["eval"], (), str(tiny_checkpoint)
    )


@pytest.mark.realdata
@pytest.mark.slow
def test_preprocessing_fn_compat_v1_declared_labels(tmp_path, checkpoint, sms_rows):
    labels = ("spam", "ham")
    config = Config().replace(model={"max_seq_length": 24}, data={"labels": labels})
    rows = _raw_rows(sms_rows)
    output_dir = str(tmp_path / "transform_output")
    train, evaluation = _analyze_and_transform(
        rows, config, str(tmp_path / "tmp"), output_dir, v1=True
    )
    _check_transform_output(output_dir, rows, train, evaluation, labels, checkpoint)


# -- the real TFX Transform component, Beam in 2 worker processes ------------------------------------
def _write_examples(folder: Path, rows) -> None:
    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for label, text in rows:
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        TEXT_FEATURE: tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[text.encode("utf-8")])
                        ),
                        LABEL_FEATURE: tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[label.encode("utf-8")])
                        ),
                    }
                )
            )
            writer.write(example.SerializeToString())


def _write_schema(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "schema.pbtxt").write_text(
        f"""
        feature {{ name: "{TEXT_FEATURE}" type: BYTES presence {{ min_fraction: 1.0 }}
                  shape {{ dim {{ size: 1 }} }} }}
        feature {{ name: "{LABEL_FEATURE}" type: BYTES presence {{ min_fraction: 1.0 }}
                  shape {{ }} }}
        """
    )


def _read_transformed(folder: str) -> list[tuple]:
    files = sorted(glob.glob(os.path.join(folder, "*")))
    spec = {key: tf.io.FixedLenFeature([24], tf.int64) for key in features.MODEL_INPUT_KEYS}
    scalars = (features.TRUNCATED, features.WORD_PIECES, features.UNKNOWN_PIECES, features.LABEL_ID)
    spec |= {key: tf.io.FixedLenFeature([], tf.int64) for key in scalars}
    spec[features.LENGTH_BUCKET] = tf.io.FixedLenFeature([], tf.string)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return _records(tf.io.parse_single_example(record, spec) for record in dataset)


def _only(pattern: str) -> str:
    matches = glob.glob(pattern)
    assert len(matches) == 1, (pattern, matches)
    return matches[0]


@pytest.mark.realdata
@pytest.mark.slow
def test_transform_component_with_two_worker_processes(tmp_path, single_worker, caplog):
    """The project's Transform (TFX's executor under LocalDagRunner, Beam multi-processing) = the
    single-worker output; the transformed splits reach the post-transform statistics through
    files, not the DirectRunner's memory (core.beam_memory)."""
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from components.transform.component import Transform

    config, rows = single_worker["config"], single_worker["rows"]
    single_train, single_eval = single_worker["train"], single_worker["eval"]

    for split, split_rows in rows.items():
        _write_examples(tmp_path / "examples" / f"Split-{split}", split_rows)
    _write_schema(tmp_path / "schema")
    examples = tfx.dsl.Importer(
        source_uri=str(tmp_path / "examples"),
        artifact_type=tfx.types.standard_artifacts.Examples,
        properties={"split_names": json.dumps(list(rows))},
    ).with_id("import_examples")
    schema = tfx.dsl.Importer(
        source_uri=str(tmp_path / "schema"), artifact_type=tfx.types.standard_artifacts.Schema
    ).with_id("import_schema")
    transform = Transform(
        runtime={"checkpoint": config.model.checkpoint},
        examples=examples.outputs["result"],
        schema=schema.outputs["result"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"config": config.to_json(Config.TRANSFORM_SECTIONS)},
    ).with_beam_pipeline_args(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    root = tmp_path / "pipeline"
    with caplog.at_level(logging.INFO, logger="components.core.beam_memory"):
        tfx.orchestration.LocalDagRunner().run(
            tfx.dsl.Pipeline(
                pipeline_name="transform-test",
                pipeline_root=str(root),
                components=[examples, schema, transform],
                metadata_connection_config=metadata.sqlite_metadata_connection_config(
                    str(tmp_path / "metadata.sqlite")
                ),
                enable_cache=False,
            )
        )

    # Beam's subprocess workers log through the job service: the run did use worker processes.
    assert any(record.name.endswith("local_job_service") for record in caplog.records)
    assert "['FlattenTransformedDatasets'] run without holding the data" in caplog.text

    transformed = _only(str(root / "Transform" / "transformed_examples" / "*"))
    assert _read_transformed(os.path.join(transformed, "Split-train")) == single_train
    assert _read_transformed(os.path.join(transformed, "Split-eval")) == single_eval

    graph = _only(str(root / "Transform" / "transform_graph" / "*"))
    assert outputs.label_vocabulary(graph) == ["ham", "spam"]
    assert sorted(os.listdir(os.path.join(graph, "transform_fn", "assets"))) == [
        "label_vocab",
        "vocab.txt",
    ]
    # The post-transform statistics cover every transformed split (train and eval together).
    expected_share = np.mean([record[3][0] for record in single_train + single_eval])
    stats = _only(str(root / "Transform" / "post_transform_stats" / "*"))
    with caplog.at_level(logging.WARNING, logger=outputs.logger.name):
        assert outputs.truncation_share(stats) == pytest.approx(expected_share)
    assert expected_share > 0.1 and "truncated to max_seq_length" in caplog.text
    assert outputs.truncation_share(transformed, split="eval", warn_above=1.0) == pytest.approx(
        np.mean([record[3][0] for record in single_eval])
    )
