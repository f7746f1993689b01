"""A checkpoint's weight file, checked from its header alone: no tensor is loaded.

A Hugging Face BERT folder carries its weights as `model.safetensors`, `tf_model.h5` or
`pytorch_model.bin`. `check_weights` looks at the file that transformers' (4.54)
`TFBertModel.from_pretrained` would load, in milliseconds, so that a broken file fails before any
component runs instead of in the Trainer's traceback:

- `model.safetensors` (loaded first when present): the 8-byte little-endian header length and the
  JSON header parse, the header's format is one that TFBertModel loads ('pt' or 'tf'), and the
  tensors' byte ranges cover the rest of the file exactly (a truncated copy fails here);
- `tf_model.h5` (what `TFBertModel.save_pretrained` writes): it opens as HDF5 (h5py reads the
  superblock, which records the file's length, and the group tree, no dataset values);
- `pytorch_model.bin` alone is refused: loading it needs torch, which this project does not
  install, and a pickle file runs code when loaded; the message gives a command that converts it
  to safetensors where torch is installed.

In either readable format the BERT encoder's tensors must be there, with the shapes that
`config.json` implies (vocab_size, hidden_size, num_hidden_layers, intermediate_size,
max_position_embeddings, type_vocab_size; BertConfig's defaults where it is silent). Names vary
between real checkpoints, so they are matched loosely: any prefix ('bert.', 'bert/tf_bert_model/
bert/'), '.' or '/' separators, TF's `layer_._N`, `kernel`, `gamma`/`beta` and `:0` suffixes; the
shapes are matched strictly (a TF kernel is the transposed PyTorch weight). The pooler is optional
(the Trainer then classifies from the [CLS] hidden state); tensors outside the encoder (heads,
buffers) are ignored. h5py comes with TensorFlow.
"""

from __future__ import annotations

import json
import os
import re

import h5py

from components.core.errors import UserError

SAFETENSORS_FILE = "model.safetensors"
H5_FILE = "tf_model.h5"
PYTORCH_FILE = "pytorch_model.bin"
# In the order TFBertModel.from_pretrained looks for them (local folder, no from_pt).
LOADABLE_FILES = (SAFETENSORS_FILE, H5_FILE)
# The safetensors formats whose tensor names TFBertModel maps ('pt') or reads as they are ('tf').
SAFETENSORS_FORMATS = ("pt", "tf")
# config.json's sizes and BertConfig's defaults for them.
SIZE_DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}
_ROOTS = ("embeddings", "encoder", "pooler")
_RENAMED = {"kernel": "weight", "gamma": "weight", "beta": "bias"}
_LAYER = re.compile(r"encoder\.layer\.(\d+)\.")


class WeightsError(UserError, ValueError):
    """A checkpoint's weight file that TFBertModel cannot load as the config.json describes."""


def shown_file(folder: str, name: str) -> str:
    """How messages name the file `name` of the checkpoint folder shown as `folder`."""
    return f"{folder.rstrip('/')}/{name}"


def encoder_sizes(settings: dict, shown_config: str) -> dict[str, int]:
    """The sizes of SIZE_DEFAULTS from config.json's `settings` (raises WeightsError unless each
    is a positive integer)."""
    sizes = {name: settings.get(name, default) for name, default in SIZE_DEFAULTS.items()}
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WeightsError(f"{shown_config} has {name} {value!r}: expected a positive integer")
    return sizes


def check_weights(folder: str, settings: dict, shown_as: str) -> None:
    """Raises WeightsError unless the weight file TFBertModel would load from `folder` holds the
    BERT encoder that config.json's `settings` describe (see the module docstring)."""
    present = set(os.listdir(folder))
    name = next((name for name in LOADABLE_FILES if name in present), None)
    if name is None:
        if PYTORCH_FILE in present:
            raise WeightsError(_pytorch_only(shown_as))
        return  # no weights at all: validate_checkpoint says so
    shown = shown_file(shown_as, name)
    path = os.path.join(folder, name)
    shapes = safetensors_shapes(path, shown) if name == SAFETENSORS_FILE else h5_shapes(path, shown)
    sizes = encoder_sizes(settings, shown_file(shown_as, "config.json"))
    check_encoder_shapes(shapes, sizes, shown)


def _pytorch_only(shown_as: str) -> str:
    folder = shown_as.rstrip("/")
    return (
        f"checkpoint {shown_as!r} has only PyTorch weights ({PYTORCH_FILE}), which this project"
        " cannot load: that needs torch, which it does not install, and a pickle file runs code"
        " when loaded; convert it to model.safetensors on a machine with torch (pip install torch"
        f' transformers): python -c "from transformers import BertModel; BertModel.from_pretrained'
        f"('{folder}').save_pretrained('{folder}', safe_serialization=True)\""
    )


# -- reading headers ------------------------------------------------------------------------------
def safetensors_shapes(path: str, shown: str) -> dict[str, tuple[int, ...]]:
    """{tensor name: shape} from a safetensors header, after checking that the header parses and
    that the tensors' byte ranges cover the rest of the file exactly."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little") if size >= 8 else size
        if size < 8 or length > size - 8:
            raise WeightsError(
                f"{shown} is cut short: its header alone would need {length} bytes after the"
                f" first 8, the file has {size} bytes in all; copy or download it again"
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(
            f"{shown} is not a safetensors file: its header is not JSON ({error})"
        ) from error
    if not isinstance(header, dict):
        raise WeightsError(f"{shown} is not a safetensors file: its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    saved_as = metadata.get("format") if isinstance(metadata, dict) else None
    if saved_as not in SAFETENSORS_FORMATS:
        raise WeightsError(
            f"{shown} has the metadata format {saved_as!r}: TFBertModel loads safetensors saved"
            f" by transformers' save_pretrained with format {' or '.join(SAFETENSORS_FORMATS)}"
        )
    shapes, end = {}, 0
    for name, entry in header.items():
        try:
            shapes[name] = tuple(int(d) for d in entry["shape"])
            end = max(end, int(entry["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError) as error:
            raise WeightsError(
                f"{shown} is not a safetensors file: tensor {name!r} has no shape and"
                f" data_offsets in its header ({error!r})"
            ) from error
    if end != size - 8 - length:
        state = "is cut short" if end > size - 8 - length else "has bytes after its last tensor"
        raise WeightsError(
            f"{shown} {state}: its header places tensors up to byte {end} after the header, the"
            f" file holds {size - 8 - length}; copy or download it again"
        )
    return shapes


def h5_shapes(path: str, shown: str) -> dict[str, tuple[int, ...]]:
    """{dataset path: shape} of an HDF5 file, reading its group tree and no dataset values."""
    shapes: dict[str, tuple[int, ...]] = {}

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            shapes[name] = tuple(int(d) for d in item.shape)

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(visit)
    except (OSError, RuntimeError, ValueError) as error:
        raise WeightsError(
            f"{shown} cannot be opened as HDF5 ({error}); copy or download it again"
        ) from error
    return shapes


# -- the encoder's shapes -------------------------------------------------------------------------
def encoder_tensors(layers: int) -> dict[str, tuple[str, ...]]:
    """{tensor name as in transformers' BertModel: its shape as config.json sizes}, the optional
    pooler included."""
    embeddings = {
        "word_embeddings": ("vocab_size", "hidden_size"),
        "position_embeddings": ("max_position_embeddings", "hidden_size"),
        "token_type_embeddings": ("type_vocab_size", "hidden_size"),
    }
    tensors = {f"embeddings.{name}.weight": dims for name, dims in embeddings.items()}
    tensors.update(_norm("embeddings.LayerNorm"))
    hidden = ("hidden_size", "hidden_size")
    for i in range(layers):
        layer = f"encoder.layer.{i}"
        for name in ("attention.self.query", "attention.self.key", "attention.self.value"):
            tensors.update(_dense(f"{layer}.{name}", hidden))
        tensors.update(_dense(f"{layer}.attention.output.dense", hidden))
        tensors.update(_norm(f"{layer}.attention.output.LayerNorm"))
        tensors.update(_dense(f"{layer}.intermediate.dense", ("intermediate_size", "hidden_size")))
        tensors.update(_dense(f"{layer}.output.dense", ("hidden_size", "intermediate_size")))
        tensors.update(_norm(f"{layer}.output.LayerNorm"))
    tensors.update(_dense("pooler.dense", hidden))
    return tensors


def _dense(name: str, dims: tuple[str, str]) -> dict[str, tuple[str, ...]]:
    return {f"{name}.weight": dims, f"{name}.bias": dims[:1]}  # PyTorch's [out, in]


def _norm(name: str) -> dict[str, tuple[str, ...]]:
    return {f"{name}.weight": ("hidden_size",), f"{name}.bias": ("hidden_size",)}


def canonical_name(name: str) -> tuple[str, bool] | None:
    """(the name as in transformers' BertModel, whether the file stores it transposed: a TF
    kernel) for a tensor of the encoder; None for any other tensor."""
    parts = re.split(r"[./]", name.removesuffix(":0").replace("layer_._", "layer."))
    root = next((i for i, part in enumerate(parts) if part in _ROOTS), None)
    if root is None:
        return None
    parts = parts[root:]
    transposed = parts[-1] == "kernel"
    if parts[-1] == "embeddings" and len(parts) > 2:  # TF's position_embeddings/embeddings
        parts[-1] = "weight"
    parts[-1] = _RENAMED.get(parts[-1], parts[-1])
    return ".".join(parts), transposed


def check_encoder_shapes(shapes: dict[str, tuple[int, ...]], sizes: dict, shown: str) -> None:
    """Raises WeightsError unless `shapes` (a weight file's, named as in it) hold every encoder
    tensor with the shape `sizes` implies and as many layers as num_hidden_layers."""
    expected = encoder_tensors(sizes["num_hidden_layers"])
    found: dict[str, tuple[str, tuple[int, ...], bool]] = {}
    layers = set()
    for name, shape in shapes.items():
        canonical = canonical_name(name)
        if canonical is None:
            continue
        layer = _LAYER.match(canonical[0])
        if layer:
            layers.add(int(layer[1]))
        if canonical[0] in expected:
            found.setdefault(canonical[0], (name, shape, canonical[1]))
    for canonical, dims in expected.items():
        if canonical not in found:
            continue
        name, shape, transposed = found[canonical]
        dims = dims[::-1] if transposed else dims
        want = tuple(sizes[dim] for dim in dims)
        if shape != want:
            implied = ", ".join(f"{dim} {sizes[dim]}" for dim in dict.fromkeys(dims))
            raise WeightsError(
                f"{shown}: tensor {name!r} has shape {list(shape)}, expected {list(want)}"
                f" ({implied} in config.json)"
            )
    held = max(layers) + 1 if layers else 0
    if layers and held != sizes["num_hidden_layers"]:
        raise WeightsError(
            f"{shown} holds {held} encoder layers, config.json says num_hidden_layers"
            f" {sizes['num_hidden_layers']}: the config does not describe these weights"
        )
    missing = [name for name in expected if name not in found and not name.startswith("pooler")]
    if missing:
        raise WeightsError(
            f"{shown} lacks {len(missing)} of the BERT encoder's tensors, e.g. {missing[0]!r}"
            " (names as in transformers' BertModel, any prefix): not a BERT checkpoint, or"
            " saved by another library"
        )
