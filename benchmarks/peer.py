"""The peer a user would pick instead: Hugging Face transformers on PyTorch, in its own venv.

    .venv/bin/python -m benchmarks.peer --setup      # create/check the peer venv, then exit

The peer runs in a separate virtual environment (never the project's): `torch==2.13.0` (a CPU
build) and `transformers==4.54.1`, created on first use at --peer-venv (default
$TMPDIR/bertpipe-peer-venv) with `python3 -m venv` and pip. The benchmarks (training.py,
serving.py) start `Peer()`, a worker process in that venv that loads
`BertForSequenceClassification` from the same checkpoint folder and answers timing requests
(JSON lines on stdin/stdout), so that the project's variants and the peer's take turns within one
benchmark run on the same machine. `threads` sets torch's intra-op threads (default: all cores);
on a machine shared with other processes, PyTorch's OpenMP threads wait for each other at every
op when one of them is descheduled, which TensorFlow's thread pool does not, so the benchmarks
can run both with one thread (`--threads 1`) for a like-for-like comparison there.

This file is also the worker itself (`python peer.py --worker`, run by the peer venv's Python):
it imports only torch, transformers and the standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER_PACKAGES = ("torch==2.13.0", "transformers==4.54.1")
DEFAULT_VENV = Path(tempfile.gettempdir()) / "bertpipe-peer-venv"


# -- the driver side (runs in the project's venv) ---------------------------------------------------
def add_peer_arguments(parser) -> None:
    """--peer-venv and --threads, for the benchmarks that run the peer."""
    parser.add_argument("--peer-venv", default=str(DEFAULT_VENV))
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads for TensorFlow (intra- and inter-op) and the peer's torch; 0 = all cores",
    )


def use_threads(threads: int) -> None:
    """Limits TensorFlow's thread pools to `threads` (0: leave them); before any TF op runs."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def ensure_venv(venv: Path | str = DEFAULT_VENV) -> Path:
    """The peer venv's python, creating the venv and installing PEER_PACKAGES when missing."""
    venv = Path(venv)
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import torch, transformers; print(torch.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"setting up the peer venv at {venv} ({', '.join(PEER_PACKAGES)})", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
    subprocess.run(check, check=True, capture_output=True)
    return python


class Peer:
    """A worker process in the peer venv; `call(op, **args)` sends one request, returns the reply."""

    def __init__(
        self,
        checkpoint: str,
        num_labels: int = 2,
        venv: Path = DEFAULT_VENV,
        threads: int = 0,
        classifier: dict | None = None,
        env: dict | None = None,
    ):
        python = ensure_venv(venv)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": "",
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        self.info = self.call(
            "load",
            checkpoint=checkpoint,
            num_labels=num_labels,
            threads=threads,
            classifier=classifier,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def call(self, op: str, **args) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the peer worker stopped (exit code {self.process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"peer worker: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=60)


# -- the worker side (runs in the peer venv) --------------------------------------------------------
def _worker() -> None:  # pragma: no cover  (runs in the peer venv)
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    state: dict = {}

    def load(checkpoint: str, num_labels: int, threads: int = 0, classifier: dict | None = None):
        """`classifier`: {"kernel": [hidden][labels], "bias": [labels]}, the serving model's
        classifier head (Keras layout), so that both sides compute the same probabilities."""
        torch.set_num_threads(threads or os.cpu_count() or 1)
        torch.manual_seed(0)
        state["checkpoint"] = checkpoint
        state["tokenizer"] = BertTokenizerFast.from_pretrained(checkpoint)
        state["num_labels"] = num_labels
        state["classifier"] = classifier
        state["models"] = {}
        return {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        }

    def model(kind: str):
        if kind not in state["models"]:
            m = BertForSequenceClassification.from_pretrained(
                state["checkpoint"], num_labels=state["num_labels"]
            )
            if kind == "serve" and state["classifier"] is not None:
                with torch.no_grad():
                    kernel = torch.tensor(state["classifier"]["kernel"]).T
                    m.classifier.weight.copy_(kernel)
                    m.classifier.bias.copy_(torch.tensor(state["classifier"]["bias"]))
            optimizer = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)
            state["models"][kind] = (m, optimizer)
        return state["models"][kind]

    def serve(
        texts: list[list[str]],
        padding: str,
        max_length: int,
        bf16: bool = False,
        probabilities: bool = False,
    ):
        """Seconds (wall, and this process's CPU) per batch: tokenize (padding 'longest' or
        'max_length') + forward; with `probabilities`, also each batch's probabilities."""
        m, _ = model("serve")
        m.eval()
        times, cpu, outputs = [], [], []
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            for batch in texts:
                started, started_cpu = time.perf_counter(), time.process_time()
                encoded = state["tokenizer"](
                    batch,
                    padding=padding,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                logits = m(**encoded).logits
                result = torch.softmax(logits.float(), dim=-1).numpy()
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
                if probabilities:
                    outputs.append(result.tolist())
        reply = {"seconds": times, "cpu_seconds": cpu}
        if probabilities:
            reply["probabilities"] = outputs
        return reply

    def train(batches: list[dict], precision: str):
        """Seconds (wall, CPU) per training step (forward, loss, backward, AdamW step) and the
        losses, on exactly the batches given (each already padded as the caller wants it)."""
        m, optimizer = model(f"train-{precision}")
        m.train()
        times, cpu, losses = [], [], []
        for batch in batches:
            tensors = {k: torch.tensor(v) for k, v in batch.items()}
            started, started_cpu = time.perf_counter(), time.process_time()
            with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                loss = m(**tensors).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            losses.append(float(loss))
        return {"seconds": times, "cpu_seconds": cpu, "losses": losses}

    ops = {"load": load, "serve": serve, "train": train}
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            reply = ops[op](**request)
        except Exception as exc:  # noqa: BLE001  (sent back to the driver, which raises it)
            reply = {"error": f"{op}: {type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup", action="store_true", help="create/check the peer venv")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args(argv)
    if args.worker:
        _worker()
        return 0
    print(ensure_venv(args.peer_venv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
