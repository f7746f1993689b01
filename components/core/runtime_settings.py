"""Settings an operator changes per run without recompiling: one execution property each.

On Kubeflow these are the pipeline's run-time parameters. TFX's KubeflowV2 compiler accepts a
`RuntimeParameter` only as a top-level execution property, while the pipeline's settings travel as
one JSON Config in `custom_config`; so each component that reads one of these settings gets it as
an extra, typed, top-level execution property (`add_runtime_settings`), and its executor writes the
value into the Config before anything reads it (`apply_to_custom_config`). Locally the properties
simply hold the Config's own values. The Config stays the one source of settings.

The component classes that take these settings live in their own rooms (transform/, trainer/,
evaluator/, pusher.py, report/) and mix in `TakesRuntimeSettings`.

| parameter       | setting                      | read by                          |
|-----------------|------------------------------|----------------------------------|
| `data_root`     | ExampleGen's input_base      | ExampleGen, Report (its header)  |
| `checkpoint`    | model.checkpoint             | Transform (vocab), Trainer       |
| `train_steps`   | train.train_steps            | Trainer                          |
| `learning_rate` | train.learning_rate          | Trainer                          |
| `min_accuracy`  | eval.min_accuracy            | Evaluator (a blessing bound)     |
| `majority_margin` | eval.majority_margin       | Evaluator (a blessing bound)     |
| `push_dir`      | run.push_dir                 | ProductionBaseline, Pusher,      |
|                 |                              | Report (the run history)         |
| `output_dir`    | (scoring package only)       | ScoreWriter                      |

The scoring package (`bertpipe compile --inference`) takes `SCORING_SETTINGS`; the training
package every setting but those only scoring takes (`training_settings()`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfx.dsl.components.base import base_component
from tfx.orchestration import data_types
from tfx.types import component_spec, standard_component_specs
from tfx.utils import json_utils

from components.core.config import CUSTOM_CONFIG_KEY, Config


@dataclass(frozen=True)
class RuntimeSetting:
    name: str  # the run-time parameter and execution property name
    ptype: type
    section: str  # where it lives in the Config ("" = not a Config field)
    field: str
    help: str


RUNTIME_SETTINGS: dict[str, RuntimeSetting] = {
    s.name: s
    for s in (
        RuntimeSetting(
            "data_root", str, "", "", "folder ExampleGen reads (its input_base; file layout fixed)"
        ),
        RuntimeSetting(
            "checkpoint", str, "model", "checkpoint", "pretrained checkpoint folder or gs:// URI"
        ),
        RuntimeSetting("train_steps", int, "train", "train_steps", "training steps"),
        RuntimeSetting("learning_rate", float, "train", "learning_rate", "peak learning rate"),
        RuntimeSetting("min_accuracy", float, "eval", "min_accuracy", "accuracy needed to bless"),
        RuntimeSetting(
            "majority_margin",
            float,
            "eval",
            "majority_margin",
            "balanced accuracy needed above the majority-class baseline's to bless",
        ),
        RuntimeSetting("push_dir", str, "run", "push_dir", "where blessed models are pushed"),
        RuntimeSetting(
            "output_dir", str, "", "", "folder the scores go to (span-<span>/predictions.jsonl)"
        ),
    )
}
SCORING_SETTINGS = ("data_root", "push_dir", "output_dir")
_SCORING_ONLY = ("output_dir",)


def training_settings() -> tuple[str, ...]:
    """The run-time parameters of the training package: every one but those only scoring takes."""
    return tuple(name for name in RUNTIME_SETTINGS if name not in _SCORING_ONLY)


def config_values(config: Config, data_root: str) -> dict[str, Any]:
    """The value of every runtime setting of the training package in `config` (what a local
    run uses)."""
    values = {"data_root": data_root, "push_dir": config.push_dir}
    for name in training_settings():
        if name not in values:
            setting = RUNTIME_SETTINGS[name]
            values[name] = getattr(getattr(config, setting.section), setting.field)
    return values


def check_values(values: Mapping[str, Any], names: tuple[str, ...] | None = None) -> None:
    """Fails on names other than `names` (default: the training package's), on missing ones and
    on constants of the wrong type (RuntimeParameters pass)."""
    names = training_settings() if names is None else names
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"unknown runtime setting(s) {unknown}; expected {list(names)}")
    missing = sorted(set(names) - set(values))
    if missing:
        raise ValueError(f"runtime setting(s) {missing} have no value")
    for name, value in values.items():
        kind = RUNTIME_SETTINGS[name].ptype
        if isinstance(value, data_types.RuntimeParameter):
            if value.ptype is not kind:
                raise TypeError(f"runtime parameter {name!r} must be {kind.__name__}")
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise TypeError(f"runtime setting {name!r} must be {kind.__name__}, got {value!r}")


# -- components --------------------------------------------------------------------------------------
def add_runtime_settings(
    component: base_component.BaseComponent, values: Mapping[str, Any], names: tuple[str, ...]
) -> base_component.BaseComponent:
    """Gives `component` the settings `names` as typed top-level execution properties.

    The component's spec is replaced by an instance of a subclass of its spec class that declares
    the extra parameters, so TFX type-checks them (constants and RuntimeParameters alike).
    """
    spec = component.spec
    spec_class = type(spec)
    extra = {
        name: component_spec.ExecutionParameter(type=RUNTIME_SETTINGS[name].ptype) for name in names
    }
    extended = type(
        f"{spec_class.__name__}WithRuntimeSettings",
        (spec_class,),
        {"PARAMETERS": {**spec_class.PARAMETERS, **extra}, "__module__": __name__},
    )
    component.spec = extended(
        **spec.inputs,
        **spec.outputs,
        **spec.exec_properties,
        **{name: values[name] for name in names},
    )
    return component


def pop_settings(exec_properties: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(exec_properties without the runtime settings, {name: value} of those present)."""
    settings = {k: v for k, v in exec_properties.items() if k in RUNTIME_SETTINGS}
    rest = {k: v for k, v in exec_properties.items() if k not in RUNTIME_SETTINGS}
    return rest, settings


def apply_to_config(config: Config, settings: Mapping[str, Any]) -> Config:
    """`config` with the runtime settings (those that are Config fields) written into it."""
    changes: dict[str, dict[str, Any]] = {}
    for name, value in settings.items():
        setting = RUNTIME_SETTINGS[name]
        if setting.section:
            changes.setdefault(setting.section, {})[setting.field] = setting.ptype(value)
    return config.replace(**changes)


def apply_to_custom_config(
    exec_properties: dict[str, Any], component: str
) -> tuple[dict[str, Any], Config]:
    """(execution properties with the runtime settings moved into custom_config's Config, that
    Config). Only the sections the component was given stay in its Config JSON."""
    rest, settings = pop_settings(exec_properties)
    key = standard_component_specs.CUSTOM_CONFIG_KEY
    custom_config = json_utils.loads(rest.get(key) or "null")
    config = Config.from_custom_config(custom_config, component)
    given = custom_config[CUSTOM_CONFIG_KEY]
    sections = tuple(json.loads(given) if isinstance(given, str) else given)
    config = apply_to_config(config, settings)
    custom_config = {**custom_config, CUSTOM_CONFIG_KEY: config.to_json(sections)}
    return {**rest, key: json_utils.dumps(custom_config)}, config


class TakesRuntimeSettings:
    """Mixin for a TFX component class: `runtime=` values for its `SETTINGS` become typed
    top-level execution properties (`add_runtime_settings`)."""

    SETTINGS: tuple[str, ...] = ()

    def __init__(self, *, runtime: Mapping[str, Any], **kwargs):
        super().__init__(**kwargs)
        add_runtime_settings(self, runtime, self.SETTINGS)
