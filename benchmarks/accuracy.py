"""SST-2 dev accuracy of the default checkpoint fine-tuned through the pipeline, on a CPU budget.

    .venv/bin/python -m benchmarks.accuracy [--rows 20000] [--train-steps 625] [--batch-size 32]
        [--max-seq-length 64]

Writes a temporary data folder named `sst2` (so the curated schemas/sst2 schema is picked) with
`train.tsv` = the header and the first --rows rows of ../shared/data/sst2/train.tsv and `dev.tsv`
(a symlink to the 872-row GLUE dev split), runs `bertpipe run` on it in a fresh run folder and
reads the accuracy of the Evaluator (on the whole dev split) from the run's report (report.json
beside the report.html that the run prints), with the wall time of each component. Nothing is
copied into the repo.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
from pathlib import Path

from benchmarks._common import SST2, mlmd_component_times, run_bertpipe, write_results
from components.core.artifacts import REPORT_FACTS_FILE

PUBLISHED = {
    "BERT-base": "93.2-93.5",
    "MiniLM-L12-H384": "93.0",
    "BERT-Small (L4/H512)": "89.7",
    "BERT-Mini (L4/H256)": "85.9",
    "BERT-Tiny (L2/H128)": "83.2",
    "source": "../shared/data/README.md (GLUE; Turc et al. 2019 for the small BERTs)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="first N SST-2 training rows")
    parser.add_argument("--train-steps", type=int, default=625)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--extra", default="", help="more bertpipe flags")
    parser.add_argument("--keep", action="store_true", help="keep the data and run folders")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench_accuracy_"))
    data = work / "sst2"
    data.mkdir()
    with (
        open(SST2 / "train.tsv", encoding="utf-8") as source,
        open(data / "train.tsv", "w", encoding="utf-8") as target,
    ):
        target.write(next(source))
        for i, line in enumerate(source):
            if i >= args.rows:
                break
            target.write(line)
    (data / "dev.tsv").symlink_to(SST2 / "dev.tsv")
    flags = [
        "--data",
        str(data),
        "--max-seq-length",
        str(args.max_seq_length),
        "--train-steps",
        str(args.train_steps),
        "--batch-size",
        str(args.batch_size),
        "--output",
        str(work / "run"),
        *args.extra.split(),
    ]
    result = run_bertpipe(flags, log_path=work / "bertpipe.log")
    output = "".join(result.pop("output"))
    result["mlmd_component_s"] = mlmd_component_times(work / "run" / "metadata.sqlite")
    report = re.search(r"^report: (.+)$", output, re.M)
    facts = {}
    if report:
        facts = json.loads((Path(report.group(1)).parent / REPORT_FACTS_FILE).read_text())
    metrics = facts.get("evaluation", {}).get("metrics", {})
    accuracy = metrics.get("sparse_categorical_accuracy")
    count = metrics.get("example_count")
    epochs = args.train_steps * args.batch_size / args.rows
    budget = {
        "train_rows": args.rows,
        "train_steps": args.train_steps,
        "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length,
        "epochs_over_rows": round(epochs, 3),
    }
    print(f"budget: {budget}")
    print(f"SST-2 dev accuracy: {accuracy} on {count if count else '?'} examples")
    print(f"wall {result['wall_s']} s; published: {PUBLISHED}")
    write_results(
        f"accuracy_rows{args.rows}_steps{args.train_steps}",
        {
            "budget": budget,
            "dev_accuracy": accuracy,
            "dev_examples": count,
            "published_dev_accuracy": PUBLISHED,
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
