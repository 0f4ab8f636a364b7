"""Strings to the JSON values a schema wants: the coerce step of parameters and form bodies.

Query strings, headers, cookies, form and multipart bodies carry only text. ``coerce`` turns
that text into integers, numbers, booleans and nulls where the schema asks for them, and leaves
anything that does not convert as the string, so the validator reports a ``type`` violation
the client can act on. ``FieldTree`` rebuilds nested objects and arrays from bracketed keys
(``metadata[key]=v``, ``items[0][price]=x``, ``expand[]=a``), the convention of Stripe, Rails
and PHP clients.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Problem
from .limits import INTEGER_RANGE, MAX_JSON_DEPTH
from .schemas import _escape

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOLEANS = {"true": True, "false": False}
#: Deepest bracket nesting accepted in a key (``a[b][c]`` is 3 levels), as for JSON bodies.
MAX_KEY_DEPTH = MAX_JSON_DEPTH
#: Problems reported per parsed value; the rest are summarised in one more entry.
MAX_PROBLEMS = 20
#: Subschemas visited when resolving one schema's ``allOf``/``anyOf``/``oneOf``/``$ref``.
_MAX_PARTS = 256
_COMBINING = frozenset({"$ref", "allOf", "anyOf", "oneOf"})
_SCALAR_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


# --- reading a schema ---------------------------------------------------------------------


def schema_parts(schema: Any, root: Any = None) -> list[Mapping[str, Any]]:
    """``schema`` and every subschema it combines: ``allOf``/``anyOf``/``oneOf`` branches and
    local ``$ref`` targets (``#/$defs/...`` against ``root``), each once."""
    if isinstance(schema, Mapping) and not _COMBINING.intersection(schema):
        return [schema]  # the common case: nothing to follow
    if root is None:
        root = schema
    parts: list[Mapping[str, Any]] = []
    seen: set[int] = set()
    pending = [schema]
    while pending and len(parts) < _MAX_PARTS:
        node = pending.pop(0)
        if not isinstance(node, Mapping) or id(node) in seen:
            continue
        seen.add(id(node))
        parts.append(node)
        ref = node.get("$ref")
        if isinstance(ref, str):
            pending.append(_resolve(ref, root))
        for keyword in ("allOf", "anyOf", "oneOf"):
            branches = node.get(keyword)
            if isinstance(branches, list):
                pending.extend(branches)
    return parts


def _resolve(ref: str, root: Any) -> Any:
    if not ref.startswith("#"):
        return None
    node = root
    for token in ref[1:].split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def schema_types(schema: Any, root: Any = None) -> frozenset[str] | None:
    """The JSON types ``schema`` admits across its branches; None when it names none (any)."""
    types: set[str] = set()
    for part in schema_parts(schema, root):
        declared = part.get("type")
        if isinstance(declared, str):
            types.add(declared)
        elif isinstance(declared, list):
            types.update(t for t in declared if isinstance(t, str))
        for literal in _literals(part):
            types.add(_json_type(literal))
    return frozenset(types) if types else None


def _literals(part: Mapping[str, Any]) -> list[Any]:
    values: list[Any] = []
    if "const" in part:
        values.append(part["const"])
    enum = part.get("enum")
    if isinstance(enum, list):
        values.extend(enum)
    return values


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return _SCALAR_TYPES.get(type(value), "string")


def property_schema(schema: Any, name: str, root: Any = None) -> Any:
    """The schema of property ``name``: ``properties``, then ``patternProperties``, then
    ``additionalProperties``, looked up across the schema's branches; None if unknown."""
    return property_in(schema_parts(schema, root), name)


def property_in(parts: list[Mapping[str, Any]], name: str) -> Any:
    """``property_schema`` on the ``schema_parts`` of a schema (to look up many names)."""
    for part in parts:
        properties = part.get("properties")
        if isinstance(properties, Mapping) and name in properties:
            return properties[name]
    for part in parts:
        patterns = part.get("patternProperties")
        if isinstance(patterns, Mapping):
            for pattern, subschema in patterns.items():
                try:
                    if re.search(pattern, name):
                        return subschema
                except re.error:
                    continue
    for part in parts:
        additional = part.get("additionalProperties")
        if isinstance(additional, Mapping):
            return additional
    return None


def declared_properties(schema: Any, root: Any = None) -> set[str]:
    """The property names ``schema`` declares across its branches."""
    names: set[str] = set()
    for part in schema_parts(schema, root):
        properties = part.get("properties")
        if isinstance(properties, Mapping):
            names.update(properties)
    return names


def admits_other_properties(schema: Any, root: Any = None) -> bool:
    """Whether ``schema`` admits properties it does not declare (free-form objects)."""
    parts = schema_parts(schema, root)
    if any(isinstance(part.get("patternProperties"), Mapping) for part in parts):
        return True
    return all(part.get("additionalProperties", True) is not False for part in parts) and not any(
        part.get("unevaluatedProperties") is False for part in parts
    )


def item_schema(schema: Any, index: int, root: Any = None) -> Any:
    """The schema of item ``index`` of an array: ``prefixItems``, then ``items``."""
    parts = schema_parts(schema, root)
    for part in parts:
        prefix = part.get("prefixItems")
        if isinstance(prefix, list) and index < len(prefix):
            return prefix[index]
    for part in parts:
        items = part.get("items")
        if isinstance(items, Mapping):
            return items
    return None


# --- coercing -----------------------------------------------------------------------------


def coerce(value: Any, schema: Any, root: Any = None) -> Any:
    """``value`` (strings, and lists and dicts of them) with each string converted to the
    integer, number, boolean or null that ``schema`` wants there; what does not convert stays
    a string. Values that are not strings are left as they are."""
    if root is None:
        root = schema
    if schema is None or schema is True:
        return value
    if isinstance(value, str):
        return coerce_scalar(value, schema, root)
    if isinstance(value, list):
        return [coerce(item, item_schema(schema, i, root), root) for i, item in enumerate(value)]
    if isinstance(value, dict):
        parts = schema_parts(schema, root)
        return {key: coerce(item, property_in(parts, key), root) for key, item in value.items()}
    return value


def as_integer(raw: str) -> int | None:
    """``raw`` as an integer in ``INTEGER_RANGE``, else None: a string of digits beyond it
    stays a string (a ``type`` violation), as JSON bodies refuse it too."""
    if not _INTEGER.match(raw) or len(raw) > 21:  # sign and 20 digits; int() would refuse 4301
        return None
    value = int(raw)
    return value if INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1] else None


def coerce_scalar(raw: str, schema: Any, root: Any = None) -> Any:
    """One string converted to what ``schema`` wants (see ``coerce``)."""
    types = schema_types(schema, root)
    if types is None or types == {"string"}:
        return raw
    if any(raw == literal for part in schema_parts(schema, root) for literal in _literals(part)):
        return raw  # an enum or const names this very string
    if "integer" in types and (integer := as_integer(raw)) is not None:
        return integer
    if "number" in types and _NUMBER.match(raw):
        if (integer := as_integer(raw)) is not None:
            return integer
        number = float(raw)
        if math.isfinite(number):
            return number
    if "boolean" in types and raw in _BOOLEANS:
        return _BOOLEANS[raw]
    if "null" in types and raw == "null" and "string" not in types:
        return None
    return raw


def wants_array(schema: Any, root: Any = None) -> bool:
    """Whether ``schema`` admits arrays but not a lone string (so one value becomes a list)."""
    types = schema_types(schema, root)
    return types is not None and "array" in types and "string" not in types


# --- bracketed keys -----------------------------------------------------------------------


def split_key(key: str) -> list[str] | None:
    """``a[b][0][]`` -> ``["a", "b", "0", ""]``; a plain key is one segment; None when the
    brackets are unbalanced or something follows the last ``]``."""
    start = key.find("[")
    if start == -1:
        return [key]
    if start == 0:
        return None
    segments = [key[:start]]
    position = start
    while position < len(key):
        if key[position] != "[":
            return None
        end = key.find("]", position + 1)
        if end == -1:
            return None
        segment = key[position + 1 : end]
        if "[" in segment:
            return None
        segments.append(segment)
        position = end + 1
    return segments


@dataclass(frozen=True)
class Decoded:
    """A value already decoded (a JSON part, a file): stored in a ``FieldTree`` as it is."""

    value: Any


class _Leaf(list[Any]):
    """The values given for one key (strings to coerce, or ``Decoded``)."""


class _Object(dict[str, Any]):
    """Fields given as ``name[key]``."""


class _Sequence(list[Any]):
    """Fields given as ``name[]`` (each item a ``_Leaf`` or an ``_Object``)."""


class FieldTree:
    """Form fields (or multipart parts) rebuilt into nested objects and arrays.

    ``add`` one field at a time, then ``build`` the value with the schema, which says whether
    ``a[0]``/``a[1]`` is an array or an object with keys "0" and "1", and whether a repeated key
    is an array or a mistake. Keys the schema declares literally (``filter[status]`` as a
    property name) are not split.
    """

    def __init__(self, location: str, what: str, literal_names: Container[str] = ()) -> None:
        self.location = location
        self.what = what  # "form field", "multipart part", "query parameter"
        self.literal_names = literal_names
        self.root = _Object()
        self.problems: list[Problem] = []

    def add(self, key: str, value: Any) -> None:
        """One field: ``value`` is a string (coerced at ``build``) or a ``Decoded``."""
        segments = [key] if key in self.literal_names else split_key(key)
        if segments is None:
            self._problem(
                f"{self.what} {_shorten(key)!r} has unbalanced brackets; write nested names "
                "as name[key][subkey] with every '[' closed.",
                f"/{_escape(key)}",
                "brackets",
            )
            return
        if len(segments) > MAX_KEY_DEPTH:
            self._problem(
                f"{self.what} {_shorten(key)!r} is nested {len(segments)} levels deep; at most "
                f"{MAX_KEY_DEPTH} are accepted: flatten it.",
                f"/{_escape(segments[0])}",
                "maxDepth",
            )
            return
        node: Any = self.root
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            following = None if last else segments[depth + 1]
            if isinstance(node, _Sequence):
                if segment != "":
                    raise AssertionError(segment)  # a _Sequence is only entered by ""
                if last:
                    node.append(_Leaf([value]))
                    return
                tail = node[-1] if node else None
                if following == "" or not (
                    isinstance(tail, _Object) and following is not None and following not in tail
                ):
                    # Rack's rule: a[][x]=1&a[][y]=2 is one item; a repeated a[][x] starts the next.
                    tail = _Object() if following != "" else _Sequence()
                    node.append(tail)
                node = tail
                continue
            child = node.get(segment)
            if last:
                if child is None:
                    node[segment] = _Leaf([value])
                elif isinstance(child, _Leaf):
                    child.append(value)
                else:
                    self._conflict(key, segments[: depth + 1])
                return
            wanted = _Sequence if following == "" else _Object
            if child is None:
                child = node[segment] = wanted()
            elif not isinstance(child, wanted):
                self._conflict(key, segments[: depth + 1])
                return
            node = child

    def build(self, schema: Any, root: Any = None) -> dict[str, Any]:
        """The fields as one object, coerced by ``schema`` (the object's schema)."""
        if root is None:
            root = schema
        parts = schema_parts(schema, root)
        return {
            key: self._build(child, property_in(parts, key), root, f"/{_escape(key)}")
            for key, child in self.root.items()
        }

    def _build(self, node: Any, schema: Any, root: Any, pointer: str) -> Any:
        if isinstance(node, _Leaf):
            values = [
                self._scalar(item, item_schema(schema, i, root), root)
                for i, item in enumerate(node)
            ]
            if len(node) == 1:
                single = self._scalar(node[0], schema, root)
                if wants_array(schema, root) and not isinstance(single, list):
                    return values
                return single
            if (
                schema is None
                or schema is True
                or "array" in (schema_types(schema, root) or {"array"})
            ):
                return values
            self._problem(
                f"{self.what} {_bracketed(pointer)!r} was given {len(node)} times; give it once.",
                pointer,
                "duplicate",
            )
            return self._scalar(node[0], schema, root)
        if isinstance(node, _Sequence):
            return [
                self._build(child, item_schema(schema, i, root), root, f"{pointer}/{i}")
                for i, child in enumerate(node)
            ]
        types = schema_types(schema, root)
        if (
            types is not None
            and "array" in types
            and "object" not in types
            and node
            and all(key.isdigit() and len(key) < 10 for key in node)
        ):
            ordered = sorted(node.items(), key=lambda pair: int(pair[0]))
            return [
                self._build(child, item_schema(schema, i, root), root, f"{pointer}/{i}")
                for i, (_, child) in enumerate(ordered)
            ]
        parts = schema_parts(schema, root)
        return {
            key: self._build(child, property_in(parts, key), root, f"{pointer}/{_escape(key)}")
            for key, child in node.items()
        }

    @staticmethod
    def _scalar(item: Any, schema: Any, root: Any) -> Any:
        if isinstance(item, Decoded):
            return item.value
        return coerce_scalar(item, schema, root) if schema is not None else item

    def _conflict(self, key: str, prefix: list[str]) -> None:
        name = prefix[0] + "".join(f"[{segment}]" for segment in prefix[1:])
        self._problem(
            f"{self.what} {_shorten(key)!r} conflicts with another field for {_shorten(name)!r}: "
            "give a value either as a whole or as nested fields (name[key]=...), not both; and "
            "use name[]= for list items or name[key]= for object keys, not both.",
            f"/{_escape(prefix[0])}",
            "conflict",
        )

    def _problem(self, description: str, pointer: str, keyword: str) -> None:
        self.problems.append(
            Problem(
                description, {"location": self.location, "pointer": pointer, "keyword": keyword}
            )
        )


def capped(problems: Iterable[Problem], location: str) -> list[Problem]:
    """At most ``MAX_PROBLEMS`` problems, the rest summarised in one more."""
    found = list(problems)
    if len(found) <= MAX_PROBLEMS:
        return found
    kept = found[:MAX_PROBLEMS]
    kept.append(
        Problem(
            f"{location}: {len(found) - MAX_PROBLEMS} more problems like these; fix the ones "
            "above and send the request again.",
            {"location": location, "pointer": "", "keyword": "more"},
        )
    )
    return kept


def _bracketed(pointer: str) -> str:
    """``/items/0/price`` as the client wrote it: ``items[0][price]``."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    return tokens[0] + "".join(f"[{token}]" for token in tokens[1:]) if tokens else ""


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
