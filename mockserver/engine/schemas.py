"""OpenAPI 3.0 schemas turned into compiled JSON Schema validators that report JSON Pointers.

The engine supports an explicit allow-list of schema keywords and formats; anything else is a
``SpecError`` at load time, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import jsonschema_rs
import orjson

from ..errors import SpecError

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

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


@cache
def _format_checker() -> jsonschema.FormatChecker:
    # jsonschema is imported on the first invalid instance only: it is the slow, detailed path,
    # and importing it costs start-up time.
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uuid")(_check_uuid)
    checker.checks("date")(_check_date)
    checker.checks("date-time")(_check_date_time)
    checker.checks("int32")(_check_int32)
    checker.checks("int64")(_check_int64)
    return checker


def _check_uuid(value: object) -> bool:
    return not isinstance(value, str) or is_uuid(value)


def _check_date(value: object) -> bool:
    return not isinstance(value, str) or parse_date(value) is not None


def _check_date_time(value: object) -> bool:
    return not isinstance(value, str) or parse_date_time(value) is not None


def _check_int32(value: object) -> bool:
    low, high = _INTEGER_BOUNDS["int32"]
    return not isinstance(value, int) or low <= value <= high


def _check_int64(value: object) -> bool:
    low, high = _INTEGER_BOUNDS["int64"]
    return not isinstance(value, int) or low <= value <= high


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
    """A schema compiled once; ``violations`` lists every problem, deepest first.

    Two engines give one verdict: jsonschema-rs (compiled, fast) accepts the valid instances,
    which are nearly all of them, and jsonschema explains the rest with the messages and JSON
    Pointers clients see. The fast schema can only be stricter than the detailed one (see
    ``fast_schema``), so whatever it rejects is judged again by jsonschema.
    """

    __slots__ = ("_detailed", "_fast", "schema")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._fast = _compiled(schema)
        self._detailed: jsonschema.Draft7Validator | None = None

    @property
    def fast_compiled(self) -> bool:
        return self._fast is not None

    def accepts_fast(self, instance: Any) -> bool:
        """The fast engine's verdict alone (False when it cannot judge ``instance``)."""
        if self._fast is None:
            return False
        try:
            return bool(self._fast.is_valid(instance))
        except Exception:  # e.g. a lone surrogate or a number it cannot hold: ask jsonschema
            return False

    def detailed(self) -> jsonschema.Draft7Validator:
        """The jsonschema validator behind ``violations`` (compiled on first use)."""
        if self._detailed is None:
            import jsonschema

            self._detailed = jsonschema.Draft7Validator(
                self.schema, format_checker=_format_checker()
            )
        return self._detailed

    def is_valid(self, instance: Any) -> bool:
        return self.accepts_fast(instance) or bool(self.detailed().is_valid(instance))

    def violations(self, instance: Any) -> list[Violation]:
        if self.accepts_fast(instance):
            return []
        found = [v for error in self.detailed().iter_errors(instance) for v in _violations(error)]
        return sorted(found, key=lambda v: v.pointer)


#: Compiled fast validators by schema (canonical JSON). A document inlines the same components
#: into many operations, and lint and fixtures compile them again: start-up compiled 471
#: validators, of which few are different.
_COMPILED: dict[bytes, jsonschema_rs.Validator | None] = {}
_COMPILED_LIMIT = 2048


def _compiled(schema: dict[str, Any]) -> jsonschema_rs.Validator | None:
    try:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON (a YAML date in an enum, say): compile it, keep nothing
        key = None
    if key is not None and key in _COMPILED:
        return _COMPILED[key]
    fast: jsonschema_rs.Validator | None
    try:
        fast = jsonschema_rs.Draft7Validator(
            fast_schema(schema), formats=_FAST_FORMATS, validate_formats=True
        )
    except Exception:  # e.g. a pattern Rust's regex syntax does not take: jsonschema only
        fast = None
    if key is not None:
        if len(_COMPILED) >= _COMPILED_LIMIT:
            _COMPILED.clear()
        _COMPILED[key] = fast
    return fast


#: Formats jsonschema-rs checks by calling back into the exact functions jsonschema uses.
_FAST_FORMATS: dict[str, Callable[[str], bool]] = {
    "uuid": is_uuid,
    "date": lambda value: parse_date(value) is not None,
    "date-time": lambda value: parse_date_time(value) is not None,
}
_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
#: Regular expressions matching only values the format accepts (a subset: no 29 February, no
#: years before 1000 or after 8999, where a time zone can push a moment out of range), checked
#: in Rust before the exact Python check is called back: the profile of a 100-credit list spent
#: half its validation time in date-time callbacks.
_FORMAT_SUBSETS = {
    "uuid": _UUID.pattern,
    "date": rf"^[1-8][0-9]{{3}}-{_DAY}$",
    "date-time": rf"^[1-8][0-9]{{3}}-{_DAY}[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$",
}
#: Integer formats become bounds: jsonschema-rs checks formats on strings only.
_INTEGER_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def fast_schema(schema: Any) -> Any:
    """``schema`` for jsonschema-rs, accepting exactly what jsonschema accepts, or less.

    A date or date-time format becomes ``anyOf`` a pattern matching a subset of its values and
    the format itself (checked by the Python function jsonschema uses): the same verdict,
    mostly decided in Rust. ``uuid`` becomes its pattern, and ``int32``/``int64`` become
    ``minimum``/``maximum``, which also bound integral floats where jsonschema's format check
    ignores them: both stricter, so such a value is judged again by jsonschema.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: fast_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = fast_schema(value)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [fast_schema(sub) for sub in value]
        elif key != "format":
            out[key] = value
    fmt = schema.get("format")
    extra: dict[str, Any] | None = None
    if fmt == "uuid":
        # The pattern alone: it misses only a uuid followed by a newline, which Python's "$"
        # admits; jsonschema then accepts it on the slow path. A third less validation time
        # for a fetched credit, which holds a dozen uuids.
        extra = {"pattern": _FORMAT_SUBSETS[fmt]}
    elif fmt in _FORMAT_SUBSETS:
        extra = {"anyOf": [{"pattern": _FORMAT_SUBSETS[fmt]}, {"format": fmt}]}
    elif fmt in _INTEGER_BOUNDS:
        low, high = _INTEGER_BOUNDS[fmt]
        extra = {"minimum": low, "maximum": high}
    elif fmt is not None:
        out["format"] = fmt
    if extra is not None:
        if any(key in out for key in extra):
            return {"allOf": [out, extra]}
        out.update(extra)
    return out


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
