"""The request pipeline's checks (parameters, then body) and the response contract check.

Each value goes parse -> coerce by its schema -> validate, and every violation is collected
before anything is raised, so a client sees all that is wrong with its request at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..errors import BadRequest, ContractViolation, Problem, UnsupportedMediaType
from .limits import MAX_JSON_DEPTH, nul_problems, too_deep, where
from .schemas import Validator, Violation, _escape, is_uuid
from .spec import FORM, JSON, Operation, Parameter

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOLEANS = {"true": True, "false": False}
#: Longer digit strings stay strings (a `type` violation): int() refuses past 4300 digits.
_MAX_INTEGER_DIGITS = 100


def problem(location: str, violation: Violation, prefix: str = "") -> Problem:
    """A client-facing problem for a schema violation found in ``location``."""
    pointer = prefix + violation.pointer
    return Problem(
        f"{where(location, pointer)}: {violation.message}.",
        {"location": location, "pointer": pointer, "keyword": violation.keyword},
    )


def parse_parameters(
    op: Operation,
    path_params: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    problems: list[Problem],
) -> dict[str, Any]:
    """Coerce and validate the declared parameters; unknown query parameters are rejected."""
    values: dict[str, Any] = {}
    seen: dict[str, list[str]] = {}
    for name, value in query:
        seen.setdefault(name, []).append(value)
    if seen:  # most requests have no query string
        problems.extend(nul_problems({name: "".join(v) for name, v in seen.items()}, "query"))
    declared_query = op.query_names
    for name in seen:
        if name not in declared_query:
            allowed = ", ".join(sorted(declared_query)) or "none"
            problems.append(
                Problem(
                    f"query parameter {name!r} is not accepted here; accepted: {allowed}.",
                    {"location": "query", "pointer": f"/{_escape(name)}", "keyword": "unknown"},
                )
            )
    for param in op.parameters:
        pointer = param.pointer
        if param.location == "path":
            raw: str | None = path_params.get(param.name)
        elif param.location == "header":
            raw = headers.get(param.name.lower())
        else:
            given = seen.get(param.name)
            if given and len(given) > 1:
                problems.append(
                    Problem(
                        f"query parameter {param.name!r} was given {len(given)} times; "
                        "give it once (use a comma-separated value where a list is accepted).",
                        {"location": "query", "pointer": pointer, "keyword": "type"},
                    )
                )
                continue
            raw = given[0] if given else None
        if raw is None:
            if param.required:
                problems.append(
                    Problem(
                        f"{param.location} parameter {param.name!r} is required.",
                        {"location": param.location, "pointer": pointer, "keyword": "required"},
                    )
                )
            elif param.default is not None:
                values[param.name] = param.default
            continue
        value = _coerce(param, raw)
        for violation in param.validator.violations(value):
            problems.append(problem(param.location, violation, pointer))
        values[param.name] = value
    return values


def _coerce(param: Parameter, raw: str) -> Any:
    # A value that does not coerce stays a string, so the validator reports a `type` violation.
    kind = param.scalar_type
    if kind == "integer" and _INTEGER.match(raw) and len(raw) <= _MAX_INTEGER_DIGITS:
        return int(raw)
    if kind == "number" and _NUMBER.match(raw):
        return float(raw)
    if kind == "boolean" and raw in _BOOLEANS:
        return _BOOLEANS[raw]
    if param.schema.get("format") == "uuid" and is_uuid(raw):
        return raw.lower()  # UUIDs are case-insensitive on input (RFC 9562); stored lower case
    return raw


def media_type_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(op: Operation, content_type: str | None, raw: bytes, problems: list[Problem]) -> Any:
    """Decode and validate the request body; returns None when there is none."""
    spec = op.body
    if spec is None:
        if raw.strip():
            problems.append(
                Problem(
                    f"{op.method} {op.path} takes no request body; send none.",
                    {"location": "body", "pointer": "", "keyword": "body"},
                )
            )
        return None
    if not raw:
        if spec.required:
            problems.append(
                Problem(
                    "a request body is required; send a JSON object.",
                    {"location": "body", "pointer": "", "keyword": "required"},
                )
            )
        return None
    media_type = media_type_of(content_type)
    validator = spec.media_types.get(media_type)
    if validator is None:
        accepted = ", ".join(spec.media_types)
        raise UnsupportedMediaType(
            Problem(
                f"Content-Type {media_type or '(none)'!r} is not accepted; send {accepted}.",
                {"location": "header", "pointer": "/content-type", "keyword": "content-type"},
            )
        )
    body = _decode(media_type, raw, problems)
    if body is _MALFORMED:
        return None
    for violation in validator.violations(body):
        problems.append(problem("body", violation))
    return body


_MALFORMED = object()


def _decode(media_type: str, raw: bytes, problems: list[Problem]) -> Any:
    if media_type == JSON:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append(
                Problem(
                    f"the body is not valid JSON ({_json_error(raw, exc)}); send a JSON object "
                    "encoded as UTF-8.",
                    {"location": "body", "pointer": "", "keyword": "json"},
                )
            )
            return _MALFORMED
        deep = too_deep(body)
        if deep is not None:
            problems.append(
                Problem(
                    f"body {deep}: JSON is nested more than {MAX_JSON_DEPTH} levels deep here; "
                    "flatten the body.",
                    {"location": "body", "pointer": deep, "keyword": "maxDepth"},
                )
            )
            return _MALFORMED
        problems.extend(nul_problems(body))
        return body
    if media_type == FORM:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        form: dict[str, str] = {}
        if text is not None:
            for key, value in parse_qsl(text, keep_blank_values=True):
                if key in form:
                    problems.append(
                        Problem(
                            f"form field {key!r} was given more than once; give it once.",
                            {"location": "body", "pointer": f"/{_escape(key)}", "keyword": "form"},
                        )
                    )
                form[key] = value
            return form
        problems.append(
            Problem(
                "the form body is not valid UTF-8.",
                {"location": "body", "pointer": "", "keyword": "form"},
            )
        )
        return _MALFORMED
    raise AssertionError(media_type)  # compile_spec admits no other media type


def _json_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    """What is wrong with a body orjson refused, said the way a client can fix it."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"byte 0x{raw[bad.start]:02x} at offset {bad.start} is not valid UTF-8"
    literal = _NON_FINITE.match(raw, max(exc.pos - 1, 0)) or _NON_FINITE.match(raw, exc.pos)
    if literal is not None:
        return (
            f"{literal.group().decode()} at offset {literal.start()} is not a JSON number; "
            "send a finite number"
        )
    return str(exc)


_NON_FINITE = re.compile(rb"-?(NaN|Infinity)")


def raise_if(problems: list[Problem]) -> None:
    if problems:
        raise BadRequest(problems)


def check_response(op: Operation, status: int, body: Any) -> None:
    """Raise ``ContractViolation`` if ``body`` is not what ``op`` declares for ``status``."""
    declared = op.response_for(status)
    if declared is None:
        raise ContractViolation(
            Problem(
                f"The sandbox answered {op.operation_id} with status {status}, which the "
                f"OpenAPI document does not declare (declared: {', '.join(op.responses)}).",
                {"operation_id": op.operation_id, "status": status},
            )
        )
    validator: Validator | None = declared.media_types.get(JSON)
    if validator is None:
        if body is None and not declared.media_types:
            return
        raise ContractViolation(
            Problem(
                f"The sandbox answered {op.operation_id} {status} with a JSON body, which the "
                "OpenAPI document does not declare.",
                {"operation_id": op.operation_id, "status": status},
            )
        )
    violations = validator.violations(body)
    if not violations:
        return
    raise ContractViolation(
        [
            Problem(
                f"The sandbox's {status} response to {op.operation_id} breaks the OpenAPI "
                f"document at {v.pointer or '/'}: {v.message}.",
                {
                    "operation_id": op.operation_id,
                    "status": status,
                    "pointer": v.pointer,
                    "keyword": v.keyword,
                },
            )
            for v in violations
        ]
    )
