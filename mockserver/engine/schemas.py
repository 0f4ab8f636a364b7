"""OpenAPI 3.0 schemas turned into compiled JSON Schema validators that report JSON Pointers.

The engine supports an explicit allow-list of schema keywords and formats; anything else is a
``SpecError`` at load time, never silently ignored.
"""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
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

#: JSON Schema 2020-12 keywords the validator enforces (OpenAPI 3.1's dialect; 3.0 schemas are
#: translated into it). Anything else in a schema is reported with its pointer (``Findings``).
SUPPORTED_KEYWORDS = frozenset(
    {
        "type", "format", "enum", "const",
        "properties", "required", "additionalProperties", "patternProperties",
        "propertyNames", "minProperties", "maxProperties", "dependentRequired",
        "dependentSchemas", "unevaluatedProperties",
        "items", "prefixItems", "contains", "minContains", "maxContains", "uniqueItems",
        "minItems", "maxItems", "unevaluatedItems",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern",
        "nullable",  # OpenAPI 3.0, translated into a type array
        "oneOf", "anyOf", "allOf", "not", "if", "then", "else",
        "$ref", "$defs", "definitions",
    }
)  # fmt: skip
#: Keywords that document a schema without constraining it; kept for the response generator.
ANNOTATION_KEYWORDS = frozenset(
    {
        "description", "example", "examples", "default", "title", "readOnly", "writeOnly",
        "deprecated", "xml", "externalDocs", "discriminator", "$comment", "$schema", "$id",
        "$anchor", "contentMediaType", "contentEncoding", "contentSchema",
    }
)  # fmt: skip
#: Formats the validator checks; JSON Schema says other formats are annotations, accepted as is.
SUPPORTED_FORMATS = frozenset(
    {"uuid", "date", "date-time", "int32", "int64", "email", "ipv4", "ipv6", "uri"}
)
#: Keywords whose value is one schema, a list of schemas, or a map of schemas.
_ONE_SCHEMA = frozenset(
    {"items", "additionalProperties", "propertyNames", "contains", "not", "if", "then", "else",
     "unevaluatedProperties", "unevaluatedItems", "contentSchema"}
)  # fmt: skip
_SCHEMA_LISTS = frozenset({"oneOf", "anyOf", "allOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})

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


def import_jsonschema() -> None:
    """Import ``jsonschema`` without compiling a grammar nobody may use.

    jsonschema's import loads ``rfc3987_syntax`` when installed (its ``iri`` formats), which
    compiles a Lark grammar for 1.8 s: most of the start-up on a document with one example
    that breaks its schema. A stand-in defers that to the first ``iri`` check; the sandbox's
    own checks use no such format, and anyone else's get the real function on first call.
    """
    if (
        "jsonschema" not in sys.modules
        and "rfc3987_syntax" not in sys.modules
        and importlib.util.find_spec("rfc3987_syntax") is not None
    ):
        stand_in = types.ModuleType("rfc3987_syntax")

        def is_valid_syntax(rule: str, value: str) -> bool:
            real = importlib.import_module("rfc3987_syntax")
            return bool(real.is_valid_syntax(rule, value))

        stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
        sys.modules["rfc3987_syntax"] = stand_in
        try:
            import jsonschema  # noqa: F401  (imported for its side effect here)
        finally:
            del sys.modules["rfc3987_syntax"]  # the next import gets the real module


@cache
def _format_checker() -> jsonschema.FormatChecker:
    # jsonschema is imported on the first invalid instance only: it is the slow, detailed path,
    # and importing it costs start-up time.
    import_jsonschema()
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uuid")(_check_uuid)
    checker.checks("date")(_check_date)
    checker.checks("date-time")(_check_date_time)
    checker.checks("int32")(_check_int32)
    checker.checks("int64")(_check_int64)
    for name, check in _TEXT_FORMATS.items():
        checker.checks(name)(_text_check(check))
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


def is_email(value: str) -> bool:
    """An address with a local part and a domain (what most validators check, no more)."""
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() for c in value)


def is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[!-~]*$")


def is_uri(value: str) -> bool:
    """An absolute URI (RFC 3986): a scheme, then printable ASCII without spaces."""
    return bool(_URI.match(value)) and "\n" not in value


#: String formats checked by one function in both engines (the rest of the known ones above).
_TEXT_FORMATS: dict[str, Callable[[str], bool]] = {
    "email": is_email,
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
    "uri": is_uri,
}


def _text_check(check: Callable[[str], bool]) -> Callable[[object], bool]:
    def checked(value: object) -> bool:
        return not isinstance(value, str) or check(value)

    return checked


def _check_int64(value: object) -> bool:
    low, high = _INTEGER_BOUNDS["int64"]
    return not isinstance(value, int) or low <= value <= high


Resolver = Callable[[str, str], tuple[Any, str]]


class Findings:
    """Constructs of a document the engine does not support, each with its JSON Pointer.

    Strict (the project's own documents, ``--strict-spec``): the first one is a ``SpecError``.
    Otherwise each is remembered, reported once at start-up, and the rest is served.
    """

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self.items: list[str] = []
        self._seen: set[str] = set()

    def report(self, pointer: str, message: str) -> None:
        text = f"{pointer or '/'}: {message}"
        if self.strict:
            raise SpecError(text)
        if text not in self._seen:
            self._seen.add(text)
            self.items.append(text)


def to_json_schema(
    node: Any,
    pointer: str,
    resolve: Resolver,
    findings: Findings | None = None,
    *,
    openapi30: bool = True,
    shared: dict[str, Any] | None = None,
    direction: str | None = None,
) -> Any:
    """An OpenAPI schema as one self-contained JSON Schema 2020-12 schema.

    ``$ref``s are inlined; a recursive one becomes a ``$ref`` into the result's own ``$defs``.
    ``shared``, given for every schema of one document, keeps the conversion of each ``$ref``
    target that reaches no recursion, and later schemas inline that very object instead of a
    copy of their own: a big document refers to the same component from hundreds of
    operations (GitHub's: 23 MB of copies). Nothing mutates a converted schema.
    ``direction`` "request" drops ``readOnly`` properties from ``required`` lists, "response"
    drops ``writeOnly`` ones: OpenAPI applies such a ``required`` to the other direction only
    (a server-made ``id`` is required in what is answered, not in what is sent).
    OpenAPI 3.0's ``nullable`` and boolean ``exclusiveMinimum``/``exclusiveMaximum`` are
    translated; 3.1 ``$ref`` siblings apply beside the target (``allOf``). ``pointer`` is where
    ``node`` sits in the source document, so every finding names the exact place to fix;
    ``resolve(ref, pointer)`` returns the target and its pointer.
    """
    hidden = _HIDDEN.get(direction or "")
    converter = _Converter(resolve, findings or Findings(strict=True), openapi30, shared, hidden)
    out = converter.convert(node, pointer, ())
    if converter.defs and isinstance(out, dict):
        while converter.pending:  # a definition may reach further recursive ones
            ref, (target, target_pointer) = converter.pending.popitem()
            key = converter.keys[ref]
            converter.defs[key] = converter.convert(target, target_pointer, (ref,))
        out = {**out, "$defs": {**out.get("$defs", {}), **converter.defs}}
    return out


class _Converter:
    def __init__(
        self,
        resolve: Resolver,
        findings: Findings,
        openapi30: bool,
        shared: dict[str, Any] | None = None,
        hidden: str | None = None,
    ) -> None:
        self.resolve = resolve
        self.findings = findings
        self.openapi30 = openapi30
        self.keys: dict[str, str] = {}  # recursive $ref -> its key in $defs
        self.defs: dict[str, Any] = {}
        self.pending: dict[str, tuple[Any, str]] = {}
        #: $ref -> its target converted, for targets whose conversion met no recursive $ref
        #: (those convert alike whatever refers to them; the others depend on this $defs).
        self.shared: dict[str, Any] = {} if shared is None else shared
        self.recursions = 0  # recursive $refs met so far
        #: The flag ("readOnly" or "writeOnly") that takes a property out of ``required``.
        self.hidden = hidden

    def convert(self, node: Any, pointer: str, stack: tuple[str, ...]) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            self.findings.report(
                pointer, f"a schema must be an object or a boolean, got {type(node).__name__}"
            )
            return {}
        if "$ref" in node:
            return self._reference(node, pointer, stack)
        out: dict[str, Any] = {}
        for key, value in node.items():
            key = str(key)
            here = f"{pointer}/{_escape(key)}"
            if key.startswith("x-") or key == "nullable":
                continue
            if key in ANNOTATION_KEYWORDS:
                out[key] = value
            elif key not in SUPPORTED_KEYWORDS:
                self.findings.report(
                    here, f"schema keyword {key!r} is not supported by the sandbox"
                )
            elif key in _SCHEMA_MAPS or key == "definitions":
                if isinstance(value, dict):
                    out[key] = {
                        str(name): self.convert(sub, f"{here}/{_escape(str(name))}", stack)
                        for name, sub in value.items()
                    }
                else:
                    self.findings.report(here, f"{key} must map names to schemas")
            elif key in _SCHEMA_LISTS:
                if isinstance(value, list):
                    out[key] = [
                        self.convert(sub, f"{here}/{i}", stack) for i, sub in enumerate(value)
                    ]
                else:
                    self.findings.report(here, f"{key} must be a list of schemas")
            elif key in _ONE_SCHEMA:
                out[key] = self.convert(value, here, stack)
            elif (problem := _malformed(key, value)) is not None:
                self.findings.report(here, f"{problem}; the keyword is ignored")
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value and bound in node:  # OpenAPI 3.0: a flag on minimum/maximum
                    out[key] = node[bound]
            else:
                out[key] = value
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if node.get(key) is True and bound in out:
                del out[bound]
        if self.hidden is not None and isinstance(out.get("required"), list):
            properties = node.get("properties")
            if isinstance(properties, dict):
                required = [n for n in out["required"] if not self._flagged(properties.get(n))]
                if len(required) < len(out["required"]):
                    out["required"] = required
        if node.get("nullable") is True and self.openapi30:
            out = _allow_null(out)
        return out

    def _flagged(self, prop: Any) -> bool:
        """Whether a property schema (or the target of its ``$ref``) carries ``self.hidden``."""
        for _ in range(8):  # a chain of $refs, followed a little way
            if not isinstance(prop, dict):
                return False
            if prop.get(self.hidden) is True:
                return True
            ref = prop.get("$ref")
            if not isinstance(ref, str):
                return False
            try:
                prop = self.resolve(ref, "")[0]
            except SpecError:
                return False
        return False

    def _reference(self, node: dict[str, Any], pointer: str, stack: tuple[str, ...]) -> Any:
        ref = node["$ref"]
        if not isinstance(ref, str):
            self.findings.report(f"{pointer}/$ref", "$ref must be a string")
            return {}
        if ref in stack:
            self.recursions += 1
            key = self.keys.get(ref)
            if key is None:
                key = self.keys[ref] = _def_key(ref, self.defs)
                self.defs[key] = {}  # filled once the outermost schema is done
                try:
                    self.pending[ref] = self.resolve(ref, pointer)
                except SpecError as exc:
                    self.findings.report(pointer, str(exc))
                    return {}
            return {"$ref": f"#/$defs/{key}"}
        try:
            target, target_pointer = self.resolve(ref, pointer)
        except SpecError as exc:
            if self.findings.strict:
                raise
            self.findings.report(f"{pointer}/$ref", f"{exc}; any value is accepted there")
            return {}
        key = f"{self.hidden}:{ref}"  # the same target converts apart per direction
        out = self.shared.get(key)
        if out is None:
            recursions = self.recursions
            out = self.convert(target, target_pointer, (*stack, ref))
            if self.recursions == recursions:
                self.shared[key] = out
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if self.openapi30 or not any(k in SUPPORTED_KEYWORDS for k in siblings):
            return out  # OpenAPI 3.0 ignores every sibling of $ref
        return {"allOf": [out, self.convert(siblings, pointer, stack)]}


_NUMERIC = frozenset({"minimum", "maximum", "multipleOf", "minLength", "maxLength", "minItems",
                      "maxItems", "minProperties", "maxProperties", "minContains",
                      "maxContains"})  # fmt: skip


#: The flag that leaves a property out of ``required``, per direction (``to_json_schema``).
_HIDDEN = {"request": "readOnly", "response": "writeOnly"}


def _malformed(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the value of keyword ``key`` (None: it can)."""
    if key == "format" and not isinstance(value, str):
        return f"format must be a string, not {value!r}"
    if key == "pattern":
        if not isinstance(value, str):
            return f"pattern must be a string, not {value!r}"
        try:
            re.compile(value)
        except re.error as exc:
            return f"pattern {value!r} is not a regular expression ({exc})"
    if key == "required" and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return f"required must be a list of property names, not {value!r}"
    if key == "enum" and not isinstance(value, list):
        return f"enum must be a list, not {value!r}"
    if key == "type" and not (
        isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    ):
        return f"type must be a type name or a list of them, not {value!r}"
    if key in _NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{key} must be a number, not {value!r}"
    return None


def _def_key(ref: str, taken: Mapping[str, Any]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref.lstrip("#/")) or "schema"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    return key


#: ``[type, "null"]`` lists, one per type, shared by every nullable schema (never mutated):
#: a big document has tens of thousands of nullable properties.
_NULLABLE: dict[str, list[str]] = {}


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema and None not in schema["enum"]:
        schema = {**schema, "enum": [*schema["enum"], None]}
    kind = schema.get("type")
    if isinstance(kind, str):
        types = _NULLABLE.get(kind)
        if types is None:
            types = _NULLABLE[kind] = [kind, "null"]
        return {**schema, "type": types}
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

    __slots__ = ("_detailed", "_fast", "_items", "schema")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        # Compiled on first use: a big document has hundreds of schemas that a test run may
        # never exercise, and start-up should not pay for them.
        self._fast: jsonschema_rs.Validator | bool | None = False
        self._detailed: jsonschema.Draft202012Validator | None = None
        self._items: _Items | bool | None = False  # worked out on first use

    @property
    def fast(self) -> jsonschema_rs.Validator | None:
        fast = self._fast
        if fast is False:
            fast = self._fast = _compiled(self.schema)
        return fast  # type: ignore[return-value]

    @property
    def fast_compiled(self) -> bool:
        return self.fast is not None

    def accepts_fast(self, instance: Any) -> bool:
        """The fast engine's verdict alone (False when it cannot judge ``instance``)."""
        global _judged
        _judged = None  # ``judged_json`` answers for the latest check only
        fast = self._fast
        if fast is False:
            fast = self.fast
        if fast is None:
            return False
        items = self._items
        if items is False:
            items = self._items = _Items.of(self.schema)
        try:
            if items is not None:
                verdict = items.accepts(fast, instance)  # type: ignore[union-attr,arg-type]
                if verdict is not None:
                    return verdict
            return bool(fast.is_valid(instance))  # type: ignore[union-attr]
        except Exception:  # e.g. a lone surrogate or a number it cannot hold: ask jsonschema
            return False

    def detailed(self) -> jsonschema.Draft202012Validator:
        """The jsonschema validator behind ``violations`` (compiled on first use)."""
        if self._detailed is None:
            import_jsonschema()
            import jsonschema

            self._detailed = jsonschema.Draft202012Validator(
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


_SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean", "null"})


def scalar_type(kind: Any) -> bool:
    """Whether a schema's ``type`` (a name, or a list of names such as ``["string",
    "null"]``) admits scalars only."""
    if isinstance(kind, str):
        return kind in _SCALAR_TYPES
    return isinstance(kind, list) and set(kind) <= _SCALAR_TYPES


class _Items:
    """A list response checked as its envelope plus each item, items remembered by content.

    A page of 100 credits is 6,000 values for jsonschema-rs to walk (250 µs), and a test suite
    lists the same records again and again. The verdict on a JSON value is a function of its
    bytes, so each item that passed is remembered by its compact JSON (a bounded set): a list
    whose items were all seen before costs their encoding and the envelope's check. Used only
    where the schema checks the array's items independently of each other and of the rest.
    """

    __slots__ = ("field", "item", "passed", "size")

    #: Keywords of the list (array) schema that look at items together: then no split.
    _TOGETHER = frozenset({"minItems", "maxItems", "uniqueItems", "contains", "minContains",
                           "maxContains", "prefixItems", "unevaluatedItems"})  # fmt: skip
    #: Keywords of an envelope object under which a property is checked on its own schema only.
    _ENVELOPE = frozenset({"type", "properties", "required", "additionalProperties", "$defs",
                           "title", "description", "nullable"})  # fmt: skip
    #: Bytes of remembered items per list schema; past it, the memory starts again empty.
    _BUDGET = 4 << 20

    def __init__(self, field: str | None, item: Validator) -> None:
        self.field = field  # the envelope's array property; None: the list is the body
        self.item = item
        self.passed: set[bytes] = set()
        self.size = 0

    @classmethod
    def of(cls, schema: Any) -> _Items | None:
        if not isinstance(schema, dict):
            return None
        defs = schema.get("$defs")
        if schema.get("type") == "array":
            return cls._make(None, schema, defs)
        if schema.get("type") != "object" or not set(schema) <= cls._ENVELOPE:
            return None
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and sub.get("type") == "array":
                return cls._make(name, sub, defs)
        return None

    @classmethod
    def _make(cls, field: str | None, array: dict[str, Any], defs: Any) -> _Items | None:
        item = array.get("items")
        if not isinstance(item, dict) or cls._TOGETHER & set(array):
            return None
        if scalar_type(item.get("type")):
            return None  # checking scalars costs less than remembering them
        refs = orjson.dumps(item)
        if b'"$ref":"#/' in refs.replace(b'"$ref":"#/$defs/', b""):
            return None  # points into the envelope: not checkable on its own
        return cls(field, Validator({**item, "$defs": defs} if defs else item))

    def accepts(self, fast: jsonschema_rs.Validator, instance: Any) -> bool | None:
        """The verdict, or None when ``instance`` is not a list response of this shape."""
        field = self.field
        envelope: Any = []
        if field is None:
            if not isinstance(instance, list):
                return None
            items: Any = instance
        else:
            items = instance.get(field) if isinstance(instance, dict) else None
            if not isinstance(items, list) or len(items) < 2:
                return None
        if not isinstance(items[0] if items else None, (dict, list)):
            return None  # scalars (a body's list of dates): checking them is cheaper
        if field is not None:
            envelope = {**instance, field: []}
        if not fast.is_valid(envelope):
            return False
        passed, check = self.passed, self.item.accepts_fast
        keys = []
        for item in items:
            key = orjson.dumps(item)
            if key not in passed:
                if not check(item):
                    return False
                if self.size > self._BUDGET:
                    passed.clear()
                    self.size = 0
                passed.add(key)
                self.size += len(key)
            keys.append(key)
        global _judged
        _judged = (instance, field, items, keys)
        return True


#: The list response last found valid item by item: (the response, the field holding the list
#: or None, the list, each item's JSON). ``judged_json`` builds the response's JSON from them.
_judged: tuple[Any, str | None, list[Any], list[bytes]] | None = None
#: Stands in for the list while the rest of a judged response is encoded (private-use
#: characters, which a response hardly holds; if it does, the response is encoded whole).
_PLACE = "\ue000judged list\ue001"
_PLACE_JSON = orjson.dumps(_PLACE)


def judged_json(body: Any) -> bytes | None:
    """``orjson.dumps(body)``, built from the items' JSON that the check of ``body`` just made
    (a list response checked item by item: each item is encoded once, not twice); None unless
    the latest check (in any thread) was of ``body`` and found it valid that way. Call it
    right after that check, before anything can change ``body``."""
    global _judged
    judged = _judged
    if judged is None or judged[0] is not body:
        return None
    _judged = None
    _, field, items, keys = judged
    if field is None:
        if body is not items or len(items) != len(keys):
            return None
        return b"[" + b",".join(keys) + b"]"
    if body.get(field) is not items or len(items) != len(keys):
        return None
    try:
        rest = orjson.dumps({**body, field: _PLACE})
    except TypeError:  # an integer beyond 64 bits: the caller's encoder knows what to do
        return None
    if rest.count(_PLACE_JSON) != 1:
        return None
    return rest.replace(_PLACE_JSON, b"[" + b",".join(keys) + b"]")


#: Compiled fast validators by schema (canonical JSON). A document inlines the same components
#: into many operations, and lint and fixtures compile them again: start-up compiled 471
#: validators, of which few are different.
_COMPILED: dict[bytes, jsonschema_rs.Validator | None] = {}
_COMPILED_LIMIT = 2048


def _compiled(schema: Any) -> jsonschema_rs.Validator | None:
    try:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON (a YAML date in an enum, say): compile it, keep nothing
        key = None
    if key is not None:
        try:
            return _COMPILED[key]  # one lookup: a lint thread may clear the table meanwhile
        except KeyError:
            pass
    fast: jsonschema_rs.Validator | None
    try:
        fast = jsonschema_rs.Draft202012Validator(
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
    **_TEXT_FORMATS,
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
        if key in _SCHEMA_MAPS or key == "definitions":
            out[key] = {name: fast_schema(sub) for name, sub in value.items()}
        elif key in _ONE_SCHEMA:
            out[key] = fast_schema(value)
        elif key in _SCHEMA_LISTS:
            out[key] = [fast_schema(sub) for sub in value]
        elif key in SUPPORTED_KEYWORDS and key != "format":
            out[key] = value  # annotations stay out: they may hold values that are not JSON
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
    elif fmt in _TEXT_FORMATS:
        out["format"] = fmt  # checked in Rust by calling back the same Python function
    # Any other format is an annotation (JSON Schema): accepted as is, as jsonschema does.
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
    "email": " (an address such as ada@example.com)",
    "ipv4": " (for example 192.0.2.1)",
    "ipv6": " (for example 2001:db8::1)",
    "uri": " (an absolute URI such as https://example.com/a)",
}
