"""Accuracy of the default checkpoint fine-tuned through the pipeline, on a CPU budget: SST-2 (one
text) or MRPC (sentence pairs).

    .venv/bin/python -m benchmarks.accuracy [--rows 20000] [--train-steps 625] [--batch-size 32]
        [--max-seq-length 64] [--learning-rate 1e-4]
    .venv/bin/python -m benchmarks.accuracy --dataset mrpc [--train-steps 384]
        [--max-seq-length 128] [--learning-rate 5e-5]

SST-2: writes a temporary data folder named `sst2` (so the curated schemas/sst2 schema is picked)
with `train.tsv` = the header and the first --rows rows of ../shared/data/sst2/train.tsv and
`dev.tsv` (a symlink to the 872-row GLUE dev split). MRPC: reads ../shared/data/mrpc as it is
(train.tsv: 4,076 pairs, test.tsv: 1,725, the eval split; schemas/mrpc), with --text-column
"#1 String" --text-pair-column "#2 String" --label-column Quality. Either way it runs `bertpipe
run` in a fresh run folder and reads the Evaluator's accuracy and the F1 of class 1 (on the whole
eval split) from the run's report (report.json beside the report.html that the run prints), with
the wall time of each component. Nothing is copied into the repo.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
from pathlib import Path

from benchmarks._common import SHARED_DATA, SST2, mlmd_component_times, run_bertpipe, write_results
from components.core.artifacts import REPORT_FACTS_FILE

MRPC = SHARED_DATA / "mrpc"
PUBLISHED = {
    "sst2": {
        "BERT-base": "93.2-93.5",
        "MiniLM-L12-H384": "93.0",
        "BERT-Small (L4/H512)": "89.7",
        "BERT-Mini (L4/H256)": "85.9",
        "BERT-Tiny (L2/H128)": "83.2",
        "source": "../shared/data/README.md (GLUE; Turc et al. 2019 for the small BERTs)",
    },
    "mrpc": {
        "BERT-base": "84.8 accuracy / 88.9 F1 (GLUE test)",
        "always '1'": "66.5 accuracy / 79.9 F1 (1,147 of the 1,725 test pairs)",
    },
}
# (dataset, setting) -> the default where the datasets differ.
DEFAULTS = {
    "sst2": {"train_steps": 625, "max_seq_length": 64, "learning_rate": 1e-4},
    "mrpc": {"train_steps": 384, "max_seq_length": 128, "learning_rate": 5e-5},
}
MRPC_FLAGS = [
    "--text-column", "#1 String",
    "--text-pair-column", "#2 String",
    "--label-column", "Quality",
]  # fmt: skip


def _sst2_folder(work: Path, rows: int) -> Path:
    """A folder `sst2` with the first `rows` training rows and the dev split."""
    data = work / "sst2"
    data.mkdir()
    with (
        open(SST2 / "train.tsv", encoding="utf-8") as source,
        open(data / "train.tsv", "w", encoding="utf-8") as target,
    ):
        target.write(next(source))
        for i, line in enumerate(source):
            if i >= rows:
                break
            target.write(line)
    (data / "dev.tsv").symlink_to(SST2 / "dev.tsv")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DEFAULTS), default="sst2")
    parser.add_argument("--rows", type=int, default=20_000, help="SST-2: first N training rows")
    parser.add_argument("--train-steps", type=int, help="default: 625 (SST-2), 384 (MRPC)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, help="default: 64 (SST-2), 128 (MRPC)")
    parser.add_argument("--learning-rate", type=float, help="default: 1e-4 (SST-2), 5e-5 (MRPC)")
    parser.add_argument("--extra", default="", help="more bertpipe flags")
    parser.add_argument("--keep", action="store_true", help="keep the data and run folders")
    args = parser.parse_args(argv)
    for name, value in DEFAULTS[args.dataset].items():
        if getattr(args, name) is None:
            setattr(args, name, value)

    work = Path(tempfile.mkdtemp(prefix="bench_accuracy_"))
    if args.dataset == "mrpc":
        data, data_flags, rows = MRPC, MRPC_FLAGS, 4076
    else:
        data, data_flags, rows = _sst2_folder(work, args.rows), [], args.rows
    flags = [
        "--data", str(data), *data_flags,
        "--max-seq-length", str(args.max_seq_length),
        "--train-steps", str(args.train_steps),
        "--batch-size", str(args.batch_size),
        "--learning-rate", str(args.learning_rate),
        "--output", str(work / "run"),
        *args.extra.split(),
    ]  # fmt: skip
    result = run_bertpipe(flags, log_path=work / "bertpipe.log")
    output = "".join(result.pop("output"))
    result["mlmd_component_s"] = mlmd_component_times(work / "run" / "metadata.sqlite")
    report = re.search(r"^report: (.+)$", output, re.M)
    facts = {}
    if report:
        facts = json.loads((Path(report.group(1)).parent / REPORT_FACTS_FILE).read_text())
    evaluation = facts.get("evaluation", {})
    metrics = evaluation.get("metrics", {})
    accuracy = metrics.get("sparse_categorical_accuracy")
    f1_class_1 = evaluation.get("per_class", {}).get("1", {}).get("f1_score")
    count = metrics.get("example_count")
    budget = {
        "dataset": args.dataset,
        "train_rows": rows,
        "train_steps": args.train_steps,
        "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length,
        "learning_rate": args.learning_rate,
        "epochs_over_rows": round(args.train_steps * args.batch_size / rows, 3),
    }
    print(f"budget: {budget}")
    print(
        f"{args.dataset} eval accuracy: {accuracy}, F1 of class 1: {f1_class_1} on"
        f" {count if count else '?'} examples; blessed: {facts.get('blessed')}"
    )
    print(f"wall {result['wall_s']} s; published: {PUBLISHED[args.dataset]}")
    prefix = "accuracy" if args.dataset == "sst2" else f"accuracy_{args.dataset}"
    write_results(
        f"{prefix}_rows{rows}_steps{args.train_steps}",
        {
            "budget": budget,
            "dev_accuracy": accuracy,
            "f1_class_1": f1_class_1,
            "dev_examples": count,
            "blessed": facts.get("blessed"),
            "published": PUBLISHED[args.dataset],
            **result,
        },
    )
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if accuracy is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
