"""The serving check's fresh process: loads the candidate as a model server does and calls every
signature it exports.

Run as `python -I fresh_process.py` by the serving check's executor (executor.py, through
process.py): it imports tensorflow and tensorflow_text first, then reads one line on stdin, the
JSON `{"request": REQUEST.json, "result": RESULT.json}` (the executor writes the request and
reads the result), so that it can be started before the model exists and do its imports while
the pipeline's earlier steps run; when stdin closes without a line it exits. It imports only
tensorflow and tensorflow_text (and checks that nothing of this project, TFX or transformers got
imported): what a model server has. Everything else it needs comes in the request, as data: the model
folder, the eval split's first serialized tf.Examples, the names of the signatures, inputs and
outputs (components/core), the graph's op types, the tolerance.

In order, stopping at the first failure (`CheckFailed`, written into the result with the
signature and the check it names):

1. the ops: every op type of the graph is registered once tensorflow_text is imported; the ones
   that TensorFlow alone does not register are recorded (what a server must link in);
2. the load (`tf.saved_model.load`, timed), then the first request (`serving_default`, batch 1,
   timed: what a server's first caller waits for without warmup);
3. the canaries: the transform signature gives the token length of each eval example; one eval
   text per length bucket (1-8, 9-16, 17-32, ... tokens up to max_seq_length: the longest of
   each), where the top bucket's is at max_seq_length (the longest eval text repeated until it
   is cut there, when none reaches it), and the texts that normalise to nothing (empty,
   whitespace and zero-width characters), which training refuses but a server gets;
4. each canary alone (batch 1) and all of them in one batch of 32 (padded with eval texts)
   through `serving_default` on raw strings and through `serving_examples` on the same texts as
   tf.Examples: the two signatures agree, batch 1 and batch 32 agree (both within the
   tolerance), every output is finite, probabilities sum to 1 and `label_id` is the most
   probable class; any other signature the model exports is called on the canaries too;
5. the steady latency, batch 1 and batch 32 (medians of a few calls).

The raw inputs of a signature are taken from the eval examples' features of the same names
(`text`, or `text` and `text_pair` for sentence pairs), an input named like the examples input
gets the serialized tf.Examples. The canaries of the length buckets come back as the warmup
requests: texts that were just shown to work.
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time

import numpy as np

EMPTY_TEXTS = ("", " \t\u200b\u0301 ")  # nothing left after normalisation
FIRST_BUCKET = 8


class CheckFailed(Exception):  # noqa: N818  (a finding, not a bug)
    """The candidate failed a check: `signature`, `check` (what should hold) and what was seen."""

    def __init__(self, signature: str, check: str, detail: str):
        super().__init__(f"{signature}: {check}: {detail}")
        self.finding = {"signature": signature, "check": check, "detail": detail}


# -- pure helpers (no TensorFlow) ----------------------------------------------------------------
def length_buckets(max_length: int) -> list[tuple[int, int]]:
    """(shortest, longest) token counts of each bucket: 1-8, 9-16, 17-32, ... up to max_length."""
    edges, edge = [], FIRST_BUCKET
    while edge < max_length:
        edges.append(edge)
        edge *= 2
    edges.append(max_length)
    return [(low + 1, high) for low, high in zip([0, *edges[:-1]], edges, strict=True)]


def longest_per_bucket(lengths: list[int], buckets: list[tuple[int, int]]) -> list[int | None]:
    """For each bucket, the index of the first of the longest examples in it (None: empty)."""
    chosen: list[int | None] = []
    for low, high in buckets:
        inside = [i for i, n in enumerate(lengths) if low <= n <= high]
        chosen.append(max(inside, key=lambda i: (lengths[i], -i)) if inside else None)
    return chosen


def largest_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(max |a - b|, the row where it is) of two [rows, classes] arrays."""
    difference = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max(axis=1)
    row = int(difference.argmax())
    return float(difference[row]), row


def preview(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


# -- the checks --------------------------------------------------------------------------------
class Check:
    """One run of the checks on one model (see the module docstring)."""

    def __init__(self, request: dict, tf):
        self.request, self.tf = request, tf
        self.names = request["names"]
        self.tolerance = float(request["tolerance"])
        self.examples = [
            tf.train.Example.FromString(base64.b64decode(r)) for r in request["records"]
        ]
        if not self.examples:
            raise ValueError("the request holds no eval examples")
        self.called: list[str] = []
        # What a load or a call of a broken model raises (anything else ends the process with
        # its traceback, which the executor reports as a failure too).
        self.errors = (tf.errors.OpError, ValueError, TypeError, KeyError, OSError)

    # rows: tf.train.Example protos; a signature's string inputs are read from them by name
    def feeds(self, name: str, signature, rows) -> dict:
        inputs = signature.structured_input_signature[1]
        feeds = {}
        for key, spec in inputs.items():
            if spec.dtype != self.tf.string or spec.shape.rank != 1:
                raise CheckFailed(name, "takes a batch of strings", f"input {key!r} is {spec}")
            if key == self.names["examples_input"]:
                values = [row.SerializeToString() for row in rows]
            else:
                values = [self.raw(name, row, key) for row in rows]
            feeds[key] = self.tf.constant(values, dtype=self.tf.string)
        return feeds

    def raw(self, name: str, row, key: str) -> bytes:
        feature = row.features.feature
        if key not in feature or not feature[key].bytes_list.value:
            raise CheckFailed(
                name,
                "takes raw features of the eval split or serialized tf.Examples",
                f"input {key!r} is neither a text feature of the eval examples"
                f" ({sorted(feature)}) nor {self.names['examples_input']!r}",
            )
        return feature[key].bytes_list.value[0]

    def call(self, name: str, rows) -> dict[str, np.ndarray]:
        signature = self.signatures[name]
        feeds = self.feeds(name, signature, rows)
        try:
            outputs = signature(**feeds)
        except self.errors as error:
            raise CheckFailed(name, f"answers a batch of {len(rows)}", first_line(error)) from None
        if name not in self.called:
            self.called.append(name)
        outputs = {key: value.numpy() for key, value in outputs.items()}
        self.check_outputs(name, outputs, rows)
        return outputs

    def text(self, row) -> str:
        key = self.names["text_feature"]
        values = row.features.feature[key].bytes_list.value if key in row.features.feature else []
        return values[0].decode("utf-8", "replace") if values else ""

    def check_outputs(self, name: str, outputs: dict[str, np.ndarray], rows) -> None:
        for key, value in sorted(outputs.items()):
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                row = int(np.argwhere(~np.isfinite(value))[0][0]) if value.ndim else 0
                raise CheckFailed(
                    name,
                    "every output is finite",
                    f"{key!r} is not, on {preview(self.text(rows[row]))}",
                )
        probabilities = outputs.get(self.names["probabilities"])
        if probabilities is None:
            return
        if probabilities.ndim != 2 or probabilities.shape[0] != len(rows):
            raise CheckFailed(
                name, "answers one row of probabilities per example", f"shape {probabilities.shape}"
            )
        error = np.abs(probabilities.astype(np.float64).sum(axis=1) - 1.0)
        if error.max() > self.tolerance:
            row = int(error.argmax())
            raise CheckFailed(
                name,
                "probabilities sum to 1",
                f"{float(probabilities[row].sum()):.7f} on {preview(self.text(rows[row]))}",
            )
        label_id = outputs.get(self.names["label_id"])
        if label_id is not None and (label_id != probabilities.argmax(axis=1)).any():
            row = int(np.argwhere(label_id != probabilities.argmax(axis=1))[0][0])
            raise CheckFailed(
                name,
                f"{self.names['label_id']} is the most probable class",
                f"{int(label_id[row])} on {preview(self.text(rows[row]))}",
            )

    # -- the steps ------------------------------------------------------------------------------
    def run(self, result: dict) -> None:
        tf, names = self.tf, self.names
        started = time.perf_counter()
        try:
            model = tf.saved_model.load(self.request["model_dir"])
        except self.errors as error:
            raise CheckFailed(
                names["load"], "loads with only tensorflow and tensorflow_text", first_line(error)
            ) from None
        load_s = time.perf_counter() - started
        self.signatures = dict(model.signatures)
        for key in ("default", "examples", "transform"):
            if names[key] not in self.signatures:
                raise CheckFailed(
                    names[key], "is exported", f"the model exports {sorted(self.signatures)}"
                )
        default, examples = names["default"], names["examples"]
        started = time.perf_counter()
        self.call(default, self.examples[:1])
        first_request_ms = 1000 * (time.perf_counter() - started)

        warmup, canaries = self.canaries()
        alone = np.concatenate(
            [self.call(default, [row])[names["probabilities"]] for row in canaries]
        )
        batch = self.batch(canaries)
        raw = self.call(default, batch)[names["probabilities"]]
        parsed = self.call(examples, batch)[names["probabilities"]]
        difference, row = largest_difference(raw, parsed)
        if difference > self.tolerance:
            raise CheckFailed(
                examples,
                f"gives the probabilities of {default} on the same texts as tf.Examples",
                f"they differ by {difference:.3g} on {preview(self.text(batch[row]))}"
                f" (at most {self.tolerance:g})",
            )
        difference, row = largest_difference(alone, raw[: len(canaries)])
        if difference > self.tolerance:
            raise CheckFailed(
                default,
                f"batch 1 and batch {len(batch)} agree",
                f"they differ by {difference:.3g} on {preview(self.text(canaries[row]))}"
                f" (at most {self.tolerance:g})",
            )
        for name in sorted(set(self.signatures) - set(self.called)):
            self.call(name, canaries)

        middle = warmup[len(warmup) // 2]["row"]
        repeats = self.request["repeats"]
        result["latency"] = {
            "load_s": round(load_s, 3),
            "first_request_ms": round(first_request_ms, 2),
            "batch_1_ms": self.median_ms(default, [middle], repeats),
            "batch_32_ms": self.median_ms(default, batch, max(1, repeats // 2)),
        }
        result["signatures"] = list(self.called)
        result["canaries"] = len(canaries)
        result["warmup"] = [
            {key: value for key, value in entry.items() if key != "row"} for entry in warmup
        ]

    def canaries(self):
        """(warmup entries, canary rows): one eval text per length bucket, then the empty ones."""
        names = self.names
        mask = self.call(names["transform"], self.examples)[names["attention_mask"]]
        lengths = [int(n) for n in mask.sum(axis=1)]
        buckets = length_buckets(int(mask.shape[1]))
        chosen = longest_per_bucket(lengths, buckets)
        warmup = []
        for (low, high), index in zip(buckets, chosen, strict=True):
            top = high == buckets[-1][1]
            if index is not None and (not top or lengths[index] == high):
                row, tokens, repeated = self.examples[index], lengths[index], False
            elif top:  # no eval text reaches max_seq_length: one repeated until it does
                longest = max(range(len(lengths)), key=lambda i: lengths[i])
                times = high // max(1, lengths[longest] - 2) + 1
                row = self.replaced(self.examples[longest], lambda t, k=times: " ".join([t] * k))
                tokens = int(self.call(names["transform"], [row])[names["attention_mask"]].sum())
                repeated = True
            else:
                continue
            inputs = self.signatures[names["default"]].structured_input_signature[1]
            warmup.append(
                {
                    "bucket": f"{low}-{high}",
                    "tokens": tokens,
                    "repeated": repeated,
                    "inputs": {
                        k: self.raw(names["default"], row, k).decode("utf-8") for k in inputs
                    },
                    "row": row,
                }
            )
        empty = [self.replaced(self.examples[0], lambda _, e=e: e) for e in EMPTY_TEXTS]
        return warmup, [entry["row"] for entry in warmup] + empty

    def replaced(self, row, change):
        """A copy of the tf.Example `row` with `change` applied to each raw text input."""
        copy = self.tf.train.Example()
        copy.CopyFrom(row)
        inputs = self.signatures[self.names["default"]].structured_input_signature[1]
        for key in inputs:
            value = copy.features.feature[key].bytes_list.value
            text = value[0].decode("utf-8") if value else ""
            del value[:]
            value.append(change(text).encode("utf-8"))
        return copy

    def batch(self, canaries):
        """The canaries, then eval examples, up to the batch size."""
        size = int(self.request["batch_size"])
        rows = list(canaries)
        while len(rows) < size:
            rows.extend(self.examples[: size - len(rows)])
        return rows[:size]

    def median_ms(self, name: str, rows, repeats: int) -> float:
        signature = self.signatures[name]
        feeds = self.feeds(name, signature, rows)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            signature(**feeds)
            times.append(1000 * (time.perf_counter() - started))
        return round(statistics.median(times), 2)


def registered_ops() -> set[str]:
    """The names of every op registered in this process (once tensorflow is imported)."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    buffer = pywrap_tf_session.TF_GetAllOpList()
    try:
        ops = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetBuffer(buffer))
    finally:
        pywrap_tf_session.TF_DeleteBuffer(buffer)
    return {op.name for op in ops.op}


def main(stdin) -> int:
    import tensorflow as tf

    core = registered_ops()
    import tensorflow_text

    text_ops = registered_ops() - core
    line = stdin.readline()
    if not line.strip():  # not needed after all (the run stopped or the step was cached)
        return 0
    paths = json.loads(line)
    request_path, result_path = paths["request"], paths["result"]
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    imported = sorted({m.split(".")[0] for m in sys.modules} & set(request["forbidden_modules"]))
    if imported:  # a bug of the check itself, not a finding about the model
        raise AssertionError(f"the fresh process imported {imported}")
    graph = set(request["graph_ops"])
    result: dict = {
        "passed": False,
        "tensorflow_version": tf.__version__,
        "tensorflow_text_version": tensorflow_text.__version__,
        "tensorflow_text_ops": sorted(graph & text_ops),
    }
    try:
        unknown = sorted(graph - core - text_ops)
        if unknown:
            raise CheckFailed(
                request["names"]["load"],
                "every op of the graph is registered by tensorflow or tensorflow_text",
                f"{unknown} are not",
            )
        Check(request, tf).run(result)
        result["passed"] = True
    except CheckFailed as failed:
        result["failure"] = failed.finding
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.stdin))
