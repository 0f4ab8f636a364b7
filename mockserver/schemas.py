"""OpenAPI 3.0 schemas turned into compiled JSON Schema validators that report JSON Pointers.

The engine supports an explicit allow-list of schema keywords and formats; anything else is a
``SpecError`` at load time, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import ValidationError

from .errors import SpecError

#: Keywords the validator understands; everything else in a schema is an error.
SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "format",
        "enum",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "nullable",
        "oneOf",
        "anyOf",
        "allOf",
        "$ref",
    }
)
#: Keywords that document a schema and do not constrain it.
ANNOTATION_KEYWORDS = frozenset({"description", "example", "default", "title"})
SUPPORTED_FORMATS = frozenset({"uuid", "date", "date-time", "int32", "int64"})

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def parse_date(value: str) -> date | None:
    """A calendar date ``YYYY-MM-DD``, or None if ``value`` is not one."""
    if not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_date_time(value: str) -> datetime | None:
    """An RFC 3339 date-time with an offset, or None if ``value`` is not one."""
    if not _DATE_TIME.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        moment.astimezone(UTC)  # a time that cannot be expressed in UTC is not accepted
    except (ValueError, OverflowError):
        return None
    return moment


_FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@_FORMAT_CHECKER.checks("uuid")
def _check_uuid(value: object) -> bool:
    return not isinstance(value, str) or is_uuid(value)


@_FORMAT_CHECKER.checks("date")
def _check_date(value: object) -> bool:
    return not isinstance(value, str) or parse_date(value) is not None


@_FORMAT_CHECKER.checks("date-time")
def _check_date_time(value: object) -> bool:
    return not isinstance(value, str) or parse_date_time(value) is not None


@_FORMAT_CHECKER.checks("int32")
def _check_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMAT_CHECKER.checks("int64")
def _check_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


Resolver = Callable[[str, str], tuple[Any, str]]


def to_json_schema(node: Any, pointer: str, resolve: Resolver, _stack: tuple[str, ...] = ()) -> Any:
    """Inline ``$ref``s and translate OpenAPI 3.0 ``nullable`` into JSON Schema.

    ``pointer`` is where ``node`` sits in the source document, so every ``SpecError`` names the
    exact place to fix. ``resolve(ref, pointer)`` returns the target and its pointer.
    """
    if not isinstance(node, dict):
        raise SpecError(f"{pointer}: a schema must be an object, got {type(node).__name__}")
    if "$ref" in node:
        ref = node["$ref"]
        if ref in _stack:
            raise SpecError(f"{pointer}: recursive schema through {ref} is not supported")
        target, target_pointer = resolve(ref, pointer)
        return to_json_schema(target, target_pointer, resolve, (*_stack, ref))
    out: dict[str, Any] = {}
    for key, value in node.items():
        here = f"{pointer}/{_escape(key)}"
        if key in ANNOTATION_KEYWORDS or key == "nullable":
            continue
        if key not in SUPPORTED_KEYWORDS:
            raise SpecError(f"{here}: schema keyword {key!r} is not supported by the sandbox")
        if key == "format" and value not in SUPPORTED_FORMATS:
            raise SpecError(f"{here}: format {value!r} is not supported by the sandbox")
        if key == "properties":
            out[key] = {
                name: to_json_schema(sub, f"{here}/{_escape(name)}", resolve, _stack)
                for name, sub in value.items()
            }
        elif key in ("items",) or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = to_json_schema(value, here, resolve, _stack)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [
                to_json_schema(sub, f"{here}/{i}", resolve, _stack) for i, sub in enumerate(value)
            ]
        else:
            out[key] = value
    if node.get("nullable") is True:
        out = _allow_null(out)
    return out


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema and None not in schema["enum"]:
        schema = {**schema, "enum": [*schema["enum"], None]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if kind is None:
        return {"anyOf": [{"type": "null"}, schema]}
    return schema


def _escape(token: str) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_of(path: Iterator[Any] | list[Any] | Any) -> str:
    """JSON Pointer for a jsonschema error path."""
    return "".join("/" + _escape(str(part)) for part in path)


@dataclass(frozen=True)
class Violation:
    """One schema violation at a JSON Pointer inside the validated value."""

    pointer: str
    keyword: str
    message: str


class Validator:
    """A schema compiled once; ``violations`` lists every problem, deepest first."""

    __slots__ = ("_validator", "schema")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = jsonschema.Draft7Validator(schema, format_checker=_FORMAT_CHECKER)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._validator.is_valid(instance))

    def violations(self, instance: Any) -> list[Violation]:
        found = [v for error in self._validator.iter_errors(instance) for v in _violations(error)]
        return sorted(found, key=lambda v: v.pointer)


def _violations(error: ValidationError) -> list[Violation]:
    # A oneOf/anyOf failure says nothing useful by itself: report the branch that came closest
    # (fewest errors), so {"type": "AccountId", "id": "x"} is told about its id, not its type.
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0], []).append(sub)
        if all(e.validator == "required" for errs in branches.values() for e in errs):
            options = sorted({cast(Any, e.validator_value)[0] for e in error.context})
            return [
                Violation(
                    pointer_of(error.absolute_path),
                    "required",
                    f"give one of: {', '.join(options)}",
                )
            ]
        closest = min(branches.values(), key=len)
        return [v for sub in closest for v in _violations(sub)]
    return [_violation(error)]


def _violation(error: ValidationError) -> Violation:
    pointer = pointer_of(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required":
        missing = _missing_property(error)
        return Violation(f"{pointer}/{_escape(missing)}", keyword, f"{missing!r} is required")
    if keyword == "additionalProperties":
        extra = _extra_properties(error)
        allowed = sorted((cast(dict[str, Any], error.schema).get("properties") or {}).keys())
        return Violation(
            f"{pointer}/{_escape(extra[0])}" if len(extra) == 1 else pointer,
            keyword,
            f"unknown field(s) {', '.join(repr(e) for e in extra)}; "
            f"allowed fields are: {', '.join(allowed) or 'none'}",
        )
    return Violation(pointer, keyword, _message(error))


def _missing_property(error: ValidationError) -> str:
    # jsonschema's message is "'x' is a required property"; the name is the first quoted token.
    required = cast(list[str], error.validator_value)
    instance = error.instance if isinstance(error.instance, dict) else {}
    for name in required:
        if name not in instance and f"'{name}'" in error.message:
            return str(name)
    return str(required[0])


def _extra_properties(error: ValidationError) -> list[str]:
    declared = cast(dict[str, Any], error.schema).get("properties") or {}
    instance = error.instance if isinstance(error.instance, dict) else {}
    return sorted(k for k in instance if k not in declared)


def _message(error: ValidationError) -> str:
    keyword = error.validator
    value = cast(Any, error.validator_value)
    if keyword == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        return f"must be of type {expected}"
    if keyword == "format":
        return f"must be a valid {value}" + _FORMAT_HINTS.get(str(value), "")
    if keyword == "enum":
        return "must be one of: " + ", ".join("null" if v is None else str(v) for v in value)
    if keyword == "minimum":
        return f"must be at least {value}"
    if keyword == "maximum":
        return f"must be at most {value}"
    if keyword == "minItems":
        return f"must have at least {value} item(s)"
    if keyword == "maxItems":
        return f"must have at most {value} item(s)"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters long"
    if keyword == "maxLength":
        return f"must be at most {value} characters long"
    if keyword == "pattern":
        return f"must match the pattern {value}"
    return str(error.message)


_FORMAT_HINTS = {
    "uuid": " (for example 3c90c3cc-0d44-4b50-8888-8dd25736052a)",
    "date": " (YYYY-MM-DD, for example 2024-01-31)",
    "date-time": " (RFC 3339 with a time zone, for example 2024-01-31T09:30:00Z)",
    "int32": " (a 32-bit integer)",
    "int64": " (a 64-bit integer)",
}
