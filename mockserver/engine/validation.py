"""The request pipeline's checks (parameters, then body) and the response contract check.

Each value goes parse -> coerce by its schema -> validate, and every violation is collected
before anything is raised, so a client sees all that is wrong with its request at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..errors import BadRequest, ContractViolation, Problem, UnsupportedMediaType
from .bodies import decode_body, json_error, schema_applies, select_request_media_type
from .coercion import as_integer
from .limits import MAX_JSON_DEPTH, huge_integers, nul_problems, too_deep, where
from .params import (
    ABSENT,
    MALFORMED,
    QueryParameter,
    deserialize,
    deserialize_content,
    parse_cookie_header,
    split_query,
)
from .schemas import Validator, Violation, _escape, is_uuid, scalar_type
from .spec import JSON, Operation, Parameter

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOLEANS = {"true": True, "false": False}


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
    *,
    reject_unknown_query: bool = True,
) -> dict[str, Any]:
    """Coerce and validate the declared parameters.

    ``reject_unknown_query``: a query parameter the operation does not declare is a problem
    (OpenAPI allows them; Layer's document asks for this).
    """
    if not query and not op.parameters:
        return {}
    values: dict[str, Any] = {}
    seen: dict[str, list[str]] = {}
    for name, value in query:
        seen.setdefault(name, []).append(value)
    if seen:  # most requests have no query string
        problems.extend(nul_problems({name: "".join(v) for name, v in seen.items()}, "query"))
    shares: dict[str, list[tuple[str, str]]] | None = None
    if _styled(op):
        shares, unknown = split_query(_query_parameters(op), query)
    else:
        unknown = [name for name in seen if name not in op.query_names] if seen else []
    if reject_unknown_query:
        for name in unknown:
            allowed = ", ".join(sorted(op.query_names)) or "none"
            problems.append(
                Problem(
                    f"query parameter {name!r} is not accepted here; accepted: {allowed}.",
                    {"location": "query", "pointer": f"/{_escape(name)}", "keyword": "unknown"},
                )
            )
    cookies: list[tuple[str, str]] | None = None
    for param, simple in _plan(op):
        pointer = param.pointer
        if not simple:
            if param.location == "cookie" and cookies is None:
                cookies = parse_cookie_header(headers.get("cookie"))
            value = _styled_value(param, path_params, shares, query, headers, cookies, problems)
            if value is MALFORMED:
                continue
            if value is ABSENT:
                _absent(param, values, problems)
                continue
        else:
            if param.location == "path":
                raw: str | None = path_params.get(param.name)
            elif param.location == "header":
                raw = headers.get(param.name.lower())
            else:
                given = seen.get(param.name)
                if given and len(given) > 1:
                    problems.append(
                        Problem(
                            f"query parameter {param.name!r} was given {len(given)} times; give "
                            "it once (use a comma-separated value where a list is accepted).",
                            {"location": "query", "pointer": pointer, "keyword": "type"},
                        )
                    )
                    continue
                raw = given[0] if given else None
            if raw is None:
                if param.required or param.default is not None:
                    _absent(param, values, problems)
                continue
            value = _coerce(param, raw)
        for violation in param.validator.violations(value):
            problems.append(problem(param.location, violation, pointer))
        values[param.name] = value
    return values


def _absent(param: Parameter, values: dict[str, Any], problems: list[Problem]) -> None:
    if param.required:
        problems.append(
            Problem(
                f"{param.location} parameter {param.name!r} is required.",
                {"location": param.location, "pointer": param.pointer, "keyword": "required"},
            )
        )
    elif param.default is not None:
        values[param.name] = param.default


def _simple(param: Parameter) -> bool:
    """A scalar in the default style of its location: read without the style machinery.

    Asked for every parameter of every request: the answer is kept on the (frozen) parameter,
    in its ``__dict__`` as ``cached_property`` keeps its values.
    """
    known: bool | None = param.__dict__.get("_simple")
    if known is None:
        known = param.__dict__["_simple"] = _is_simple(param)
    return known


def _is_simple(param: Parameter) -> bool:
    if param.media_type is not None or param.location == "cookie":
        return False
    if param.style != ("form" if param.location == "query" else "simple"):
        return False
    schema = param.schema if isinstance(param.schema, dict) else {}
    if "type" not in schema:
        return not (set(schema) & {"properties", "items", "anyOf", "oneOf", "allOf", "$ref"})
    return scalar_type(schema["type"])


def _plan(op: Operation) -> tuple[tuple[Parameter, bool], ...]:
    """The operation's parameters, each with whether it is ``_simple`` (kept on the
    operation, as ``_styled`` is)."""
    known: tuple[tuple[Parameter, bool], ...] | None = op.__dict__.get("_plan")
    if known is None:
        known = op.__dict__["_plan"] = tuple((p, _simple(p)) for p in op.parameters)
    return known


def _styled(op: Operation) -> bool:
    known: bool | None = op.__dict__.get("_styled")
    if known is None:
        known = any(p.location == "query" and not _simple(p) for p in op.parameters)
        op.__dict__["_styled"] = known
    return known


def _query_parameters(op: Operation) -> list[QueryParameter]:
    return [
        QueryParameter(p.name, p.style, p.explode, p.schema, p.media_type is not None)
        for p in op.parameters
        if p.location == "query"
    ]


def _styled_value(
    param: Parameter,
    path_params: Mapping[str, str],
    shares: Mapping[str, list[tuple[str, str]]] | None,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    cookies: list[tuple[str, str]] | None,
    problems: list[Problem],
) -> Any:
    raw: Any
    if param.location == "path":
        raw = path_params.get(param.name)
    elif param.location == "header":
        raw = headers.get(param.name.lower())
    elif param.location == "cookie":
        raw = cookies or []
    else:
        raw = shares.get(param.name, []) if shares is not None else list(query)
    if param.media_type is not None:
        return deserialize_content(param.name, param.location, param.media_type, raw, problems)
    return deserialize(
        param.name, param.location, param.style, param.explode, param.schema, raw, problems
    )


def _coerce(param: Parameter, raw: str) -> Any:
    # A value that does not coerce stays a string, so the validator reports a `type` violation.
    kind = param.scalar_type
    if kind == "integer" and (integer := as_integer(raw)) is not None:
        return integer
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
    declared = media_type if media_type in spec.media_types else None
    if declared is None:
        declared = select_request_media_type(content_type, spec.media_types)
    if declared is None:
        accepted = ", ".join(spec.media_types)
        raise UnsupportedMediaType(
            Problem(
                f"Content-Type {media_type or '(none)'!r} is not accepted; send {accepted}.",
                {"location": "header", "pointer": "/content-type", "keyword": "content-type"},
            )
        )
    validator = spec.media_types[declared]
    if media_type == JSON:
        body = _decode(media_type, raw, problems)
        if body is _MALFORMED:
            return None
    else:
        body = decode_body(
            content_type or declared,
            raw,
            validator.schema,
            spec.encodings.get(declared),
            problems,
        )
        if body is MALFORMED:
            return None
        if not schema_applies(declared):
            return body
    for violation in validator.violations(body):
        problems.append(problem("body", violation))
    return body


_MALFORMED = object()
#: Digits as "0", every other byte as a space: a body's digit runs, for a substring search
#: (a tenth of the time a regular expression takes). A run as long as 64-bit integers get
#: (or a float's long mantissa, read again alike) sends the body to the exact reading.
_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_NUMBER = b"0" * 19


def _decode(media_type: str, raw: bytes, problems: list[Problem]) -> Any:
    if media_type == JSON:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append(
                Problem(
                    f"the body is not valid JSON ({json_error(raw, exc)}); send a JSON object "
                    "encoded as UTF-8.",
                    {"location": "body", "pointer": "", "keyword": "json"},
                )
            )
            return _MALFORMED
        # Cheap checks of the text first: no more brackets than the depth limit, no escaped
        # NUL (JSON text can hold one in no other way), and nothing to walk.
        deep = too_deep(body) if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH else None
        if deep is not None:
            problems.append(
                Problem(
                    f"body {deep}: JSON is nested more than {MAX_JSON_DEPTH} levels deep here; "
                    "flatten the body.",
                    {"location": "body", "pointer": deep, "keyword": "maxDepth"},
                )
            )
            return _MALFORMED
        if _LONG_NUMBER in raw.translate(_DIGITS_ONLY):
            # orjson reads an integer beyond 64 bits as a float (10**30 as 1e+30, which an
            # integer schema admits, stored and answered as 1e+30): read exactly, it is refused,
            # and the schema judges the exact value too.
            exact = json.loads(raw)
            huge = huge_integers(exact)
            if huge:
                problems.extend(huge)
                body = exact
        if b"\\u0000" in raw:
            problems.extend(nul_problems(body))
        return body
    raise AssertionError(media_type)  # parse_body sends every other media type to bodies


def raise_if(problems: list[Problem]) -> None:
    if problems:
        raise BadRequest(problems)


def check_response(op: Operation, status: int, body: Any, media_type: str = JSON) -> None:
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
    key = media_type if media_type in declared.media_types else None
    if key is None and declared.media_types:
        key = select_request_media_type(media_type, declared.media_types)
    validator: Validator | None = declared.media_types.get(key) if key else None
    if validator is None:
        if body is None and not declared.media_types:
            return
        if body is None and status in (204, 304):
            return
        raise ContractViolation(
            Problem(
                f"The sandbox answered {op.operation_id} {status} with a {media_type} body, "
                "which the OpenAPI document does not declare.",
                {"operation_id": op.operation_id, "status": status},
            )
        )
    if key is not None and (not schema_applies(key) or (key != JSON and isinstance(body, str))):
        # XML is checked for being well-formed only; text of another type is the schema's
        # example or generated from it.
        return
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
