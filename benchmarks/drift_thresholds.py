"""The drift checks' distances between spans of the real datasets: what the default thresholds
(components/core/config.py, `drift`) must let through, and what they must stop.

    .venv/bin/python -m benchmarks.drift_thresholds [--max-seq-length 128]

Spans are cut from the files in their order, as a schedule would deliver them:
  - SST-2: 8 spans of 2,000 training sentences, and two of 400 dev sentences;
  - SMS Spam: 3 spans of 1,858 messages, every fifth one in eval;
  - the bundled sample: two spans of 240 train and 60 eval reviews;
and three drifts: the issue's span of 2,000 SST-2 sentences 95% of them label 0 (and 400 dev
sentences likewise) against span 1; SST-2's dev sentences against its training phrases (longer
texts); SMS messages against SST-2 sentences (other data). Each pair's drift statistics are
computed as the drift step computes them (components/drift/statistics.py, the product's
tokenizer on the default checkpoint's vocabulary) and compared with TFDV's comparators, as
TFX's DistributionValidator does; the distances are printed and written to
benchmarks/results/drift_thresholds_L<max_seq_length>.json.
"""

from __future__ import annotations

import argparse
import csv

import numpy as np

from benchmarks._common import REPO, SHARED_DATA, SST2, write_results
from components.core.config import DriftConfig
from components.core.drift import CHECKS, L_INFINITY
from components.drift.statistics import compute_statistics, drift_schema
from components.transform.tokenizer import BertTokenizer


def read_rows(path, text: int, label: int, header: bool, delimiter: str = "\t") -> list:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE))
    return [(r[text], r[label]) for r in rows[int(header) :] if len(r) > max(text, label)]


def sample_rows(split: str) -> list:
    with open(REPO / "pipeline" / "sample_data" / f"{split}.csv", encoding="utf-8") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle)]


class Measure:
    """Drift statistics of rows, and the distances of every check between two of them."""

    def __init__(self, max_seq_length: int):
        self.tokenizer = BertTokenizer.from_checkpoint("", max_seq_length)
        self.schema = drift_schema()
        for feature in self.schema.feature:
            check = next(c for c in CHECKS if c.feature == feature.name)
            comparator = feature.drift_comparator
            measure = (
                comparator.infinity_norm
                if check.measure == L_INFINITY
                else comparator.jensen_shannon_divergence
            )
            measure.threshold = 1.0  # measured, never exceeded

    def statistics(self, rows: list):
        import tensorflow as tf  # after components (imported above) set up its environment

        parts = {"word_pieces": [], "unknown_pieces": [], "truncated": []}
        for start in range(0, len(rows), 512):
            texts = tf.constant([text for text, _ in rows[start : start + 512]])
            out = self.tokenizer.tokenize(texts)
            for name, values in parts.items():
                values.append(out[name].numpy())
        columns = {name: np.concatenate(values) for name, values in parts.items()}
        return compute_statistics(
            [label.encode("utf-8") for _, label in rows],
            columns["word_pieces"],
            columns["unknown_pieces"],
            columns["truncated"],
        )

    def distances(self, baseline, current) -> dict[str, float]:
        import tensorflow_data_validation as tfdv

        anomalies = tfdv.validate_statistics(current, self.schema, previous_statistics=baseline)
        return {
            ".".join(info.path.step): round(info.drift_measurements[0].value, 4)
            for info in anomalies.drift_skew_info
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args()
    measure = Measure(args.max_seq_length)
    pairs: dict[str, dict] = {}

    def compare(name: str, baseline: list, current: list) -> None:
        pairs[name] = measure.distances(measure.statistics(baseline), measure.statistics(current))
        print(f"{name}: {pairs[name]}")

    sst_train = read_rows(SST2 / "train.tsv", 0, 1, header=True)
    sst_dev = read_rows(SST2 / "dev.tsv", 0, 1, header=True)
    spans = [sst_train[i * 2000 : (i + 1) * 2000] for i in range(8)]
    for i in range(7):
        compare(f"SST-2 train span {i + 1} -> {i + 2}", spans[i], spans[i + 1])
    compare("SST-2 dev span 1 -> 2 (400 each)", sst_dev[:400], sst_dev[400:800])
    later = sst_train[16000:40000]
    zeros, ones = ([r for r in later if r[1] == label] for label in ("0", "1"))
    compare("SST-2 train span 1 -> 95% label 0", spans[0], zeros[:1900] + ones[:100])
    dev_zeros, dev_ones = ([r for r in sst_dev[400:] if r[1] == label] for label in ("0", "1"))
    compare("SST-2 dev span 1 -> 95% label 0", sst_dev[:400], dev_zeros[:380] + dev_ones[:20])
    compare("SST-2 train phrases -> dev sentences", spans[0], sst_dev[:400])

    sms = read_rows(SHARED_DATA / "sms_spam" / "SMSSpamCollection", 1, 0, header=False)
    size = len(sms) // 3
    sms_spans = [sms[i * size : (i + 1) * size] for i in range(3)]
    for i in range(2):
        for split, keep in (("train", lambda j: j % 5), ("eval", lambda j: not j % 5)):
            before, after = ([r for j, r in enumerate(s) if keep(j)] for s in sms_spans[i : i + 2])
            compare(f"SMS {split} span {i + 1} -> {i + 2}", before, after)
    compare("SST-2 train span 1 -> SMS messages", spans[0], sms_spans[0])

    train, evaluation = sample_rows("train"), sample_rows("eval")
    compare("sample train span 1 -> 2 (240 each)", train[:240], train[240:])
    compare("sample eval span 1 -> 2 (60 each)", evaluation[:60], evaluation[60:])

    defaults = DriftConfig()
    thresholds = {check.feature: getattr(defaults, check.setting) for check in CHECKS}
    print(f"default thresholds: {thresholds}")
    write_results(
        f"drift_thresholds_L{args.max_seq_length}",
        {"max_seq_length": args.max_seq_length, "thresholds": thresholds, "distances": pairs},
    )


if __name__ == "__main__":
    main()
