"""Choosing the Keras mixed-precision policy for training, from the configuration and the hardware.

`select_precision(config.train, strategy)` returns a `Precision` (the Keras policy name and why it
was chosen). `mixed_precision=auto` resolves to

- `mixed_bfloat16` on a TPU (its matrix units compute in bfloat16);
- `mixed_bfloat16` on a CPU with native bfloat16 instructions: `avx512_bf16` (AVX-512 BF16 dot
  products: Intel Cooper Lake and later, AMD Zen 4 and later) or `amx_bf16` (Intel AMX tiles:
  Sapphire Rapids and later), read from the CPU flags at run time, and only while TensorFlow's
  oneDNN kernels are on (TF_ENABLE_ONEDNN_OPTS is not 0): oneDNN is what runs bfloat16 matrix
  products on those instructions; TensorFlow's fallback (Eigen) kernels emulate bfloat16 with
  conversions and are slower than float32;
- `float32` everywhere else (a CPU without them, e.g. AVX2 only, emulates bfloat16 and gets
  slower; on a GPU, float16/bfloat16 is left to an explicit `--mixed-precision`).

Under a mixed policy the model keeps its classification layer and softmax in float32 (model.py),
the variables stay float32 and the exported model is float32 (model.serving_copy).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import tensorflow as tf

from components.core.config import PRECISIONS, TrainConfig
from components.trainer.strategy import is_tpu

# CPU flags (as /proc/cpuinfo names them) that mean native bfloat16 matrix arithmetic.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = "/proc/cpuinfo"


class Precision(NamedTuple):
    """The Keras policy the Trainer uses, and why."""

    policy: str
    reason: str


def cpu_flags(cpuinfo: str = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (the first processor's), or None when the file
    cannot be read (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def native_bf16_flags(flags: frozenset[str] | None) -> tuple[str, ...]:
    """Which of NATIVE_BF16_FLAGS the CPU has."""
    return tuple(flag for flag in NATIVE_BF16_FLAGS if flags and flag in flags)


def onednn_enabled(environ=os.environ) -> bool:
    """Whether TensorFlow uses its oneDNN kernels (on by default on Linux x86; off with
    TF_ENABLE_ONEDNN_OPTS=0)."""
    return environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip() not in ("0", "false", "False")


def auto_precision(
    *, tpu: bool, gpus: int, flags: frozenset[str] | None, onednn: bool = True
) -> Precision:
    """What `mixed_precision=auto` means on this hardware (see the module docstring)."""
    if tpu:
        return Precision("mixed_bfloat16", "auto: TPU")
    if gpus:
        return Precision("float32", f"auto: {gpus} GPU(s); pass --mixed-precision to change")
    if flags is None:
        return Precision("float32", f"auto: the CPU's features cannot be read ({CPUINFO})")
    native = native_bf16_flags(flags)
    if not native:
        return Precision(
            "float32",
            f"auto: the CPU has no native bfloat16 ({' or '.join(NATIVE_BF16_FLAGS)} not among"
            " its flags), bfloat16 would be emulated",
        )
    if not onednn:
        return Precision(
            "float32",
            f"auto: the CPU has {', '.join(native)}, but TF_ENABLE_ONEDNN_OPTS=0 turns off the"
            " oneDNN kernels that use it",
        )
    return Precision("mixed_bfloat16", f"auto: the CPU has native bfloat16 ({', '.join(native)})")


def select_precision(train_config: TrainConfig, strategy: tf.distribute.Strategy) -> Precision:
    """The Keras policy for training: the configured one, or for 'auto' the hardware's choice."""
    requested = train_config.mixed_precision
    if requested not in PRECISIONS:
        raise ValueError(f"unknown mixed_precision {requested!r}; expected one of {PRECISIONS}")
    if requested != "auto":
        return Precision(requested, "configured (--mixed-precision)")
    return auto_precision(
        tpu=is_tpu(strategy),
        gpus=len(tf.config.list_logical_devices("GPU")),
        flags=cpu_flags(),
        onednn=onednn_enabled(),
    )
