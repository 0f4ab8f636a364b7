"""Media types of bodies: matching a request's Content-Type, negotiating Accept, decoding.

``decode_body`` turns a request body into the JSON value its schema is checked against: JSON
(and every ``+json`` type), ``application/x-www-form-urlencoded`` (bracketed keys nest, repeated
keys make arrays), ``multipart/form-data``, ``text/*``, XML (well-formedness only) and any
other type as opaque bytes.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import ParseError

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import Problem
from .coercion import (
    Decoded,
    FieldTree,
    capped,
    coerce,
    coerce_scalar,
    declared_properties,
    property_schema,
    schema_parts,
    schema_types,
)
from .limits import MAX_JSON_DEPTH, nul_problems, too_deep
from .params import MALFORMED
from .schemas import _escape

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_XML = frozenset({"application/xml", "text/xml"})
_DELIMITERS = {"form": ",", "spaceDelimited": " ", "pipeDelimited": "|"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")

__all__ = [
    "FORM",
    "JSON",
    "MALFORMED",
    "MULTIPART",
    "decode_body",
    "media_type_matches",
    "negotiate",
    "schema_applies",
    "select_request_media_type",
]


# --- media types --------------------------------------------------------------------------


def parse_media_type(text: str | None) -> tuple[str, str, dict[str, str]] | None:
    """``type``, ``subtype`` (lower case) and parameters of a media type; None if malformed."""
    if not text:
        return None
    essence, *rest = text.split(";")
    kind, slash, subtype = essence.strip().lower().partition("/")
    if not slash or not _TOKEN.match(kind) or not _TOKEN.match(subtype):
        return None
    params: dict[str, str] = {}
    for piece in rest:
        name, equals, value = piece.partition("=")
        if equals:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            params[name.strip().lower()] = value
    return kind, subtype, params


def essence_of(text: str | None) -> str:
    """``type/subtype`` of a media type in lower case, parameters dropped (``""`` if none)."""
    parsed = parse_media_type(text)
    return f"{parsed[0]}/{parsed[1]}" if parsed else ""


def _is_json(kind: str, subtype: str) -> bool:
    return (kind, subtype) == ("application", "json") or subtype.endswith("+json")


def _match_rank(content_type: str | None, declared: str) -> int | None:
    """How closely ``content_type`` matches a declared key (0 exact ... 4 ``*/*``), or None."""
    given = parse_media_type(content_type)
    wanted = parse_media_type(declared)
    if given is None or wanted is None:
        return None
    kind, subtype, params = given
    w_kind, w_subtype, w_params = wanted
    if (kind, subtype) == (w_kind, w_subtype):
        return 0 if params == w_params else 1
    if (
        (w_kind, w_subtype) == ("application", "json")
        and kind == "application"
        and _is_json(kind, subtype)
    ):
        return 2
    if w_kind == "*" and w_subtype == "*":
        return 4
    if w_kind == kind and (w_subtype == "*" or (w_subtype == "*+json" and _is_json(kind, subtype))):
        return 3
    return None


def media_type_matches(content_type: str | None, declared: str) -> bool:
    """Whether a request's ``Content-Type`` is one a declared ``content`` key accepts: the same
    type (parameters aside), a ``+json`` type for ``application/json``, or a wildcard
    (``text/*``, ``*/*``); case-insensitive."""
    return _match_rank(content_type, declared) is not None


def select_request_media_type(content_type: str | None, declared_keys: Iterable[str]) -> str | None:
    """The declared ``content`` key a request body is read by: an exact match first, then one
    ignoring parameters, then ``application/json`` for a ``+json`` type, then ``type/*``, then
    ``*/*``; None (a 415) when none accepts it or the Content-Type is missing or malformed."""
    best: tuple[int, str] | None = None
    for declared in declared_keys:
        rank = _match_rank(content_type, declared)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, declared)
    return best[1] if best else None


def negotiate(accept: str | None, available: Sequence[str]) -> str | None:
    """The media type of ``available`` to answer with for an ``Accept`` header, or None (406).

    The most specific range matching a type gives its quality (``type/subtype`` over
    ``type/*`` over ``*/*``); the highest quality above 0 wins, then the more specific match,
    then the earlier of ``available``. ``application/json`` in Accept also takes a ``+json``
    type when nothing else matches it. A missing or empty header (or one with no valid range)
    takes the first available.
    """
    if not available:
        return None
    ranges = _accept_ranges(accept)
    if not ranges:
        return available[0]
    best: tuple[float, int, int] | None = None
    chosen = None
    for index, offer in enumerate(available):
        parsed = parse_media_type(offer)
        if parsed is None:
            continue
        match = _best_range(parsed, ranges)
        if match is None or match[0] <= 0:
            continue
        key = (match[0], match[1], -index)
        if best is None or key > best:
            best, chosen = key, offer
    return chosen


def _accept_ranges(accept: str | None) -> list[tuple[str, str, dict[str, str], float]]:
    ranges = []
    for item in (accept or "").split(","):
        parsed = parse_media_type(item)
        if parsed is None:
            continue
        kind, subtype, params = parsed
        if kind == "*" and subtype != "*":
            continue
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            continue
        if not 0 <= quality <= 1:
            continue
        ranges.append((kind, subtype, params, quality))
    return ranges


def _best_range(
    offer: tuple[str, str, dict[str, str]], ranges: list[tuple[str, str, dict[str, str], float]]
) -> tuple[float, int] | None:
    kind, subtype, params = offer
    best: tuple[int, float] | None = None
    for r_kind, r_subtype, r_params, quality in ranges:
        if r_kind == "*" or kind == "*":
            specificity = 1
        elif r_kind != kind:
            continue
        elif r_subtype == "*" or subtype == "*":
            specificity = 2
        elif r_subtype == subtype:
            if r_params and r_params != params:
                continue
            specificity = 4 if r_params else 3
        elif (r_kind, r_subtype) == ("application", "json") and subtype.endswith("+json"):
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, quality)
    return (best[1], best[0]) if best else None


@functools.lru_cache(maxsize=256)  # the document's media types: read on every response
def schema_applies(media_type: str | None) -> bool:
    """Whether the decoded body of ``media_type`` is checked against its schema (not XML)."""
    parsed = parse_media_type(media_type)
    return parsed is None or not _is_xml(parsed[0], parsed[1])


def _is_xml(kind: str, subtype: str) -> bool:
    return f"{kind}/{subtype}" in _XML or subtype.endswith("+xml")


# --- decoding -----------------------------------------------------------------------------


def decode_body(
    media_type: str,
    raw: bytes,
    schema: Any,
    encoding: Mapping[str, Any] | None,
    problems: list[Problem],
) -> Any:
    """The request body as the value its schema is checked against; ``MALFORMED`` (with
    problems added) when it cannot be read at all.

    ``media_type`` is the request's full ``Content-Type`` (a multipart boundary is read from
    it); ``encoding`` is the media type object's ``encoding`` map. By type:

    - JSON and ``+json``: parsed (UTF-8), nesting capped, NUL characters reported.
    - form: properties coerced by the schema; ``a[b]=1`` and ``items[0][price]=x`` nest,
      ``expand[]=a`` and repeated keys make arrays (a repeated key for a property that is not
      an array is a problem), ``encoding`` styles split delimited values.
    - ``multipart/form-data``: text parts are read like form values, JSON parts parsed, file
      parts (a filename, a binary type or a ``format: binary`` property) kept as strings.
    - ``text/*``: decoded by its charset (UTF-8 by default), coerced by the schema.
    - XML: only checked to be well-formed, without DTD entities or external references; the
      text is returned and ``schema_applies`` says not to validate it.
    - anything else: the bytes, as a latin-1 string (one character per byte, so
      ``format: binary`` and ``maxLength`` apply; ``.encode("latin-1")`` gives them back).
    """
    parsed = parse_media_type(media_type) or ("application", "octet-stream", {})
    kind, subtype, params = parsed
    if _is_json(kind, subtype):
        return _decode_json(raw, problems, "", "the body")
    if (kind, subtype) == ("application", "x-www-form-urlencoded"):
        return _decode_form(raw, schema, encoding or {}, problems)
    if (kind, subtype) == ("multipart", "form-data"):
        return _decode_multipart(raw, params, schema, encoding or {}, problems)
    if _is_xml(kind, subtype):
        return _check_xml(raw, problems)
    if kind == "text":
        text = _decode_text(raw, params.get("charset", "utf-8"), "", problems)
        if text is None:
            return MALFORMED
        return coerce_scalar(text, schema) if schema is not None else text
    return raw.decode("latin-1")


def _body_problem(description: str, pointer: str, keyword: str) -> Problem:
    return Problem(description, {"location": "body", "pointer": pointer, "keyword": keyword})


def _decode_json(raw: bytes, problems: list[Problem], name: str, what: str) -> Any:
    """JSON from ``raw``; ``name`` places a form field or part (``""`` for the body)."""
    pointer = f"/{_escape(name)}" if name else ""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problems.append(
            _body_problem(
                f"{what} is not valid JSON ({json_error(raw, exc)}); send JSON encoded as UTF-8.",
                pointer,
                "json",
            )
        )
        return MALFORMED
    deep = too_deep(value)
    if deep is not None:
        problems.append(
            _body_problem(
                f"body {pointer + deep}: JSON is nested more than {MAX_JSON_DEPTH} levels deep "
                "here; flatten it.",
                pointer + deep,
                "maxDepth",
            )
        )
        return MALFORMED
    # A part's NUL characters are reported under its name.
    problems.extend(nul_problems({name: value} if name else value))
    return value


def json_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
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


def _decode_text(raw: bytes, charset: str, pointer: str, problems: list[Problem]) -> str | None:
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        problems.append(
            _body_problem(
                f"charset {charset!r} is not one this sandbox knows; send UTF-8 (charset=utf-8).",
                pointer,
                "charset",
            )
        )
        return None
    try:
        return raw.decode(codec.name)
    except UnicodeDecodeError as bad:
        where = f"part {pointer[1:]!r}" if pointer else "the body"
        problems.append(
            _body_problem(
                f"{where} is not valid {charset}: byte 0x{raw[bad.start]:02x} at offset "
                f"{bad.start}; encode the text as {charset} (or declare its charset).",
                pointer,
                "encoding",
            )
        )
        return None


def _decode_form(
    raw: bytes, schema: Any, encoding: Mapping[str, Any], problems: list[Problem]
) -> Any:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        problems.append(
            _body_problem(
                f"the form body is not valid UTF-8: byte 0x{raw[bad.start]:02x} at offset "
                f"{bad.start}; percent-encode text as UTF-8.",
                "",
                "encoding",
            )
        )
        return MALFORMED
    found: list[Problem] = []
    tree = FieldTree("body", "form field", declared_properties(schema))
    # latin-1 keeps every percent-decoded byte as one code point, so the UTF-8 check sees them.
    for raw_key, raw_value in parse_qsl(
        raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1"
    ):
        key, text = _utf8(raw_key), _utf8(raw_value)
        if key is None or text is None:
            name = raw_key.encode("latin-1").decode("utf-8", "replace")
            found.append(
                _body_problem(
                    f"form field {name!r}: {'its value' if key is not None else 'its name'} is "
                    "not valid UTF-8 once percent-decoded; percent-encode text as UTF-8.",
                    f"/{_escape(name)}",
                    "encoding",
                )
            )
            continue
        tree.add(key, _form_value(key, text, schema, encoding, tree.literal_names, found))
    form = tree.build(schema)
    found.extend(tree.problems)
    found.extend(nul_problems(form))
    problems.extend(capped(found, "body"))
    return form


def _utf8(text: str) -> str | None:
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return None


def _form_value(
    key: str,
    value: str,
    schema: Any,
    encoding: Mapping[str, Any],
    literal_names: Container[str],
    problems: list[Problem],
) -> Any:
    """A form value, or a ``Decoded`` one where the property's ``encoding`` says how to read it."""
    rule = encoding.get(key) if key in literal_names or "[" not in key else None
    if not isinstance(rule, Mapping):
        return value
    content_type = str(rule.get("contentType", "")).split(",")[0]
    if content_type and _is_json(*(parse_media_type(content_type) or ("", ""))[:2]):
        decoded = _decode_json(value.encode(), problems, key, f"form field {key!r}")
        return Decoded(decoded) if decoded is not MALFORMED else value
    style = rule.get("style", "form")
    explode = rule.get("explode", style == "form")
    delimiter = _DELIMITERS.get(style)
    if explode or delimiter is None:
        return value
    prop = property_schema(schema, key)
    types = schema_types(prop) or frozenset()
    items = value.split(delimiter) if value else []
    if "array" in types:
        return Decoded(coerce(items, prop))
    if "object" in types and len(items) % 2 == 0:
        return Decoded(coerce(dict(zip(items[::2], items[1::2], strict=True)), prop))
    return value


def _check_xml(raw: bytes, problems: list[Problem]) -> Any:
    """XML is only checked to be well-formed: no schema validation, no entity expansion."""
    try:
        parse_xml(raw, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        problems.append(
            _body_problem(
                f"the XML body declares entities or external references ({type(exc).__name__}), "
                "which this sandbox does not resolve; send the XML without them.",
                "",
                "xml",
            )
        )
        return MALFORMED
    except ParseError as exc:
        line, column = exc.position
        problems.append(
            _body_problem(
                f"the body is not well-formed XML (line {line}, column {column + 1}); fix it.",
                "",
                "xml",
            )
        )
        return MALFORMED
    return raw.decode("utf-8", "replace")


# --- multipart ----------------------------------------------------------------------------


class _Part:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.data = bytearray()


def _split_multipart(raw: bytes, boundary: str, problems: list[Problem]) -> list[_Part] | None:
    parts: list[_Part] = []
    field = bytearray()
    value = bytearray()
    ended = False

    def on_part_begin() -> None:
        parts.append(_Part())

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1].headers[field.decode("latin-1").lower()] = value.decode("latin-1")
        field.clear()
        value.clear()

    def on_end() -> None:
        nonlocal ended
        ended = True

    callbacks: Any = {
        "on_part_begin": on_part_begin,
        "on_part_data": on_part_data,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_end": on_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(raw)
        parser.finalize()
    except (MultipartParseError, ValueError) as exc:
        problems.append(
            _body_problem(
                f"the multipart body does not parse ({exc}); send multipart/form-data framed by "
                "the boundary named in Content-Type.",
                "",
                "multipart",
            )
        )
        return None
    if not ended:
        problems.append(
            _body_problem(
                f"the multipart body ends before its closing boundary (--{boundary}--); send "
                "the whole body.",
                "",
                "multipart",
            )
        )
        return None
    return parts


def _decode_multipart(
    raw: bytes,
    params: Mapping[str, str],
    schema: Any,
    encoding: Mapping[str, Any],
    problems: list[Problem],
) -> Any:
    boundary = params.get("boundary")
    if not boundary:
        problems.append(
            _body_problem(
                "Content-Type multipart/form-data needs its boundary parameter "
                "(multipart/form-data; boundary=...); send it.",
                "",
                "multipart",
            )
        )
        return MALFORMED
    parts = _split_multipart(raw, boundary, problems)
    if parts is None:
        return MALFORMED
    found: list[Problem] = []
    tree = FieldTree("body", "multipart part", declared_properties(schema))
    for index, part in enumerate(parts):
        disposition, options = parse_options_header(part.headers.get("content-disposition"))
        name = options.get(b"name")
        if disposition != b"form-data" or name is None:
            found.append(
                _body_problem(
                    f"multipart part {index + 1} has no 'Content-Disposition: form-data; "
                    "name=...' header; name every part.",
                    "",
                    "multipart",
                )
            )
            continue
        key = name.decode("utf-8", "replace")
        item = _part_value(key, part, b"filename" in options, schema, encoding, found)
        if item is not None:
            tree.add(key, item)
    value = tree.build(schema)
    found.extend(tree.problems)
    problems.extend(capped(found, "body"))
    return value


def _part_value(
    key: str,
    part: _Part,
    is_file: bool,
    schema: Any,
    encoding: Mapping[str, Any],
    problems: list[Problem],
) -> Any:
    top = key.split("[", 1)[0]
    prop = property_schema(schema, key) or property_schema(schema, top)
    rule = encoding.get(key) or encoding.get(top)
    declared = str(rule.get("contentType", "")) if isinstance(rule, Mapping) else ""
    content_type = part.headers.get("content-type") or declared.split(",")[0].strip()
    if not content_type and schema_types(prop) == frozenset({"object"}):
        content_type = JSON  # OpenAPI's default for object properties in multipart
    parsed = parse_media_type(content_type)
    pointer = f"/{_escape(key)}"
    if parsed is not None and _is_json(parsed[0], parsed[1]):
        value = _decode_json(bytes(part.data), problems, key, f"multipart part {key!r}")
        return None if value is MALFORMED else Decoded(value)
    textual = parsed is None or parsed[0] == "text"
    if is_file or not textual or _binary_schema(prop):
        return Decoded(part.data.decode("latin-1"))
    charset = parsed[2].get("charset", "utf-8") if parsed else "utf-8"
    text = _decode_text(bytes(part.data), charset, pointer, problems)
    if text is None:
        return None
    problems.extend(nul_problems({key: text}))
    return text


def _binary_schema(schema: Any) -> bool:
    return any(
        part.get("format") == "binary" or "contentMediaType" in part or "contentEncoding" in part
        for part in schema_parts(schema)
    )
