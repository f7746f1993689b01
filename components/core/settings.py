"""The machinery of typed settings: how a setting declares its help, flag, choices and range, how a
section of settings is checked, and how config keys become flags.

A section is a frozen dataclass whose fields are made with `setting`, registered under its name
with `register_section` (`data`, `train`, ...; pipeline/ registers the sections only it uses). Its
`__post_init__` calls `check_settings`. From the same metadata pipeline/flags.py generates one
flag per setting, and `with_flag_names` writes the config keys that a message names
(`data.text_column`) as those flags (`--text-column`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field

from components.core.errors import UserError


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


def setting(
    default,
    help_text: str,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    repeat: bool = False,
    valid: Interval | None = None,
    required: bool = False,
):
    """A settings field with its default and its metadata: its help text, and optionally its
    flag name, its choices, whether a tuple field's flag is given once per value (`repeat`)
    instead of comma separated, the Interval a numeric field must lie in (`valid`), and whether
    a string must not be empty."""
    metadata = {
        "help": help_text,
        "flag": flag,
        "choices": choices,
        "repeat": repeat,
        "valid": valid,
        "required": required,
    }
    return field(default=default, metadata=metadata)


_SECTIONS: dict[str, type] = {}


def register_section(name: str):
    """Class decorator: makes a settings dataclass known as section `name`, so that flags are
    generated for it and messages may name its settings as `name.field`."""

    def register(section_cls: type) -> type:
        known = _SECTIONS.get(name)
        if known is not None and _qualified(known) != _qualified(section_cls):
            raise ValueError(f"settings section {name!r} is {_qualified(known)} already")
        _SECTIONS[name] = section_cls
        return section_cls

    return register


def _qualified(section_cls: type) -> str:
    return f"{section_cls.__module__}.{section_cls.__qualname__}"


def section_types() -> dict[str, type]:
    """Every registered section's dataclass by section name, in the order they were registered."""
    return dict(_SECTIONS)


def field_types(section_cls: type) -> dict[str, type]:
    """Each field's plain type (`tuple[str, ...]` -> tuple)."""
    return {
        name: typing.get_origin(hint) or hint
        for name, hint in typing.get_type_hints(section_cls).items()
    }


def _flag_name(f: dataclasses.Field) -> str:
    return "--" + (f.metadata.get("flag") or f.name).replace("_", "-")


def flag_for(section: str, name: str) -> str:
    """The command-line flag of setting `section.name`: `flag_for("data", "text_column")` is
    `--text-column` (the flag metadata where a field has one, else the field name)."""
    fields = {f.name: f for f in dataclasses.fields(section_types()[section])}
    return _flag_name(fields[name])


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
    for f in dataclasses.fields(section):
        value, flag = getattr(section, f.name), _flag_name(f)
        valid, choices = f.metadata.get("valid"), f.metadata.get("choices")
        if valid is not None and value not in valid:
            raise ConfigError(f"{flag} must be {valid}, got {value!r}")
        if choices and value not in choices:
            raise ConfigError(f"{flag} must be one of {', '.join(choices)}; got {value!r}")
        if f.metadata.get("required") and not str(value).strip():
            raise ConfigError(f"{flag} must not be empty")


def coerce(kind: type, name: str, value):
    """Converts a JSON value back into the field's declared type (tuples arrive as lists)."""
    if kind is tuple:
        return tuple(str(v) for v in value)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"setting {name!r} must be true or false, got {value!r}")
    return kind(value)
