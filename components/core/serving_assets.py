"""What a pushed version carries for the model server, beside the SavedModel: one place for the
files of its `assets.extra/` folder, their format, their writers and their readers.

    <version>/assets.extra/tf_serving_warmup_requests   TF Serving's warmup file: a TFRecord of
                                                        `PredictionLog`s (tensorflow_serving.apis),
                                                        replayed by the server through the
                                                        signatures before it marks the version
                                                        available
    <version>/assets.extra/bertpipe_serving.json        what the server needs (`ServingRecord`):
                                                        the non-core ops of the graph and the
                                                        versions it was exported with

TF Serving reads `assets.extra/` and nothing in it is loaded with the SavedModel, so the files
change nothing for `tf.saved_model.load`. The serving check (components/serving_check/) writes
both into the model it infra-blesses, which the Pusher pushes. `read_meta_graph` and `graph_ops`
read the SavedModel's own graph, which is where the ops a server must know are named.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from components.core.serving import SAVED_MODEL_FILE

ASSETS_EXTRA_DIR = "assets.extra"  # TF Serving's folder of serving-only files in a SavedModel
WARMUP_FILE = "tf_serving_warmup_requests"  # the name TF Serving looks for
SERVING_RECORD_FILE = "bertpipe_serving.json"


def warmup_path(model_dir: str) -> str:
    return os.path.join(model_dir, ASSETS_EXTRA_DIR, WARMUP_FILE)


def serving_record_path(model_dir: str) -> str:
    return os.path.join(model_dir, ASSETS_EXTRA_DIR, SERVING_RECORD_FILE)


# -- the warmup file ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WarmupRequest:
    """One Predict request of the warmup file: a signature and its string inputs, by input name
    (one text per example)."""

    signature: str
    inputs: dict[str, list[str]]


def write_warmup_requests(model_dir: str, requests: list[WarmupRequest]) -> str:
    """Writes `requests` as TF Serving's warmup file of the SavedModel at `model_dir` (a TFRecord
    of PredictionLogs, each holding a PredictRequest); returns its path."""
    if not requests:
        raise ValueError(f"no warmup requests to write into {model_dir}")
    path = warmup_path(model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            predict = predict_pb2.PredictRequest()
            predict.model_spec.signature_name = request.signature
            for name, texts in request.inputs.items():
                values = [text.encode("utf-8") for text in texts]
                predict.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=predict)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(model_dir: str) -> list[WarmupRequest]:
    """The requests of the warmup file of the SavedModel at `model_dir`, in file order."""
    path = warmup_path(model_dir)
    requests = []
    for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(
                f"{path}: record {index} is a {log.WhichOneof('log_type')}; expected predict_log"
            )
        request = log.predict_log.request
        inputs = {
            name: [value.decode("utf-8") for value in tf.make_ndarray(tensor).reshape(-1)]
            for name, tensor in sorted(request.inputs.items())
        }
        requests.append(WarmupRequest(request.model_spec.signature_name, inputs))
    return requests


# -- what the server needs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ServingRecord:
    """bertpipe_serving.json: what a model server needs to load this version.

    `tensorflow_text_ops` are the ops of the graph that TensorFlow itself does not register and
    tensorflow-text does (found by the serving check in a process that imports only the two);
    `tensorflow_version` is the one the SavedModel records it was written with,
    `tensorflow_text_version` the one in the pipeline's environment, which exported it and ran
    the check; `signatures` are the inputs and outputs of each signature, by name."""

    tensorflow_text_ops: list[str]
    tensorflow_version: str
    tensorflow_git_version: str
    tensorflow_text_version: str
    signatures: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    warmup_requests: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ServingRecord:
        return cls(**values)


def write_serving_record(model_dir: str, record: ServingRecord) -> str:
    path = serving_record_path(model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(record.to_json() + "\n")
    return path


def read_serving_record(model_dir: str) -> ServingRecord:
    with tf.io.gfile.GFile(serving_record_path(model_dir)) as handle:
        return ServingRecord.from_dict(json.loads(handle.read()))


# -- the graph -----------------------------------------------------------------------------------
def read_meta_graph(model_dir: str) -> meta_graph_pb2.MetaGraphDef:
    """The serving MetaGraphDef of the SavedModel at `model_dir` (read, not loaded)."""
    path = os.path.join(model_dir, SAVED_MODEL_FILE)
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    for meta_graph in saved_model.meta_graphs:
        if tf.saved_model.SERVING in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"{path} has no meta graph tagged {tf.saved_model.SERVING!r}")


def graph_ops(meta_graph: meta_graph_pb2.MetaGraphDef) -> list[str]:
    """Every op type the graph uses, in its nodes and in its functions' bodies."""
    graph = meta_graph.graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    return sorted(ops)


def signature_io(meta_graph: meta_graph_pb2.MetaGraphDef) -> dict[str, dict[str, list[str]]]:
    """{signature: {"inputs": [...], "outputs": [...]}} of the graph's signatures."""
    return {
        name: {"inputs": sorted(signature.inputs), "outputs": sorted(signature.outputs)}
        for name, signature in sorted(meta_graph.signature_def.items())
        if not name.startswith("__")  # TensorFlow's own (__saved_model_init_op)
    }
