"""Answers built from the document alone: examples, generated data, and errors in its shape.

An operation with no behaviour and no inferred resource answers its success status (or the
one ``Prefer: code=`` asks for) with the document's example, else data generated from the
schema (``Prefer: dynamic=true`` always generates; ``example=NAME`` picks a named example).
Errors follow the document: the response it declares for the status, shaped by its schema
with every violation where the schema has room, else an RFC 9457 problem document.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import BadRequest, NotAcceptable, Problem, SandboxError
from .bodies import negotiate
from .dispatch import Reply
from .examples import pick_example, to_text, to_xml
from .generate import GenerationError, generate
from .spec import Operation, ResponseSpec

PROBLEM_JSON = "application/problem+json"
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def success_status(op: Operation) -> int:
    """The status an operation answers when it succeeds: its lowest documented 2xx."""
    return op.success_status


@functools.lru_cache(maxsize=512)
def is_json(media_type: str) -> bool:
    main = media_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or main.endswith("+json") or main == "*/*"


def choose_media_type(response: ResponseSpec | None, accept: str | None) -> str | None:
    """The media type to answer with, by ``Accept``; raises ``NotAcceptable`` when none fits."""
    if response is None or not response.media_types:
        return None
    if not accept or accept.strip() in ("*/*", ""):
        # No preference: JSON when the response has it (what most clients read), else the
        # first. Asked on every request: kept on the (frozen) response, as cached_property does.
        known: str | None = response.__dict__.get("_no_preference")
        if known is None:
            known = next((m for m in response.media_types if is_json(m)), None)
            known = response.__dict__["_no_preference"] = known or next(iter(response.media_types))
        return known
    available = list(response.media_types)
    chosen = negotiate(accept, available)
    if chosen is None:
        raise NotAcceptable(
            Problem(
                f"Accept {accept!r} admits none of the media types this response has: "
                f"{', '.join(available)}; accept one of them (or */*).",
                {"location": "header", "pointer": "/accept", "keyword": "accept"},
            )
        )
    return chosen


def example_reply(
    op: Operation,
    status: int,
    accept: str | None,
    *,
    example: str | None = None,
    dynamic: bool = False,
    seed: int = 0,
) -> Reply:
    """``status`` answered from the document: its example, else data generated from it."""
    response = op.response_for(status)
    media_type = choose_media_type(response, accept)
    if response is None or media_type is None:
        return Reply(status, None)
    media = response.content.get(media_type, {})
    validator = response.media_types[media_type]
    value: Any = None
    found = False
    if not dynamic:
        found, value = pick_example(media, example)
        if found and example is None and not validator.is_valid(value):
            found = False  # an example that breaks its own schema is not served
    if example is not None and not found:
        names = ", ".join(media.get("examples") or {}) or "none"
        raise BadRequest(
            Problem(
                f"Prefer asks for example {example!r}, which the {status} response of "
                f"{op.operation_id} does not have; its examples: {names}.",
                {"location": "header", "pointer": "/prefer", "keyword": "prefer"},
            )
        )
    if not found:
        value = generated(validator.schema, op, status, media_type, seed)
    return Reply(status, encode(value, media_type, validator.schema), media_type=media_type)


def generated(
    schema: Any, op: Operation, status: int, media_type: str, seed: int, max_depth: int = 6
) -> Any:
    key = f"{seed}/{op.operation_id}/{status}/{media_type}"
    try:
        return generate(schema, seed=zlib.crc32(key.encode()), max_depth=max_depth)
    except (GenerationError, RecursionError):
        return None


def encode(value: Any, media_type: str, schema: Any) -> Any:
    """A value as the body of ``media_type``: JSON values as they are, text and XML as text."""
    if is_json(media_type):
        return value
    main = media_type.split(";", 1)[0].strip().lower()
    if main.endswith("/xml") or main.endswith("+xml"):
        return value if isinstance(value, str) else to_xml(value, schema)
    if main.startswith("text/"):
        return to_text(value)
    return value if isinstance(value, str | bytes) else to_text(value)


def in_media_type(op: Operation, reply: Reply, accept: str | None) -> Reply:
    """A behaviour's JSON reply re-encoded as the media type ``Accept`` chose (XML, text)."""
    response = op.response_for(reply.status)
    if response is None or reply.body is None or not is_json(reply.media_type):
        return reply
    chosen = choose_media_type(response, accept)
    if chosen is None or is_json(chosen):
        return reply
    schema = response.media_types[chosen].schema
    return Reply(reply.status, encode(reply.body, chosen, schema), reply.headers, chosen)


def error_reply(op: Operation | None, exc: SandboxError, accept: str | None) -> Reply:
    """``exc`` answered as the document describes errors (see the module docstring)."""
    status = exc.status
    if isinstance(exc, BadRequest) and op is not None:
        status = 422 if "422" in op.responses else 400 if "400" in op.responses else 422
    headers = dict(exc.headers)
    declared = op.response_for(status) if op is not None else None
    if declared is not None and declared.media_types:
        media_type = negotiate(accept, list(declared.media_types)) or next(
            iter(declared.media_types)
        )
        validator = declared.media_types[media_type]
        if is_json(media_type) and op is not None:
            for body in _shapes(validator.schema, status, exc.problems, op):
                if body is not None and validator.is_valid(body):
                    return Reply(status, body, headers, media_type=media_type)
            body = generated(validator.schema, op, status, media_type, 0)
            if body is not None:
                return Reply(status, body, headers, media_type=media_type)
        elif op is not None:
            # An error documented only as XML or text: its example, else data generated from
            # its schema, in that media type (what went wrong is in the journal).
            reply = example_reply(op, status, media_type)
            return Reply(status, reply.body, headers, media_type=media_type)
    return Reply(status, problem_document(status, exc.problems), headers, media_type=PROBLEM_JSON)


def problem_document(status: int, problems: Sequence[Problem]) -> dict[str, Any]:
    """RFC 9457: what went wrong, with every violation's location and JSON Pointer."""
    return {
        "type": "about:blank",
        "title": _REASONS.get(status, "Error"),
        "status": status,
        "detail": " ".join(p.description for p in problems),
        "errors": [_violation(p) for p in problems],
    }


def _violation(p: Problem) -> dict[str, Any]:
    out: dict[str, Any] = {"message": p.description}
    for key in ("location", "pointer", "keyword"):
        if key in p.meta:
            out[key] = p.meta[key]
    return out


#: Property names that carry the summary, the status, and the list of violations.
_MESSAGE_NAMES = ("message", "detail", "description", "title", "error", "error_description")
_STATUS_NAMES = ("status", "code", "statusCode", "status_code")
_LIST_NAMES = ("errors", "violations", "details", "issues", "problems", "fields", "validation")


def _shapes(schema: Any, status: int, problems: Sequence[Problem], op: Operation) -> Iterator[Any]:
    """Error bodies to try, in turn: the shape of each of the schema's ``oneOf``/``anyOf``
    branches, with all it may hold and then with only what it requires (GitHub's 422 is a
    validation error or a rule violation; an object with both their fields matches both),
    then the schema's own."""
    if isinstance(schema, dict):
        for branch in [*(schema.get("oneOf") or ()), *(schema.get("anyOf") or ())]:
            yield _shaped(branch, status, problems, op)
            yield _shaped(branch, status, problems, op, lean=True)
    yield _shaped(schema, status, problems, op)


def _shaped(
    schema: Any, status: int, problems: Sequence[Problem], op: Operation, lean: bool = False
) -> Any:
    """The error schema's own shape, holding the problems where it has room for them
    (``lean``: on a value with only the properties it requires)."""
    if not isinstance(schema, dict):
        return None
    base = generated(schema, op, status, "application/json", 0, max_depth=0 if lean else 6)
    if not isinstance(base, dict):
        return base
    properties: Mapping[str, Any] = schema.get("properties") or {}
    summary = " ".join(p.description for p in problems)
    for name, sub in properties.items():
        kind = sub.get("type") if isinstance(sub, dict) else None
        kinds = kind if isinstance(kind, list) else [kind]
        if name in _MESSAGE_NAMES and "string" in kinds:
            base[name] = summary
        elif name in _STATUS_NAMES and "integer" in kinds:
            base[name] = status
        elif name in _STATUS_NAMES and "string" in kinds and "enum" not in sub:
            base[name] = str(status)
        elif name in _LIST_NAMES and "array" in kinds:
            items = sub.get("items") if isinstance(sub.get("items"), dict) else {}
            item_kind = items.get("type")
            if item_kind == "string":
                base[name] = [p.description for p in problems]
            elif item_kind == "object" or "properties" in items:
                base[name] = [_shaped_item(items, p) for p in problems]
    return base


def _shaped_item(schema: Mapping[str, Any], p: Problem) -> dict[str, Any]:
    names = set((schema.get("properties") or {}).keys())
    open_object = schema.get("additionalProperties", True) is not False
    item: dict[str, Any] = {}
    for key, value in _violation(p).items():
        aliases = {
            "message": ("message", "detail", "description", "msg", "error"),
            "pointer": ("pointer", "path", "field", "loc"),
            "location": ("location", "in", "source"),
            "keyword": ("keyword", "code", "type", "rule"),
        }[key]
        for alias in aliases:
            if alias in names:
                item[alias] = value
                break
        else:
            if open_object:
                item[key] = value
    return item
