"""KFP cron expressions: six fields, seconds first, checked before a recurring run is created."""

from __future__ import annotations

from dataclasses import dataclass

from components.core.errors import UserError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class CronError(UserError, ValueError):
    """A cron expression that KFP would refuse or misread (the message names the field)."""


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: dict[str, int]
    allows_question_mark: bool = False


_CRON_FIELDS = (
    _CronField("second", 0, 59, {}),
    _CronField("minute", 0, 59, {}),
    _CronField("hour", 0, 23, {}),
    _CronField("day-of-month", 1, 31, {}, allows_question_mark=True),
    _CronField("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    _CronField("day-of-week", 0, 6, {name: i for i, name in enumerate(_DAYS)}, True),
)
# Descriptors that KFP's cron library (robfig/cron) accepts in place of the six fields.
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_LAYOUT = "second minute hour day-of-month month day-of-week"


def validate_cron(expression: str) -> str:
    """Checks a KFP cron expression and returns it with its fields separated by single spaces.

    KFP schedules with robfig/cron, whose expressions have six fields, seconds first:
    `second minute hour day-of-month month day-of-week` (e.g. `0 0 2 * * *` is 02:00 every day).
    Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, or a comma list of
    those; months and weekdays also take names (JAN-DEC, SUN-SAT); `?` means "any" in the
    day-of-month and day-of-week fields. `@daily` and the other descriptors are accepted too.

    Raises CronError naming the bad field. A five-field (Unix) expression gets its own message:
    KFP would silently read its first field as seconds and run at the wrong times.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise CronError(
            f"the cron expression is empty; KFP needs six fields: {_CRON_LAYOUT}"
            " (e.g. '0 0 2 * * *' for 02:00 every day)"
        )
    fields = expression.split()
    if fields[0].startswith("@"):
        if len(fields) == 1 and fields[0].lower() in CRON_DESCRIPTORS:
            return fields[0].lower()
        raise CronError(
            f"unsupported cron descriptor {expression.strip()!r}; use six fields ({_CRON_LAYOUT})"
            f" or one of {', '.join(CRON_DESCRIPTORS)}"
        )
    if len(fields) == 5:
        suggestion = "0 " + " ".join(fields)
        raise CronError(
            f"cron expression {expression.strip()!r} has five fields, but KFP cron expressions"
            f" have six fields with seconds first ({_CRON_LAYOUT}); KFP would read the first"
            f" field as seconds and run at the wrong times. For the usual meaning use the"
            f" six-field form {suggestion!r}"
        )
    if len(fields) != 6:
        raise CronError(
            f"cron expression {expression.strip()!r} has {len(fields)} fields; KFP needs six,"
            f" seconds first ({_CRON_LAYOUT}), e.g. '0 0 2 * * *' for 02:00 every day"
        )
    for position, (text, spec) in enumerate(zip(fields, _CRON_FIELDS, strict=True), start=1):
        try:
            _check_cron_field(text, spec)
        except CronError as error:
            raise CronError(
                f"cron expression {expression.strip()!r}: field {position} ({spec.name},"
                f" {spec.low}-{spec.high}) is {text!r}: {error}"
            ) from None
    return " ".join(fields)


def _check_cron_field(text: str, spec: _CronField) -> None:
    for part in text.split(","):
        if not part:
            raise CronError("empty element in a comma list")
        range_text, slash, step_text = part.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) < 1):
            raise CronError(f"the step {step_text!r} must be a whole number of at least 1")
        if range_text in ("*", "?"):
            if range_text == "?" and not spec.allows_question_mark:
                raise CronError("'?' is only allowed in the day-of-month and day-of-week fields")
            continue
        low_text, dash, high_text = range_text.partition("-")
        low = _cron_value(low_text, spec)
        if dash:
            high = _cron_value(high_text, spec)
            if low > high:
                raise CronError(f"the range {range_text!r} starts after it ends")


def _cron_value(text: str, spec: _CronField) -> int:
    if text.isdigit():
        value = int(text)
    elif text.upper() in spec.names:
        return spec.names[text.upper()]
    else:
        hint = f" or one of {'/'.join(spec.names)}" if spec.names else ""
        raise CronError(f"{text!r} is not a number{hint}")
    if not spec.low <= value <= spec.high:
        raise CronError(f"{value} is out of range {spec.low}-{spec.high}")
    return value
