"""The text ExampleGen: parsing, input discovery, and real TFX runs of the executor."""

from __future__ import annotations

import glob
import gzip
import io
import json
import logging
import os
import re
from pathlib import Path

import pytest

from components.core.artifacts import read_rejected_summary, rejected_rows_uri
from components.core.config import Config, DataConfig
from components.core.features import LABEL_FEATURE, TEXT_FEATURE
from components.text_example_gen import (
    Executor,
    InputError,
    RejectedRowsError,
    check_input,
    config_from_exec_properties,
    custom_config_proto,
    input_split_config,
    parsing,
    text_example_gen,
)
from components.text_example_gen.rows import MAX_CONTENT_CHARS
from components.text_example_gen.text_files import CHUNK_BYTES


# -- helpers ----------------------------------------------------------------------------------------
def data_config(**settings) -> DataConfig:
    return DataConfig(**{"data": "unused", **settings})


def parse(name: str, content: str | bytes, **settings) -> parsing.ParsedFile:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return parsing.parse_file(name, data, data_config(**settings))


def accepted(parsed: parsing.ParsedFile) -> list[tuple[str, str]]:
    return [(row.text, row.label) for row in parsed.rows if row.accepted]


def rejected(parsed: parsing.ParsedFile) -> list[tuple[int, str]]:
    return [(row.line, row.reason) for row in parsed.rows if not row.accepted]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def exec_properties(config: Config) -> dict:
    """What TFX hands the executor: protos as JSON strings (the driver has resolved spans)."""
    from tfx.proto import example_gen_pb2
    from tfx.utils import proto_utils

    input_base, input_config, output_config = input_split_config(config.data)
    return {
        "input_base": input_base,
        "input_config": proto_utils.proto_to_json(input_config),
        "output_config": proto_utils.proto_to_json(output_config),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        "custom_config": proto_utils.proto_to_json(custom_config_proto(config)),
    }


def run_executor(config: Config, out: Path):
    """Runs the real executor (a Beam pipeline); returns the Examples artifact."""
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    Executor().Do({}, {"examples": [examples]}, exec_properties(config))
    return examples


def read_examples(uri: str, split: str) -> list[tuple[str, str]]:
    """(text, label) of every tf.Example in an output split, read with tf.data."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*.gz")))
    assert files, f"no examples written to {uri}/Split-{split}"
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    for record in dataset.take(20):  # exactly two bytes features, one value each
        features = tf.train.Example.FromString(record.numpy()).features.feature
        assert set(features) == {TEXT_FEATURE, LABEL_FEATURE}
        for name in (TEXT_FEATURE, LABEL_FEATURE):
            assert len(features[name].bytes_list.value) == 1
    spec = {
        TEXT_FEATURE: tf.io.FixedLenFeature([], tf.string),
        LABEL_FEATURE: tf.io.FixedLenFeature([], tf.string),
    }
    result = []
    for batch in dataset.batch(8192).map(lambda records: tf.io.parse_example(records, spec)):
        texts, labels = batch[TEXT_FEATURE].numpy(), batch[LABEL_FEATURE].numpy()
        result += [
            (text.decode(), label.decode()) for text, label in zip(texts, labels, strict=True)
        ]
    return result


def read_rejected_folder(folder: str, split: str) -> list[dict]:
    """Every rejected row of an input split in a RejectedRows folder, by file and line."""
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, f"Split-{split}", "rejected-*.jsonl"))):
        rows += [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line]
    return sorted(rows, key=lambda row: (row["file"], row["line"]))


def rejected_rows(uri: str, split: str) -> list[dict]:
    return read_rejected_folder(rejected_rows_uri(uri), split)


def messy_rejections(messy_input: Path) -> dict[str, list[tuple[str, int, str]]]:
    """(file, line, reason) of every row of `messy_input` that ExampleGen rejects, by split."""
    train_csv, dev_jsonl = str(messy_input / "train.csv"), str(messy_input / "dev.jsonl")
    return {
        "train": [
            (train_csv, 5, "invalid_utf8"),
            (train_csv, 6, "empty_text"),
            (train_csv, 7, "missing_label"),
            (train_csv, 8, "wrong_column_count"),
            (train_csv, 9, "unknown_label"),
            (train_csv, 10, "malformed_csv"),
        ],
        "eval": [(dev_jsonl, 2, "empty_text"), (dev_jsonl, 3, "malformed_json")],
    }


def summary(uri: str) -> dict:
    result = json.loads(Path(rejected_rows_uri(uri), "summary.json").read_text("utf-8"))
    assert read_rejected_summary(uri) == result
    return result


# -- CSV --------------------------------------------------------------------------------------------
def test_csv_with_header_quotes_embedded_newlines_bom_and_crlf():
    content = (
        "\ufefftext,label\r\n"
        '"hello, ""quoted"" world",pos\r\n'
        '"first line\r\nsecond line\r\nthird",neg\r\n'
        "plain text,pos\r\n"
        '"after, the multi-line",neg\r\n'
    )
    parsed = parse("data.csv", content)
    assert accepted(parsed) == [
        ('hello, "quoted" world', "pos"),
        ("first line\r\nsecond line\r\nthird", "neg"),
        ("plain text", "pos"),
        ("after, the multi-line", "neg"),
    ]
    assert [row.line for row in parsed.rows] == [2, 3, 6, 7]  # where each record starts
    assert rejected(parsed) == []


def test_csv_header_detection_and_column_choice():
    # The configured names, in another order and another case, with an extra column.
    parsed = parse("d.csv", "id,Label,Review\n1,spam,buy now\n", text_column="review")
    assert accepted(parsed) == [("buy now", "spam")]
    # Aliases: sentence / target.
    assert accepted(parse("d.csv", "target,sentence\n1,good\n")) == [("good", "1")]
    # Indexes with a header row that holds aliases: the header is still skipped.
    parsed = parse("d.csv", "label,text\nham,hi\n", text_column="1", label_column="0")
    assert accepted(parsed) == [("hi", "ham")]


def test_csv_without_header():
    content = "good movie,1\nbad movie,0\n"
    for header in ("auto", "no"):
        parsed = parse("d.csv", content, header=header, text_column="0", label_column="1")
        assert accepted(parsed) == [("good movie", "1"), ("bad movie", "0")]
    assert [row.line for row in parsed.rows] == [1, 2]
    # header=yes takes the first row as the header, whatever it says.
    parsed = parse("d.csv", content, header="yes", text_column="0", label_column="1")
    assert accepted(parsed) == [("bad movie", "0")]


def test_csv_blank_lines_are_counted_not_rows():
    parsed = parse("d.csv", "text,label\n\na,1\n\n\nb,0\n\n")
    assert accepted(parsed) == [("a", "1"), ("b", "0")]
    assert parsed.blank_lines == 4
    assert [row.line for row in parsed.rows] == [3, 6]


# -- TSV --------------------------------------------------------------------------------------------
def test_tsv_quotes_are_plain_text():
    content = 'sentence\tlabel\n"quoted" start\t1\nit \'s "unbalanced\t0\nend"\t1\n'
    parsed = parse("train.tsv", content)
    assert accepted(parsed) == [('"quoted" start', "1"), ("it 's \"unbalanced", "0"), ('end"', "1")]
    assert [row.line for row in parsed.rows] == [2, 3, 4]


def test_tsv_headerless_label_first_crlf_no_trailing_newline():
    content = 'ham\tsee you, then\r\nspam\tWIN "cash" now\r\nham\tok'
    parsed = parse(
        "SMSCollection", content, format="tsv", header="no", label_column="0", text_column="1"
    )
    assert accepted(parsed) == [("see you, then", "ham"), ('WIN "cash" now', "spam"), ("ok", "ham")]


def test_format_detection():
    assert parsing.detect_format("a.CSV", "") == "csv"
    assert parsing.detect_format("a.tsv", "") == "tsv"
    assert parsing.detect_format("a.jsonl", "") == "jsonl"
    assert parsing.detect_format("a.json", "") == "jsonl"
    assert parsing.detect_format("a.txt", "text\tlabel\n") == "tsv"
    assert parsing.detect_format("noext", "ham\thello\n") == "tsv"
    assert parsing.detect_format("a.txt", "text,label\n") == "csv"
    assert parsing.detect_format("a.txt", '{"text": "x"}\n') == "jsonl"
    assert parsing.detect_format("a.csv", "", "tsv") == "tsv"  # the config wins
    with pytest.raises(InputError, match="data.format"):
        parsing.detect_format("a.txt", "just words\n")


# -- JSON Lines -------------------------------------------------------------------------------------
def test_jsonl_string_and_int_labels_and_keys():
    content = (
        '{"text": "great", "label": 1}\n'
        '{"text": "awful", "label": "0", "extra": [1, 2]}\n'
        "\n"
        '{"label": " spam ", "text": "unicode \\u00e9 \u00e9"}\n'
    )
    parsed = parse("d.jsonl", content)
    assert accepted(parsed) == [("great", "1"), ("awful", "0"), ("unicode \u00e9 \u00e9", "spam")]
    assert [row.line for row in parsed.rows] == [1, 2, 4]
    parsed = parse("d.json", '{"body": "x", "y": 2}\n', text_column="body", label_column="y")
    assert accepted(parsed) == [("x", "2")]


# -- sentence pairs ---------------------------------------------------------------------------------
def pairs(parsed: parsing.ParsedFile) -> list[tuple[str, str, str]]:
    return [(row.text, row.text_pair, row.label) for row in parsed.rows if row.accepted]


def test_a_pair_task_reads_the_second_text_and_rejects_rows_without_one():
    content = (
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        '1\t1\t2\tHe said "yes".\tHe agreed.\n'
        "0\t3\t4\tStocks fell.\t \n"  # an empty second text
        "1\t5\t6\t\tOnly the second.\n"  # an empty first text: its own reason
        "0\t7\t8\tA\tB\n"
    )
    settings = {"text_column": "#1 String", "text_pair_column": "#2 String"}
    parsed = parse("train.tsv", content, label_column="Quality", **settings)
    assert pairs(parsed) == [('He said "yes".', "He agreed.", "1"), ("A", "B", "0")]
    assert rejected(parsed) == [(3, "empty_text_pair"), (4, "empty_text")]
    assert [row.to_json() for row in parsed.rows if row.line == 3] == [
        '{"file": "train.tsv", "line": 3, "reason": "empty_text_pair", "content": '
        '"0\\t3\\t4\\tStocks fell.\\t "}'
    ]
    # By 0-based index in a headerless CSV file; a single-text task keeps no second text.
    parsed = parse("d.csv", "q one,q two,dup\nx,y,no\n", text_column="0", text_pair_column="1",
                   label_column="2", header="no")  # fmt: skip
    assert pairs(parsed) == [("q one", "q two", "dup"), ("x", "y", "no")]
    assert [row.text_pair for row in parse("d.csv", "text,label\na,1\n").rows] == [None]


def test_a_pair_task_in_json_lines_and_the_column_checks():
    content = (
        '{"query": "cheap flights", "doc": "Book flights now", "label": 1}\n'
        '{"query": "cheap flights", "label": 0}\n'  # no second text
        '{"query": "x", "doc": 7, "label": 0}\n'  # not a string
    )
    parsed = parse("d.jsonl", content, text_column="query", text_pair_column="doc")
    assert pairs(parsed) == [("cheap flights", "Book flights now", "1")]
    assert rejected(parsed) == [(2, "empty_text_pair"), (3, "invalid_text")]
    with pytest.raises(InputError, match=r"no text_pair key 'passage' .* data.text_pair_column"):
        parse("d.jsonl", content, text_column="query", text_pair_column="passage")
    with pytest.raises(
        InputError,
        match=r"no text_pair column 'b' in d.csv: it has no header row holding that name",
    ):
        parse("d.csv", "text,label\na,1\n", text_pair_column="b")
    with pytest.raises(InputError, match="the text, label, text_pair columns must differ"):
        parse("d.csv", "text,label,b\na,1,c\n", text_pair_column="0")


def test_folder_per_label_data_refuses_a_pair_task(tmp_path):
    write(tmp_path / "pos" / "1.txt", "good")
    write(tmp_path / "neg" / "2.txt", "bad")
    config = data_config(data=str(tmp_path), text_pair_column="second")
    base, input_config, _ = input_split_config(config)
    with pytest.raises(InputError, match=r"split 'single_split' is folder-per-label data"):
        check_input(config, base, input_config)


@pytest.mark.realdata
def test_mrpc_reads_as_pairs_with_every_row_accepted(shared_data):
    from components.text_example_gen import read_accepted_rows

    config = data_config(
        data=str(shared_data / "mrpc"),
        text_column="#1 String",
        text_pair_column="#2 String",
        label_column="Quality",
    )
    base, input_config, _ = input_split_config(config)
    assert splits_of(input_config) == [("train", "train.tsv"), ("eval", "test.tsv")]
    rows = read_accepted_rows(config)
    assert (len(rows.texts), len(rows.text_pairs), rows.rejected) == (4076 + 1725, 5801, 0)
    assert rows.labels.count("1") == 2753 + 1147
    assert rows.texts[0].startswith('Amrozi accused his brother, whom he called "the witness"')
    assert rows.text_pairs[0].startswith('Referring to him as only "the witness", Amrozi')


# -- folder per label -------------------------------------------------------------------------------
def test_folder_file_is_one_example_labelled_by_its_folder():
    row = parsing.parse_text_file("/d/train/pos/1_10.txt", b"Loved it.\nTwice.", data_config())
    assert (row.text, row.label, row.line, row.accepted) == ("Loved it.\nTwice.", "pos", 1, True)
    row = parsing.parse_text_file("/d/neg/2.txt", "\ufeffbom".encode(), data_config())
    assert (row.text, row.label) == ("bom", "neg")
    row = parsing.parse_text_file("/d/neg/3.txt", b"bad \xff", data_config())
    assert (row.reason, row.content) == ("invalid_utf8", "bad \\xff")
    row = parsing.parse_text_file("/d/neg/4.txt", b" \n", data_config())
    assert row.reason == "empty_text"
    row = parsing.parse_text_file("/d/unsup/5.txt", b"x", data_config(labels=("pos", "neg")))
    assert row.reason == "unknown_label"


# -- bad rows ---------------------------------------------------------------------------------------
BAD_ROWS = [
    # (file name, content, settings, expected (line, reason) of the rejected rows)
    ("d.csv", b"text,label\nok,1\nbad \xff\xfe,1\n", {}, [(3, "invalid_utf8")]),
    ("d.tsv", b"text\tlabel\nok\t1\n\xc3(\t0\n", {}, [(3, "invalid_utf8")]),
    (
        "d.jsonl",
        b'{"text": "ok", "label": 1}\n{"text": "\xe9", "label": 1}\n',
        {},
        [(2, "invalid_utf8")],
    ),
    ("d.csv", "text,label\nok,1\n,1\n   ,0\n", {}, [(3, "empty_text"), (4, "empty_text")]),
    ("d.tsv", "text\tlabel\nok\t1\n \t1\n", {}, [(3, "empty_text")]),
    (
        "d.jsonl",
        '{"text": " ", "label": 1}\n{"label": 1}\n',
        {},
        [(1, "empty_text"), (2, "empty_text")],
    ),
    (
        "d.csv",
        "text,label\nok,1\nno label,\nspaces,  \n",
        {},
        [(3, "missing_label"), (4, "missing_label")],
    ),
    (
        "d.jsonl",
        '{"text": "a", "label": ""}\n{"text": "b"}\n{"text": "c", "label": null}\n',
        {},
        [(1, "missing_label"), (2, "missing_label"), (3, "missing_label")],
    ),
    (
        "d.csv",
        "text,label\nok,1\ntoo,many,columns\njust one\n",
        {},
        [(3, "wrong_column_count"), (4, "wrong_column_count")],
    ),
    ("d.tsv", "text\tlabel\nok\t1\ntab\tin text\t1\n", {}, [(3, "wrong_column_count")]),
    (
        "d.csv",
        'text,label\n"bad"quote,1\n"never closed,1\nok,1\n',
        {},
        [(2, "malformed_csv"), (3, "malformed_csv")],
    ),
    (
        "d.jsonl",
        '{"text": "ok", "label": 1}\n{"text": "cut\n[1, 2]\n"str"\n',
        {},
        [(2, "malformed_json"), (3, "malformed_json"), (4, "malformed_json")],
    ),
    (
        "d.jsonl",
        '{"text": "ok", "label": 1}\n{"text": 5, "label": 1}\n{"text": "x", "label": [1]}\n',
        {},
        [(2, "invalid_text"), (3, "invalid_label")],
    ),
    (
        "d.csv",
        "text,label\na,pos\nb,neutral\nc,Pos\n",
        {"labels": ("pos", "neg")},
        [(3, "unknown_label"), (4, "unknown_label")],
    ),
    (
        "d.jsonl",
        '{"text": "a", "label": 1}\n{"text": "b", "label": 2}\n',
        {"labels": ("0", "1")},
        [(2, "unknown_label")],
    ),
]


@pytest.mark.parametrize(("name", "content", "settings", "expected"), BAD_ROWS)
def test_each_bad_row_is_rejected_with_its_line(name, content, settings, expected):
    parsed = parse(name, content, **settings)
    assert rejected(parsed) == expected
    for row in parsed.rows:
        if not row.accepted:
            record = json.loads(row.to_json())
            assert record == {
                "file": name,
                "line": row.line,
                "reason": row.reason,
                "content": row.content,
            }
            assert row.content
    assert len(parsed.rows) == len(accepted(parsed)) + len(expected)


def test_malformed_csv_record_does_not_swallow_the_rest_of_the_file():
    content = 'text,label\n"opens and never closes,1\n' + "".join(f"row {i},1\n" for i in range(50))
    parsed = parse("d.csv", content)
    assert rejected(parsed) == [(2, "malformed_csv")]
    assert len(accepted(parsed)) == 50


def test_rejected_content_is_truncated():
    parsed = parse("d.csv", "text,label\n" + "x" * 1000 + ",1,extra\n")
    (row,) = parsed.rows
    assert row.reason == "wrong_column_count"
    assert len(row.content) <= MAX_CONTENT_CHARS + 3
    assert row.content.startswith("xxxx")


# -- column errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("header", ["auto", "yes"])
def test_nonexistent_named_column_lists_the_header(header):
    with pytest.raises(InputError, match=r"no text column .*'body'.*\['sentence', 'label'\]"):
        parse("d.tsv", "sentence\tlabel\nx\t1\n", text_column="body", header=header)


def test_no_alias_in_header_lists_it():
    with pytest.raises(InputError, match=r"text\|sentence\|review\|message.*\['words', 'label'\]"):
        parse("d.csv", "words,label\nx,1\n", header="yes")
    with pytest.raises(InputError, match=r"label\|labels\|class\|category\|target"):
        parse("d.csv", "text,stars\nx,1\n")


def test_headerless_file_needs_indexes():
    with pytest.raises(InputError, match=r"no header row.*0-based index.*data.text_column"):
        parse("d.tsv", "ham\thello\n")


def test_column_index_out_of_range():
    with pytest.raises(InputError, match=r"label column 5 does not exist.*2 column"):
        parse("d.tsv", "ham\thello\n", text_column="1", label_column="5")


def test_jsonl_missing_key():
    with pytest.raises(InputError, match=r"no text key 'body'.*\['text', 'label'\]"):
        parse("d.jsonl", '{"text": "x", "label": 1}\n', text_column="body")
    with pytest.raises(InputError, match=r"no label key.*label\|labels"):
        parse("d.jsonl", '{"text": "x", "stars": 1}\n')


# -- reading a chunk at a time ----------------------------------------------------------------------
MESSY_CSV = (
    b"\xef\xbb\xbftext,label\r\n"  # 1: BOM, header, CRLF
    b'"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",pos\r\n'  # 2: 2-, 3- and 4-byte characters
    b'"first\r\nsecond\rthird\nfourth",neg\r\n'  # 3-6: quoted, over 4 lines (CRLF, CR, LF)
    b"\r\n"  # 7: blank
    b"bad \xff byte,pos\r"  # 8: invalid UTF-8, a lone CR
    b"plain,neg\n"  # 9
    b"\n\n"  # 10-11: blank
    b'"opens, never closes,pos\r\n'  # 12: malformed (its quote never closes)
    b"after,pos"  # 13: no final line ending
)
MESSY_JSONL = (
    b'\xef\xbb\xbf{"text": "\xc3\xa9t\xc3\xa9", "label": 1}\r\n'  # 1
    b"\r\n"  # 2: blank
    b'{"text": "x\xf0\x9f\x98\x80", "label": "0"}\r'  # 3: a lone CR
    b"{broken\n"  # 4: malformed_json
    b'{"text": "last", "label": 1}'  # 5: no final line ending
)
CHUNKED = [
    (
        "d.csv",
        MESSY_CSV,
        [
            (2, None, "caf\u00e9 \u20ac \U0001f600", "pos"),
            (3, None, "first\r\nsecond\rthird\nfourth", "neg"),
            (8, "invalid_utf8", "", ""),
            (9, None, "plain", "neg"),
            (12, "malformed_csv", "", ""),
            (13, None, "after", "pos"),
        ],
        3,
    ),
    (
        "d.jsonl",
        MESSY_JSONL,
        [
            (1, None, "\u00e9t\u00e9", "1"),
            (3, None, "x\U0001f600", "0"),
            (4, "malformed_json", "", ""),
            (5, None, "last", "1"),
        ],
        1,
    ),
]


@pytest.mark.parametrize(("name", "content", "expected", "blank_lines"), CHUNKED)
def test_chunk_boundaries_change_nothing(name, content, expected, blank_lines):
    """Every chunk size, from one byte up, splits the BOM, multi-byte characters, CR LF pairs and
    quoted multi-line records somewhere: rows, line numbers and blank lines stay the same."""
    for chunk_bytes in [*range(1, 18), CHUNK_BYTES]:
        reader = parsing.read_rows(name, io.BytesIO(content), data_config(), chunk_bytes)
        rows = [(row.line, row.reason, row.text, row.label) for row in reader]
        assert (rows, reader.blank_lines) == (expected, blank_lines), chunk_bytes
    parsed = parse(name, content)
    assert [(row.line, row.reason, row.text, row.label) for row in parsed.rows] == expected
    assert parsed.rows[2].content == ("bad \\xff byte,pos" if name == "d.csv" else "{broken")


def test_line_numbers_across_chunks():
    lines, expected = ["text,label\r\n"], []
    for i in range(300):
        expected.append((len(lines) + 1, f"row {i}" + ("\r\nmore\r\nend" if i % 7 == 0 else "")))
        if i % 7 == 0:  # a quoted record over three lines
            lines += [f'"row {i}\r\n', "more\r\n", f'end",{i % 2}\r\n']
        else:
            lines.append(f"row {i},{i % 2}\r\n")
    content = "".join(lines).encode()
    rows = list(parsing.read_rows("d.csv", io.BytesIO(content), data_config(), chunk_bytes=13))
    assert [(row.line, row.text) for row in rows] == expected
    assert all(row.accepted for row in rows)


class CountingHandle(io.BytesIO):
    """A binary file that records the size of each read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size=-1):
        data = super().read(size)
        self.reads.append(len(data))
        return data


def test_rows_come_while_the_file_is_read_a_chunk_at_a_time():
    content = ("text,label\n" + "".join(f"row {i},1\n" for i in range(20_000))).encode()
    handle = CountingHandle(content)
    rows = iter(parsing.read_rows("d.csv", handle, data_config(), chunk_bytes=1024))
    assert next(rows).text == "row 0"
    assert sum(handle.reads) <= 1024  # the first row came from the first chunk
    assert sum(1 for _ in rows) == 19_999
    assert max(handle.reads) <= 1024 and sum(handle.reads) == len(content)


def test_a_record_longer_than_the_limit_is_rejected_and_parsing_resumes():
    # A quote that never closes: the record is given up at the limit, not at the end of the file.
    content = 'text,label\n"never closed,1\n' + "".join(f"row {i},1\n" for i in range(20))
    reader = parsing.read_rows(
        "d.csv", io.BytesIO(content.encode()), data_config(), 8, max_record_chars=40
    )
    rows = list(reader)
    assert (rows[0].line, rows[0].reason, rows[0].content) == (
        2,
        "record_too_long",
        '"never closed,1',
    )
    assert [(row.line, row.text) for row in rows[1:]] == [(i + 3, f"row {i}") for i in range(20)]
    # Within the limit (by default, the whole file here) the same quote is malformed_csv.
    assert rejected(parse("d.csv", content)) == [(2, "malformed_csv")]

    # A single long line: rejected with its start as content; the CR LF that ends it is split by
    # the limit (41 characters a piece), and the next line still gets its own number.
    content = "text\tlabel\n" + "a" * 79 + "\t1\r\n" + "ok\t0\n"
    reader = parsing.read_rows("d.tsv", io.BytesIO(content.encode()), data_config(), 5, 40)
    rows = list(reader)
    assert [(row.line, row.reason) for row in rows] == [(2, "record_too_long"), (3, None)]
    assert rows[0].content == "a" * 79 + "\t1" and reader.blank_lines == 0

    content = '{"text": "' + "x" * 300 + '", "label": 1}\n{"text": "ok", "label": 1}\n'
    rows = list(parsing.read_rows("d.jsonl", io.BytesIO(content.encode()), data_config(), 7, 40))
    assert [(row.line, row.reason) for row in rows] == [(1, "record_too_long"), (2, None)]
    assert rows[0].content == '{"text": "' + "x" * 190 + "..."


# -- input discovery --------------------------------------------------------------------------------
def splits_of(input_config) -> list[tuple[str, str]]:
    return [(split.name, split.pattern) for split in input_config.splits]


def hash_buckets(output_config) -> list[tuple[str, int]]:
    return [(split.name, split.hash_buckets) for split in output_config.split_config.splits]


def test_input_split_config_single_file(tmp_path):
    write(tmp_path / "reviews.csv", "text,label\na,1\n")
    base, input_config, output_config = input_split_config(
        data_config(data=str(tmp_path / "reviews.csv"), eval_percent=25)
    )
    assert base == str(tmp_path)
    assert splits_of(input_config) == [("single_split", "reviews.csv")]
    assert hash_buckets(output_config) == [("train", 75), ("eval", 25)]


def test_input_split_config_train_and_eval_files(tmp_path):
    for name in ("train.tsv", "dev.tsv", "test.tsv", "README.md"):
        write(tmp_path / name, "sentence\tlabel\nx\t1\n")
    base, input_config, output_config = input_split_config(data_config(data=str(tmp_path)))
    assert base == str(tmp_path)
    assert splits_of(input_config) == [("train", "train.tsv"), ("eval", "dev.tsv")]
    assert not output_config.split_config.splits  # output splits = input splits


@pytest.mark.parametrize("eval_name", ["eval.jsonl", "validation.csv", "test.csv"])
def test_input_split_config_eval_file_names(tmp_path, eval_name):
    write(tmp_path / "train.csv", "text,label\nx,1\n")
    write(tmp_path / eval_name, "text,label\nx,1\n")
    _, input_config, _ = input_split_config(data_config(data=str(tmp_path)))
    assert splits_of(input_config) == [("train", "train.csv"), ("eval", eval_name)]


def test_input_split_config_hash_split_of_a_folder(tmp_path):
    write(tmp_path / "part-1.jsonl", '{"text": "x", "label": 1}\n')
    write(tmp_path / "part-2.jsonl", '{"text": "y", "label": 0}\n')
    write(tmp_path / "train.jsonl.bak", "ignored")
    base, input_config, output_config = input_split_config(data_config(data=str(tmp_path)))
    assert splits_of(input_config) == [("single_split", "*.jsonl")]
    assert hash_buckets(output_config) == [("train", 80), ("eval", 20)]


def test_input_split_config_folder_per_label(tmp_path):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            write(tmp_path / "imdb" / split / label / "1.txt", "x")
    write(tmp_path / "imdb" / "README", "about")
    _, input_config, output_config = input_split_config(data_config(data=str(tmp_path / "imdb")))
    assert splits_of(input_config) == [("train", "train/*/*.txt"), ("eval", "test/*/*.txt")]
    assert not output_config.split_config.splits
    _, input_config, output_config = input_split_config(
        data_config(data=str(tmp_path / "imdb" / "train"))
    )
    assert splits_of(input_config) == [("single_split", "*/*.txt")]
    assert hash_buckets(output_config) == [("train", 80), ("eval", 20)]


def test_input_split_config_spans(tmp_path):
    for span in ("1", "9", "10"):
        write(tmp_path / f"span-{span}" / "train.csv", "text,label\nx,1\n")
        write(tmp_path / f"span-{span}" / "dev.csv", "text,label\nx,1\n")
    write(tmp_path / "span-latest" / "other.csv", "text,label\nx,1\n")
    base, input_config, _ = input_split_config(data_config(data=str(tmp_path / "span-{SPAN}")))
    assert base == str(tmp_path)
    assert splits_of(input_config) == [
        ("train", "span-{SPAN}/train.csv"),
        ("eval", "span-{SPAN}/dev.csv"),
    ]
    base, input_config, _ = input_split_config(
        data_config(data=str(tmp_path / "span-{SPAN}" / "train.csv"))
    )
    assert (base, splits_of(input_config)) == (
        str(tmp_path),
        [("single_split", "span-{SPAN}/train.csv")],
    )


def test_missing_path_fails_when_the_pipeline_is_built(tmp_path):
    config = Config().replace(data={"data": str(tmp_path / "nowhere")})
    with pytest.raises(InputError, match=r"nowhere does not exist"):
        text_example_gen(config)
    config = Config().replace(data={"data": str(tmp_path / "span-{SPAN}")})
    with pytest.raises(InputError, match=r"no span of .*span-\{SPAN\}"):
        text_example_gen(config)


def test_text_example_gen_component(tmp_path):
    write(tmp_path / "train.csv", "text,label\nx,1\n")
    write(tmp_path / "dev.csv", "text,label\nx,1\n")
    config = Config().replace(data={"data": str(tmp_path), "labels": ("0", "1")})
    component = text_example_gen(config)
    properties = component.exec_properties
    assert properties["input_base"] == str(tmp_path)
    splits = json.loads(properties["input_config"])["splits"]
    assert [(split["name"], split["pattern"]) for split in splits] == [
        ("train", "train.csv"),
        ("eval", "dev.csv"),
    ]
    assert config_from_exec_properties({"custom_config": properties["custom_config"]}) == config
    assert config_from_exec_properties({"custom_config": {"config": config.to_json()}}) == config
    assert "examples" in component.outputs


# -- preflight --------------------------------------------------------------------------------------
def test_check_input_lists_split_files(tmp_path):
    write(tmp_path / "train.csv", "text,label\nx,1\n")
    write(tmp_path / "dev.csv", "text,label\nx,1\n")
    dc = data_config(data=str(tmp_path))
    base, input_config, _ = input_split_config(dc)
    assert check_input(dc, base, input_config) == {
        "train": [str(tmp_path / "train.csv")],
        "eval": [str(tmp_path / "dev.csv")],
    }


def test_check_input_no_files(tmp_path):
    from tfx.proto import example_gen_pb2

    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="train", pattern="span-3/train.csv")]
    )
    with pytest.raises(InputError, match=r"no input files for split 'train'.*span-3/train.csv"):
        check_input(data_config(), str(tmp_path), input_config)


@pytest.mark.parametrize(
    "content",
    ["", "\n\n", "text,label\n", "text,label\r\n\r\n"],
    ids=["zero", "blank", "header", "crlf"],
)
def test_check_input_empty_input(tmp_path, content):
    write(tmp_path / "data.csv", content)
    dc = data_config(data=str(tmp_path / "data.csv"))
    with pytest.raises(InputError, match=r"split 'single_split' is empty.*at least one data row"):
        check_input(dc, *input_split_config(dc)[:2])


def test_check_input_nonexistent_column(tmp_path):
    write(tmp_path / "data.tsv", "sentence\tlabel\nx\t1\n")
    dc = data_config(data=str(tmp_path / "data.tsv"), label_column="sentiment")
    with pytest.raises(InputError, match=r"no label column .*'sentiment'.*\['sentence', 'label'\]"):
        check_input(dc, *input_split_config(dc)[:2])


# -- the executor, for real (Beam) ------------------------------------------------------------------
def test_executor_fails_fast_before_beam(tmp_path):
    write(tmp_path / "in" / "train.csv", "words,label\nx,1\n")
    write(tmp_path / "in" / "dev.csv", "words,label\nx,1\n")
    config = Config().replace(data={"data": str(tmp_path / "in")})
    with pytest.raises(InputError, match=r"no text column .*\['words', 'label'\]"):
        run_executor(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.fixture(scope="module")
def messy_input(tmp_path_factory) -> Path:
    """train.csv (BOM, CRLF, quoted newlines, every CSV bad row) and dev.jsonl (int labels)."""
    folder = tmp_path_factory.mktemp("messy")
    write(
        folder / "train.csv",
        b"\xef\xbb\xbfid,text,label\r\n"
        b'1,"multi\r\nline, quoted",spam\r\n'  # lines 2-3
        b"2,plain,ham\r\n"  # line 4
        b"3,bad \xff byte,ham\r\n"  # line 5: invalid_utf8
        b"4,   ,ham\r\n"  # line 6: empty_text
        b"5,no label,\r\n"  # line 7: missing_label
        b"6,too,many,columns\r\n"  # line 8: wrong_column_count
        b"7,unknown,eggs\r\n"  # line 9: unknown_label
        b'8,"bad"quote,ham\r\n'  # line 10: malformed_csv
        b"\r\n"  # line 11: blank
        b'9,"said ""hi""",ham\r\n',  # line 12
    )
    write(
        folder / "dev.jsonl",
        '{"text": "first", "label": "spam"}\n'
        '{"message": "other key", "label": "ham"}\n'  # line 2: empty_text (no text key)
        "{broken\n"  # line 3: malformed_json
        '{"text": "last", "label": "ham"}\n',
    )
    return folder


@pytest.mark.slow
def test_executor_writes_examples_and_rejected_rows(messy_input, tmp_path, caplog):
    config = Config().replace(
        data={"data": str(messy_input), "labels": ("ham", "spam"), "max_rejected_fraction": 1.0}
    )
    with caplog.at_level(logging.INFO):
        examples = run_executor(config, tmp_path / "out")
    uri = examples.uri
    assert json.loads(examples.split_names) == ["train", "eval"]
    assert sorted(read_examples(uri, "train")) == [
        ("multi\r\nline, quoted", "spam"),
        ("plain", "ham"),
        ('said "hi"', "ham"),
    ]
    assert sorted(read_examples(uri, "eval")) == [("first", "spam"), ("last", "ham")]

    want = messy_rejections(messy_input)
    assert [(r["file"], r["line"], r["reason"]) for r in rejected_rows(uri, "train")] == want[
        "train"
    ]
    assert rejected_rows(uri, "train")[0]["content"] == "3,bad \\xff byte,ham"
    assert rejected_rows(uri, "train")[4]["content"] == "7,unknown,eggs"
    assert [(r["file"], r["line"], r["reason"]) for r in rejected_rows(uri, "eval")] == want["eval"]

    result = summary(uri)
    assert result["passed"] is True
    train, evaluation = result["splits"]["train"], result["splits"]["eval"]
    assert (train["rows_read"], train["rows_accepted"], train["rows_rejected"]) == (9, 3, 6)
    assert train["blank_lines_skipped"] == 1
    assert train["rejected_by_reason"] == {
        reason: 1
        for reason in (
            "empty_text",
            "invalid_utf8",
            "malformed_csv",
            "missing_label",
            "unknown_label",
            "wrong_column_count",
        )
    }
    assert (evaluation["rows_read"], evaluation["rows_accepted"], evaluation["rows_rejected"]) == (
        4,
        2,
        2,
    )
    assert evaluation["rejected_by_reason"] == {"empty_text": 1, "malformed_json": 1}
    for split in result["splits"].values():
        assert split["rows_read"] == split["rows_accepted"] + split["rows_rejected"]
    assert "rows_read == rows_accepted + rows_rejected" in caplog.text
    assert not Path(rejected_rows_uri(uri), "_counts").exists()
    assert (train["labels"], evaluation["labels"]) == ({"ham": 2, "spam": 1}, {"ham": 1, "spam": 1})
    assert read_rejected_summary(str(tmp_path / "nothing-here")) == {}


def run_component(config: Config, root: Path):
    """Runs the component alone through LocalDagRunner (TFX's launcher: a failed execution's
    output artifacts are deleted); returns the MLMD connection config."""
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    connection = metadata.sqlite_metadata_connection_config(str(root / "mlmd.sqlite"))
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(
            pipeline_name="text-example-gen-test",
            pipeline_root=str(root / "root"),
            components=[text_example_gen(config)],
            metadata_connection_config=connection,
            enable_cache=False,
        )
    )
    return connection


@pytest.mark.slow
def test_rejected_rows_survive_a_run_that_fails_on_the_threshold(messy_input, tmp_path):
    """Through TFX's launcher, which deletes the failed execution's Examples: every rejected row
    is read back from the folder the error names."""
    config = Config().replace(data={"data": str(messy_input), "labels": ("ham", "spam")})
    with pytest.raises(RejectedRowsError) as error:
        run_component(config, tmp_path)
    message = str(error.value)
    found = re.search(
        r"All rejected rows: (\S+)/Split-\*/rejected-\*\.jsonl; counts: (\S+)", message
    )
    folder, counts = found.groups()
    examples_uri = str(tmp_path / "root" / "TextExampleGen" / "examples" / "1")
    assert folder == rejected_rows_uri(examples_uri)
    assert not os.path.exists(examples_uri)  # the launcher removed the failed output...
    # ...but not the rejected rows beside it.
    for split, want in messy_rejections(messy_input).items():
        assert [
            (r["file"], r["line"], r["reason"]) for r in read_rejected_folder(folder, split)
        ] == want
    assert "split 'train': 6 of 9 rows rejected (66.67%)" in message
    assert "max_rejected_fraction=0.001" in message
    train_csv, dev_jsonl = str(messy_input / "train.csv"), str(messy_input / "dev.jsonl")
    assert f"invalid_utf8: 1 (e.g. {train_csv}:5: '3,bad \\\\xff byte,ham')" in message
    assert f"wrong_column_count: 1 (e.g. {train_csv}:8: '6,too,many,columns')" in message
    assert "split 'eval': 2 of 4 rows rejected" in message
    assert f"malformed_json: 1 (e.g. {dev_jsonl}:3: '{{broken')" in message
    result = json.loads(Path(counts).read_text("utf-8"))
    assert result == read_rejected_summary(examples_uri)
    assert result["passed"] is False
    rejected_counts = [result["splits"][split]["rows_rejected"] for split in ("train", "eval")]
    assert rejected_counts == [6, 2]


@pytest.mark.slow
def test_executor_folder_per_label(tmp_path):
    root = tmp_path / "imdb"
    write(root / "train" / "pos" / "0_9.txt", "A fine film.")
    write(root / "train" / "pos" / "1_8.txt", "Loved it,\nreally.")
    write(root / "train" / "neg" / "2_1.txt", b"\xef\xbb\xbfDull.")
    write(root / "train" / "neg" / "3_2.txt", b"broken \xc3")
    write(root / "train" / "urls_pos.txt", "not an example")  # beside the label folders
    write(root / "test" / "pos" / "0_10.txt", "Great.")
    write(root / "test" / "neg" / "1_3.txt", "Bad.")
    config = Config().replace(data={"data": str(root), "max_rejected_fraction": 0.5})
    examples = run_executor(config, tmp_path / "out")
    assert sorted(read_examples(examples.uri, "train")) == [
        ("A fine film.", "pos"),
        ("Dull.", "neg"),
        ("Loved it,\nreally.", "pos"),
    ]
    assert sorted(read_examples(examples.uri, "eval")) == [("Bad.", "neg"), ("Great.", "pos")]
    (bad,) = rejected_rows(examples.uri, "train")
    assert (bad["file"], bad["line"], bad["reason"]) == (
        str(root / "train" / "neg" / "3_2.txt"),
        1,
        "invalid_utf8",
    )
    assert summary(examples.uri)["splits"]["train"]["files"] == 4


@pytest.mark.slow
def test_executor_hash_split_of_a_headerless_file(tmp_path):
    rows = [f"review number {i}\t{i % 3}" for i in range(300)]
    write(tmp_path / "reviews.txt", "\n".join(rows) + "\n")
    config = Config().replace(
        data={
            "data": str(tmp_path / "reviews.txt"),
            "text_column": "0",
            "label_column": "1",
            "eval_percent": 30,
        }
    )
    examples = run_executor(config, tmp_path / "out")
    assert json.loads(examples.split_names) == ["train", "eval"]
    train = read_examples(examples.uri, "train")
    evaluation = read_examples(examples.uri, "eval")
    assert sorted(train + evaluation) == sorted(
        (f"review number {i}", str(i % 3)) for i in range(300)
    )
    assert 50 <= len(evaluation) <= 130  # ~30% of 300
    assert summary(examples.uri)["splits"]["single_split"]["rows_accepted"] == 300
    # The split is a hash of the example: the same on every run.
    again = run_executor(config, tmp_path / "again")
    assert sorted(read_examples(again.uri, "eval")) == sorted(evaluation)


@pytest.mark.slow
def test_executor_does_not_hold_the_examples_on_the_direct_runner(tmp_path, caplog):
    """TFX's reshuffle before each split is written (an in-memory GroupByKey of every example on
    the DirectRunner) runs as a pass-through there: the examples come out in the input order."""
    rows = [(f"review {i}", str(i % 2)) for i in range(40)]
    write(tmp_path / "in" / "train.csv", "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    write(tmp_path / "in" / "dev.csv", "text,label\nfirst,1\nsecond,0\n")
    config = Config().replace(data={"data": str(tmp_path / "in")})
    with caplog.at_level(logging.INFO, logger="components.core.beam_memory"):
        examples = run_executor(config, tmp_path / "out")
    assert read_examples(examples.uri, "train") == rows
    assert read_examples(examples.uri, "eval") == [("first", "1"), ("second", "0")]
    assert "['WriteSplit[train]/Shuffle', 'WriteSplit[eval]/Shuffle'] run without" in caplog.text


def write_spans(root: Path, rows_by_span: dict[int, int]) -> str:
    """span-N/train.csv (rows "sN t<i>" labelled i % 2) and span-N/dev.csv per span; returns the
    {SPAN} path."""
    for span, count in rows_by_span.items():
        folder = root / f"span-{span}"
        write(
            folder / "train.csv",
            "text,label\n" + "".join(f"s{span} t{i},{i % 2}\n" for i in range(count)),
        )
        write(folder / "dev.csv", f"text,label\ns{span} dev,0\n")
    return str(root / "span-{SPAN}")


@pytest.mark.slow
def test_pipeline_picks_the_newest_span(tmp_path):
    """A real LocalDagRunner run: the FileBasedExampleGen driver resolves {SPAN} to the newest."""
    from tfx.orchestration import metadata

    config = Config().replace(data={"data": write_spans(tmp_path / "data", {2: 3, 9: 4, 10: 5})})
    connection = run_component(config, tmp_path)
    with metadata.Metadata(connection) as store:
        (artifact,) = store.store.get_artifacts_by_type("Examples")
    assert artifact.custom_properties["span"].int_value == 10
    assert sorted(read_examples(artifact.uri, "train")) == [
        (f"s10 t{i}", str(i % 2)) for i in range(5)
    ]
    assert read_examples(artifact.uri, "eval") == [("s10 dev", "0")]
    assert summary(artifact.uri)["splits"]["train"]["rows_read"] == 5


@pytest.mark.slow
def test_executor_resolves_the_newest_span_when_no_driver_ran(tmp_path):
    """Open-source KFP skips FileBasedExampleGen's driver hook: the executor gets {SPAN} patterns."""
    config = Config().replace(data={"data": write_spans(tmp_path / "data", {3: 2, 11: 3})})
    properties = exec_properties(config)
    assert "span-{SPAN}/train.csv" in properties["input_config"]
    examples = run_executor(config, tmp_path / "out")
    assert examples.span == 11
    assert sorted(read_examples(examples.uri, "train")) == [
        (f"s11 t{i}", str(i % 2)) for i in range(3)
    ]
    assert read_examples(examples.uri, "eval") == [("s11 dev", "0")]


@pytest.mark.slow
def test_data_on_a_uri_filesystem(tmp_path, write_ram_spans):
    """Data behind a URI (gs:// on a cluster) is listed and read through tf.io.gfile."""
    write_ram_spans("ram://bucket/reviews")
    config = Config().replace(data={"data": "ram://bucket/reviews/span-{SPAN}"})
    base, input_config, _ = input_split_config(config.data)
    assert base == "ram://bucket/reviews"
    assert splits_of(input_config) == [
        ("train", "span-{SPAN}/train.csv"),
        ("eval", "span-{SPAN}/dev.csv"),
    ]
    examples = run_executor(config, tmp_path / "out")
    assert examples.span == 2
    assert sorted(read_examples(examples.uri, "train")) == [("s2 a", "1"), ("s2 b", "0")]


@pytest.mark.slow
def test_single_class_training_data_fails_naming_the_file_and_label(tmp_path):
    write(tmp_path / "in" / "train.csv", "text,label\n" + "".join(f"t{i},pos\n" for i in range(9)))
    write(tmp_path / "in" / "dev.csv", "text,label\nfirst,pos\nsecond,neg\n")
    config = Config().replace(data={"data": str(tmp_path / "in")})
    with pytest.raises(InputError) as error:
        run_executor(config, tmp_path / "out")
    message = str(error.value)
    assert message.startswith(
        f"every accepted row of {tmp_path / 'in' / 'train.csv'} has the label 'pos' (9 rows): "
        "a classifier needs at least two classes"
    )
    counts = re.search(r"\(counts: (\S+)\)$", message).group(1)
    result = json.loads(Path(counts).read_text("utf-8"))
    assert result["passed"] is False
    assert result["splits"]["train"]["labels"] == {"pos": 9}
    assert result["splits"]["eval"]["labels"] == {"neg": 1, "pos": 1}  # eval may have one class


# -- binary files -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, content, expected",
    [
        (
            "train.csv",
            gzip.compress(b"text,label\nx,1\n"),
            "looks like a binary file (a gzip archive: it starts with bytes 1f 8b), not text: "
            "expected CSV, TSV or JSON Lines",
        ),
        (
            "train.tsv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "looks like a binary file (a PNG image",
        ),
        (
            "data.txt",
            b"text\tlabel\nab\x00cd\t1\n",
            "looks like a binary file (NUL bytes at byte 13), not text",
        ),
        (
            "data.csv",
            bytes(range(128, 256)) * 4,
            "looks like a binary file (512 of its first 512 bytes are not valid UTF-8, the first at byte 0)",
        ),
        ("data.csv", "text,label\nx,1\n".encode("utf-16"), "is UTF-16 text"),
    ],
    ids=["gzip", "png", "nul", "invalid-utf8", "utf16"],
)
def test_a_binary_file_is_called_a_binary_file(tmp_path, name, content, expected):
    path = write(tmp_path / name, content)
    dc = data_config(data=str(path))
    with pytest.raises(InputError, match=re.escape(f"{path} {expected}")):
        check_input(dc, *input_split_config(dc)[:2])  # the preflight, before any Beam pipeline
    with pytest.raises(InputError, match=re.escape(expected)):
        parsing.parse_file(str(path), content, dc)  # as infer-schema reads


def test_a_few_invalid_bytes_in_text_are_rejected_rows_not_a_binary_file():
    content = b"text,label\n" + b"".join(
        f"caf\xe9 {i},1\n".encode("latin-1") if i % 4 == 0 else f"row {i},0\n".encode()
        for i in range(40)
    )
    parsed = parse("d.csv", content)
    assert rejected(parsed) == [(i + 2, "invalid_utf8") for i in range(0, 40, 4)]
    assert len(accepted(parsed)) == 30


# -- headerless two-column files --------------------------------------------------------------------
def test_headerless_text_first_file_is_read_without_flags(tmp_path, caplog):
    rows = [
        (f"the review number {i} says {'good' if i % 3 else 'bad'} things", str(i % 3 > 0))
        for i in range(60)
    ]
    path = write(tmp_path / "reviews.txt", "".join(f"{text}\t{label}\n" for text, label in rows))
    parsed = parse(str(path), path.read_bytes())
    assert accepted(parsed) == rows  # the first row is data, not a header
    assert parsed.columns.guessed == (
        f"{path}: no header; column 1 = label (2 distinct values in the first 60 rows: True, "
        "False), column 0 = text (set data.text_column and data.label_column to choose otherwise)"
    )
    dc = data_config(data=str(path))
    with caplog.at_level(logging.WARNING):
        check_input(dc, *input_split_config(dc)[:2])  # the executor's preflight says it
    assert parsed.columns.guessed in caplog.text
    # CSV too, label first; and header=no reads it the same way.
    csv_rows = "".join(f"{label},{text}\n" for text, label in rows)
    for header in ("auto", "no"):
        parsed = parse("d.csv", csv_rows, header=header)
        assert accepted(parsed) == rows and parsed.columns.label_index == 0
    # A row without a label is a rejected row, not a reason to doubt the columns.
    parsed = parse("d.csv", ",a text without its label\n" + csv_rows)
    assert rejected(parsed) == [(1, "missing_label")] and accepted(parsed) == rows


@pytest.mark.parametrize(
    "content, problem",
    [
        ("ham\thello\n", "it has 1 two-column row(s), fewer than 10"),
        ("".join(f"x{i % 2}\ty{i % 3}\n" for i in range(30)), "both columns look like labels"),
        (
            "".join(f"first text {i}\tsecond text {i}\n" for i in range(30)),
            "neither column looks like labels",
        ),
        (
            "msg\ty\n" + "".join(f"long text number {i}\t{i % 2}\n" for i in range(30)),
            "the first row's 'y' occurs once in column 1, so the first row may be a header",
        ),
    ],
    ids=["one-row", "two-label-columns", "two-text-columns", "unknown-header"],
)
def test_ambiguous_headerless_file_asks_for_column_indexes(content, problem):
    with pytest.raises(InputError) as error:
        parse("d.tsv", content)
    message = str(error.value)
    assert message.startswith("d.tsv has no header row (its first row is [")
    assert f"cannot be told apart with confidence: {problem} (first " in message
    assert message.endswith(
        "Give the columns as 0-based indexes: set data.text_column and data.label_column (and "
        "data.header=no); or data.header=yes if that first row is a header"
    )


def test_headerless_guess_reads_ahead_only_when_needed():
    """A file with a header (or with configured columns) still yields its first row from the
    first chunk; a headerless two-column file is read ahead SAMPLE_ROWS rows, then streamed."""
    content = "".join(f"message number {i}\t{'spam' if i % 5 else 'ham'}\n" for i in range(5000))
    handle = CountingHandle(content.encode())
    rows = iter(parsing.read_rows("d.tsv", handle, data_config(), chunk_bytes=1024))
    assert next(rows).text == "message number 0"
    assert sum(handle.reads) < len(content) // 4  # the sample, not the file
    assert sum(1 for _ in rows) == 4999


# -- the real datasets ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.realdata
def test_sst2_loads_unchanged(shared_data, tmp_path):
    config = Config().replace(data={"data": str(shared_data / "sst2"), "labels": ("0", "1")})
    base, input_config, _ = input_split_config(config.data)
    assert splits_of(input_config) == [("train", "train.tsv"), ("eval", "dev.tsv")]
    examples = run_executor(config, tmp_path / "out")
    train = read_examples(examples.uri, "train")
    evaluation = read_examples(examples.uri, "eval")
    assert len(train) == 67349
    assert len(evaluation) == 872
    assert {label for _, label in train} == {"0", "1"}
    assert sum(label == "1" for _, label in evaluation) == 444
    result = summary(examples.uri)["splits"]
    assert (result["train"]["rows_read"], result["train"]["rows_rejected"]) == (67349, 0)
    assert (result["eval"]["rows_read"], result["eval"]["rows_rejected"]) == (872, 0)


@pytest.mark.slow
@pytest.mark.realdata
def test_sms_spam_loads_with_all_defaults(sms_spam_settings, tmp_path, caplog):
    """The headerless, label-first SMS collection needs no flags: its columns are told apart."""
    path = sms_spam_settings["data"]
    lines = Path(path).read_text("utf-8").splitlines()
    direct = {
        label: sum(line.split("\t")[0] == label for line in lines) for label in ("ham", "spam")
    }
    assert direct == {"ham": 4827, "spam": 747}
    config = Config().replace(data={"data": path})
    with caplog.at_level(logging.WARNING):
        examples = run_executor(config, tmp_path / "out")
    assert (
        f"{path}: no header; column 0 = label (2 distinct values in the first 200 rows: ham, spam)"
        ", column 1 = text" in caplog.text
    )
    rows = read_examples(examples.uri, "train") + read_examples(examples.uri, "eval")
    assert len(rows) == len(lines) == 5574
    assert sum(label == "spam" for _, label in rows) == direct["spam"]
    assert sum(label == "ham" for _, label in rows) == direct["ham"]
    assert ("Ok lar... Joking wif u oni...", "ham") in rows
    split = summary(examples.uri)["splits"]["single_split"]
    assert (split["rows_read"], split["rows_accepted"], split["rows_rejected"]) == (5574, 5574, 0)


def test_default_config_reads_the_bundled_sample():
    dc = DataConfig()
    base, input_config, output_config = input_split_config(dc)
    assert [split.name for split in input_config.splits] == ["train", "eval"]
    assert not output_config.split_config.splits
    for split, files in check_input(dc, base, input_config).items():
        for path in files:
            parsed = parsing.parse_file(path, Path(path).read_bytes(), dc)
            assert parsed.rows, f"{split}: {path} has no rows"
            assert rejected(parsed) == [], f"{split}: {path} has rejected rows"
