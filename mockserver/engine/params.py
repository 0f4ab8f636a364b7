"""Parameter styles: path, query, header and cookie text to JSON values (OpenAPI 3.0/3.1).

Every row of OpenAPI's style-values table is read: path ``simple``/``label``/``matrix``, query
``form``/``spaceDelimited``/``pipeDelimited``/``deepObject``, header ``simple``, cookie
``form``; ``explode`` true or false; primitive, array and object schemas. The values are then
coerced by the schema (``coercion.coerce``); validating them is the caller's step.

Where the specification is loose the reading is lenient: ``label`` arrays without explode are
comma-separated (RFC 6570 and OpenAPI 3.1.1; 3.0's table showed dots), exploded
``spaceDelimited``/``pipeDelimited`` read like exploded ``form``, ``name[]=a`` counts as ``name=a``
for an exploded array, and ``deepObject`` nests (``filter[created][gte]=1``) and takes arrays
as ``expand[]=a`` or ``items[0]=a`` the way Stripe's clients send them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..errors import Problem
from .coercion import (
    FieldTree,
    admits_other_properties,
    capped,
    coerce,
    declared_properties,
    schema_types,
)
from .limits import MAX_JSON_DEPTH, too_deep
from .schemas import _escape

#: The styles each location allows (OpenAPI 3.1 "Style Values").
STYLES: Final[Mapping[str, tuple[str, ...]]] = {
    "path": ("simple", "label", "matrix"),
    "query": ("form", "spaceDelimited", "pipeDelimited", "deepObject"),
    "header": ("simple",),
    "cookie": ("form",),
}
_DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
_DELIMITERS = {"form": ",", "spaceDelimited": " ", "pipeDelimited": "|"}


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Returned when the request does not give the parameter (required/default is the caller's).
ABSENT: Final = _Marker("ABSENT")
#: Returned when the value could not be read; the problem is already reported.
MALFORMED: Final = _Marker("MALFORMED")


@dataclass(frozen=True)
class ParameterStyle:
    """How a parameter is serialised: ``style`` and ``explode``, with OpenAPI's defaults."""

    location: str
    style: str
    explode: bool

    @classmethod
    def of(
        cls, location: str, style: str | None = None, explode: bool | None = None
    ) -> ParameterStyle:
        """The style of a parameter object; raises ``ValueError`` (with the allowed styles)
        for a location or style OpenAPI does not define."""
        allowed = STYLES.get(location)
        if allowed is None:
            raise ValueError(
                f"'in: {location}' is not a parameter location; use one of {list(STYLES)}"
            )
        style = style or _DEFAULT_STYLE[location]
        if style not in allowed:
            raise ValueError(
                f"style {style!r} is not defined for {location} parameters; "
                f"use one of {list(allowed)}"
            )
        return cls(location, style, style == "form" if explode is None else explode)


@dataclass(frozen=True)
class QueryParameter:
    """A declared query parameter, as ``split_query`` needs it."""

    name: str
    style: str = "form"
    explode: bool = True
    schema: Any = None
    content: bool = False  # declared with ``content`` (the value is one encoded document)


# --- query keys ---------------------------------------------------------------------------


def query_keys_for(parameter: QueryParameter, keys: Iterable[str]) -> list[str]:
    """The query keys among ``keys`` that ``parameter`` reads (``filter[status]`` for a
    ``deepObject`` named ``filter``), not counting the keys a free-form exploded object would
    take when no other parameter does (``split_query`` decides those)."""
    return [key for key in keys if _claims(parameter, key) is not None]


def split_query(
    parameters: Sequence[QueryParameter], pairs: Iterable[tuple[str, str]]
) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """Each declared parameter's share of the query pairs, and the keys no parameter reads.

    An exact name wins, then bracketed keys (``deepObject``, ``name[]``), then the properties
    of exploded ``form`` objects; keys left over go to the first free-form exploded object if
    there is one, else they are unknown.
    """
    shares: dict[str, list[tuple[str, str]]] = {p.name: [] for p in parameters}
    by_name = {p.name: p for p in parameters}
    catch_all = next((p for p in parameters if _is_free_form_object(p)), None)
    unknown: list[str] = []
    for key, value in pairs:
        owner = by_name.get(key)
        if owner is None:
            ranked = [(rank, p) for p in parameters if (rank := _claims(p, key)) is not None]
            owner = min(ranked, key=lambda pair: pair[0])[1] if ranked else catch_all
        if owner is None:
            if key not in unknown:
                unknown.append(key)
        else:
            shares[owner.name].append((key, value))
    return shares, unknown


def _claims(parameter: QueryParameter, key: str) -> int | None:
    """How strongly ``parameter`` reads ``key`` (lower is stronger), or None."""
    name = parameter.name
    if key == name:
        return 0
    if parameter.content:
        return None
    if parameter.style == "deepObject" and key.startswith(name + "[") and len(key) > len(name) + 1:
        return 1
    if parameter.explode and parameter.style != "deepObject":
        if key == name + "[]":
            return 1
        if _shape(parameter.schema) == "object" and key in declared_properties(parameter.schema):
            return 2
    return None


def _is_free_form_object(parameter: QueryParameter) -> bool:
    return (
        not parameter.content
        and parameter.explode
        and parameter.style in ("form", "spaceDelimited", "pipeDelimited")
        and _shape(parameter.schema) == "object"
        and admits_other_properties(parameter.schema)
    )


def _shape(schema: Any) -> str:
    """``array``, ``object`` or ``primitive``: how a value of ``schema`` is serialised."""
    types = schema_types(schema)
    if types is None:
        return "primitive"
    scalar = bool(types & {"string", "integer", "number", "boolean"})
    if "array" in types and not scalar:
        return "array"
    if "object" in types and not scalar and "array" not in types:
        return "object"
    return "primitive"


# --- deserializing ------------------------------------------------------------------------


def deserialize(
    name: str,
    location: str,
    style: str,
    explode: bool,
    schema: Any,
    raw: Any,
    problems: list[Problem],
) -> Any:
    """The parameter's value, coerced by ``schema``; ``ABSENT`` when not given, ``MALFORMED``
    (with a problem added) when it does not read in its style.

    ``raw`` is, for ``query``, the (key, value) pairs of the query string (or the parameter's
    share from ``split_query``, which a free-form exploded object needs); for ``path``, the
    percent-decoded segment; for ``header``, the header value (or None); for ``cookie``, the
    pairs of ``parse_cookie_header``.
    """
    shape = _shape(schema)
    reader = _Reader(name, location, problems)
    if location in ("query", "cookie"):
        value = reader.pairs(style, explode, shape, schema, list(raw or ()))
    elif raw is None:
        return ABSENT
    elif location == "path":
        value = reader.path(style, explode, shape, str(raw))
    else:
        value = reader.simple(explode, shape, str(raw), strip=True)
    if value is ABSENT or value is MALFORMED:
        return value
    return coerce(value, schema)


def deserialize_content(
    name: str, location: str, media_type: str, raw: Any, problems: list[Problem]
) -> Any:
    """A parameter declared with ``content``: its one value decoded as ``media_type`` (JSON and
    ``+json`` are parsed; any other media type is kept as the string). ``raw`` is as for
    ``deserialize``."""
    if location in ("query", "cookie"):
        values = [value for key, value in raw or () if key == name]
        if not values:
            return ABSENT
        if len(values) > 1:
            problems.append(_duplicate(name, location, len(values)))
            return MALFORMED
        text: str = values[0]
    elif raw is None:
        return ABSENT
    else:
        text = str(raw)
    essence = media_type.split(";", 1)[0].strip().lower()
    if not (essence == "application/json" or essence.endswith("+json")):
        return text
    pointer = f"/{_escape(name)}"
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        problems.append(
            Problem(
                f"{location} parameter {name!r} must be JSON ({media_type}): {exc}; "
                "send it JSON-encoded (and percent-encoded in a URL).",
                {"location": location, "pointer": pointer, "keyword": "json"},
            )
        )
        return MALFORMED
    deep = too_deep(value)
    if deep is not None:
        problems.append(
            Problem(
                f"{location} parameter {name!r}: its JSON is nested more than {MAX_JSON_DEPTH} "
                "levels deep; flatten it.",
                {"location": location, "pointer": pointer + deep, "keyword": "maxDepth"},
            )
        )
        return MALFORMED
    return value


def parse_cookie_header(header: str | None) -> list[tuple[str, str]]:
    """The (name, value) pairs of a ``Cookie`` header (RFC 6265 section 5.4), in order.

    Pairs are separated by ``;``; surrounding whitespace and the double quotes of a quoted
    value are removed; nothing is percent-decoded; a piece without ``=`` is skipped, as
    browsers do.
    """
    pairs: list[tuple[str, str]] = []
    for piece in (header or "").split(";"):
        name, equals, value = piece.partition("=")
        name = name.strip(" \t")
        if not equals or not name:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        pairs.append((name, value))
    return pairs


class _Reader:
    """Reads one parameter's text in its style; problems name the parameter."""

    def __init__(self, name: str, location: str, problems: list[Problem]) -> None:
        self.name = name
        self.location = location
        self.problems = problems

    def pairs(
        self, style: str, explode: bool, shape: str, schema: Any, pairs: list[tuple[str, str]]
    ) -> Any:
        name = self.name
        if style == "deepObject":
            return self._deep_object(schema, pairs)
        values = [value for key, value in pairs if key == name or (explode and key == name + "[]")]
        if explode:
            if shape == "array":
                return values if values else ABSENT
            if shape == "object" and not values:
                properties = declared_properties(schema)
                free = admits_other_properties(schema)
                given = [(k, v) for k, v in pairs if k in properties or free]
                if not given:
                    return ABSENT
                found: dict[str, str] = {}
                for key, value in given:
                    if key in found:
                        self.problems.append(_duplicate(key, self.location, 2))
                    found[key] = value
                return found
        if not values:
            return ABSENT
        if len(values) > 1:
            self.problems.append(_duplicate(name, self.location, len(values)))
            return MALFORMED
        return self._delimited(values[0], _DELIMITERS.get(style, ","), shape)

    def _deep_object(self, schema: Any, pairs: list[tuple[str, str]]) -> Any:
        prefix = self.name + "["
        tree = FieldTree(self.location, f"{self.location} parameter")
        given = False
        for key, value in pairs:
            if key == self.name or key.startswith(prefix):
                tree.add(key, value)
                given = True
        if not given:
            return ABSENT
        value = tree.build({"type": "object", "properties": {self.name: schema}}).get(
            self.name, ABSENT
        )
        if tree.problems:
            self.problems.extend(capped(tree.problems, self.location))
            return MALFORMED
        return value

    def path(self, style: str, explode: bool, shape: str, raw: str) -> Any:
        if style == "simple":
            return self.simple(explode, shape, raw, strip=False)
        if style == "label":
            if not raw.startswith("."):
                return self._bad(raw, "label style: a '.' before the value")
            body = raw[1:]
            if shape == "primitive":
                return body
            if shape == "array":
                return body.split("." if explode else ",") if body else []
            if explode:
                return self._key_values(body.split(".") if body else [], raw)
            return self._flat_pairs(body, ",", raw)
        # matrix
        if not raw.startswith(";"):
            return self._bad(raw, f"matrix style: ;{self.name}=value")
        pieces = raw[1:].split(";")
        if shape == "object" and explode:
            return self._key_values(pieces if raw[1:] else [], raw)
        values = []
        for piece in pieces:
            key, equals, value = piece.partition("=")
            if key != self.name:
                return self._bad(raw, f"matrix style: ;{self.name}=value")
            values.append(value if equals else "")
        if shape == "array" and explode:
            return [] if values == [""] else values
        if len(values) > 1:
            return self._bad(raw, f"matrix style: ;{self.name}=value, given once")
        return self._delimited(values[0], ",", shape)

    def simple(self, explode: bool, shape: str, raw: str, *, strip: bool) -> Any:
        if shape == "object" and explode:
            items = raw.split(",") if raw.strip() else []
            return self._key_values([i.strip() for i in items] if strip else items, raw)
        value = self._delimited(raw, ",", shape)
        if strip and isinstance(value, list):
            return [item.strip() for item in value]
        if strip and isinstance(value, dict):
            return {key.strip(): item.strip() for key, item in value.items()}
        return value

    def _delimited(self, raw: str, delimiter: str, shape: str) -> Any:
        if shape == "primitive":
            return raw
        if shape == "array":
            return raw.split(delimiter) if raw else []
        return self._flat_pairs(raw, delimiter, raw)

    def _flat_pairs(self, body: str, delimiter: str, raw: str) -> Any:
        items = body.split(delimiter) if body else []
        if len(items) % 2:
            return self._bad(
                raw, f"property and value pairs: key{delimiter}value{delimiter}key{delimiter}value"
            )
        return dict(zip(items[::2], items[1::2], strict=True))

    def _key_values(self, items: list[str], raw: str) -> Any:
        found: dict[str, str] = {}
        for item in items:
            key, equals, value = item.partition("=")
            if not equals:
                return self._bad(raw, "key=value for each property")
            found[key] = value
        return found

    def _bad(self, raw: str, expected: str) -> Any:
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        self.problems.append(
            Problem(
                f"{self.location} parameter {self.name!r} is {shown!r}, which does not read as "
                f"{expected}; write it that way.",
                {
                    "location": self.location,
                    "pointer": f"/{_escape(self.name)}",
                    "keyword": "style",
                },
            )
        )
        return MALFORMED


def _duplicate(name: str, location: str, count: int) -> Problem:
    return Problem(
        f"{location} parameter {name!r} was given {count} times; give it once.",
        {"location": location, "pointer": f"/{_escape(name)}", "keyword": "type"},
    )
