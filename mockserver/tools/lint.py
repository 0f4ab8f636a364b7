"""``mockserver lint``: a static check of any OpenAPI 3.0 document (and a fixtures directory).

Unlike ``compile_spec``, which stops at the first thing it cannot serve, the lint walks the whole
document and reports every finding with its JSON Pointer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import orjson

from ..engine import cache
from ..engine.schemas import (
    ANNOTATION_KEYWORDS,
    SUPPORTED_KEYWORDS,
    Validator,
    to_json_schema,
)
from ..engine.schemas import _escape as escape
from ..engine.spec import (
    DEFAULT_STYLES,
    HTTP_METHODS,
    PARAMETER_STYLES,
    read_document,
    resolve_pointer,
)
from ..errors import FixtureError, SpecError

_NO_BODY_STATUSES = {"204", "304"}


@dataclass(frozen=True)
class Finding:
    pointer: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.severity}: {self.pointer or '/'}: {self.message}"


def lint_document(document: Mapping[str, Any]) -> list[Finding]:
    """Every finding in ``document``, in document order."""
    return list(_Linter(document).run())


@overload
def document_errors(document: Mapping[str, Any]) -> list[str]: ...
@overload
def document_errors(document: Mapping[str, Any], *, cached_only: bool) -> list[str] | None: ...
def document_errors(document: Mapping[str, Any], *, cached_only: bool = False) -> list[str] | None:
    """The error findings of ``document`` as text, as start-up reports them.

    Linting checks every example against its schema: on a document of hundreds of operations
    that is most of a cold start. The result is kept in the on-disk cache (engine/cache.py)
    under the document's content, so a second start with the same document reads it back.
    ``cached_only``: None rather than linting when the cache does not have it.
    """
    try:
        name: str | None = cache.key("lint", orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # a value JSON cannot hold: lint it every time
        name = None
    hit = cache.load(name) if name else None
    if hit is not None:
        try:
            found = orjson.loads(hit)
        except orjson.JSONDecodeError:
            found = None
        if isinstance(found, list) and all(isinstance(e, str) for e in found):
            return found
    if cached_only:
        return None
    errors = [str(f) for f in lint_document(document) if f.severity == "error"]
    if name:
        cache.store(name, orjson.dumps(errors))
    return errors


#: What a directory given to ``mockserver lint`` is searched for.
DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


def lint_paths(
    paths: Iterable[str | Path], fixtures: str | Path | None = None
) -> list[tuple[Path, list[Finding]]]:
    """Lint each document named (a directory: each YAML/JSON file directly in it).

    ``fixtures`` is loaded against every document that declares the fixture record schemas
    (``openapi/sandbox.yaml`` does); it is an error when none of them does.
    """
    results: list[tuple[Path, list[Finding]]] = []
    fixtures_checked = False
    for given in map(Path, paths):
        found = (
            sorted(p for p in given.iterdir() if p.suffix in DOCUMENT_SUFFIXES and p.is_file())
            if given.is_dir()
            else [given]
        )
        if not found:
            message = f"no OpenAPI document ({', '.join(DOCUMENT_SUFFIXES)}) in the directory"
            results.append((given, [Finding("", message)]))
        for path in found:
            try:
                document = read_document(path)
            except SpecError as exc:
                results.append((path, [Finding("", str(exc))]))
                continue
            findings = lint_document(document)
            if fixtures is not None and _declares_fixture_schemas(document):
                fixtures_checked = True
                findings.extend(_lint_fixtures(fixtures, document))
            results.append((path, findings))
    if fixtures is not None and not fixtures_checked:
        message = (
            "fixtures: none of the documents declares the fixture record schemas "
            "(#/components/schemas/Business, Customer, ...); openapi/sandbox.yaml does"
        )
        results.append((Path(fixtures), [Finding("", message)]))
    return results


def lint_path(spec: str | Path, fixtures: str | Path | None = None) -> list[Finding]:
    """Lint one document file and, optionally, a fixtures directory checked against it."""
    return [finding for _, findings in lint_paths([spec], fixtures) for finding in findings]


def _declares_fixture_schemas(document: Mapping[str, Any]) -> bool:
    from ..layer.fixtures import FIXTURE_FILES

    schemas = (document.get("components") or {}).get("schemas") or {}
    return isinstance(schemas, dict) and all(name in schemas for name, _ in FIXTURE_FILES.values())


def _lint_fixtures(fixtures: str | Path, document: Mapping[str, Any]) -> list[Finding]:
    from ..engine.store import Store
    from ..layer.fixtures import load_fixtures

    try:
        load_fixtures(Store(), fixtures, document)
    except (FixtureError, SpecError) as exc:
        return [Finding("", f"fixtures: {exc}")]
    return []


class _Linter:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self._seen_schemas: set[str] = set()
        self._validators: dict[int, Validator | None] = {}

    def run(self) -> Iterator[Finding]:
        version = str(self.document.get("openapi", ""))
        if not (version.startswith("3.0") or version.startswith("3.1")):
            yield Finding("/openapi", "only OpenAPI 3.0.x and 3.1.x documents are supported")
        yield from self._refs(self.document, "")
        yield from self._operations()
        components = _dict(self.document.get("components"))
        for name, schema in _dict(components.get("schemas")).items():
            yield from self._schema(schema, f"/components/schemas/{escape(name)}")

    def _refs(self, node: Any, pointer: str, statuses: bool = False) -> Iterator[Finding]:
        """Unresolvable ``$ref``s and keys YAML did not read as strings, anywhere.

        ``statuses``: ``node`` is a ``responses`` map, where an unquoted ``200`` is usual.
        """
        if isinstance(node, dict):
            ref = node.get("$ref")
            if "$ref" in node and not isinstance(ref, str):
                yield Finding(f"{pointer}/$ref", f"$ref must be a string, not {_kind(ref)}")
            elif isinstance(ref, str):
                try:
                    resolve_pointer(self.document, ref, pointer)
                except SpecError:
                    yield Finding(f"{pointer}/$ref", f"$ref {ref!r} does not resolve")
            for key, value in node.items():
                # Only containers can hold a $ref or a key: the pointer is built for those (and
                # for a bad key) only; this walk visits every node of the document.
                if isinstance(key, str):
                    if not isinstance(value, (dict, list)):
                        continue
                    here = f"{pointer}/{escape(key)}"
                else:
                    here = f"{pointer}/{escape(str(key))}"
                    if not (statuses and type(key) is int):
                        yield Finding(
                            here,
                            f"the key {key!r} is not a string: YAML reads unquoted Null, ~, "
                            "true, yes, on, 1.5 and the like as other types; quote the name",
                        )
                yield from self._refs(value, here, key == "responses")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    yield from self._refs(value, f"{pointer}/{i}")

    def _deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        seen = set()
        while (
            isinstance(node, dict)
            and isinstance(node.get("$ref"), str)
            and node["$ref"] not in seen
        ):
            seen.add(node["$ref"])
            try:
                node, pointer = resolve_pointer(self.document, node["$ref"], pointer)
            except SpecError:
                return None, pointer
        return node, pointer

    def _operations(self) -> Iterator[Finding]:
        seen: dict[str, str] = {}
        paths = self.document.get("paths")
        yield from _shape(paths, dict, "/paths", "an object of path items")
        for path, item in _dict(paths).items():
            item, item_pointer = self._deref(item, f"/paths/{escape(path)}")
            yield from _shape(item, dict, item_pointer, "a path item object")
            if not isinstance(item, dict):
                continue
            yield from _shape(item.get("parameters"), list, f"{item_pointer}/parameters", "a list")
            for i, parameter in enumerate(_list(item.get("parameters"))):
                yield from self._parameter(parameter, f"{item_pointer}/parameters/{i}")
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op, pointer = item[method], f"{item_pointer}/{method}"
                if not isinstance(op, dict):
                    yield Finding(pointer, f"the operation is {_kind(op)}, not an object")
                    continue
                operation_id = op.get("operationId")
                if not operation_id:
                    yield Finding(pointer, "the operation has no operationId")
                elif not isinstance(operation_id, str):
                    yield Finding(f"{pointer}/operationId", "the operationId is not a string")
                elif operation_id in seen:
                    yield Finding(
                        f"{pointer}/operationId",
                        f"operationId {operation_id!r} is already used at {seen[operation_id]}",
                    )
                else:
                    seen[operation_id] = pointer
                yield from _shape(op.get("parameters"), list, f"{pointer}/parameters", "a list")
                for i, parameter in enumerate(_list(op.get("parameters"))):
                    yield from self._parameter(parameter, f"{pointer}/parameters/{i}")
                if "requestBody" in op:
                    body, body_pointer = self._deref(op["requestBody"], f"{pointer}/requestBody")
                    if isinstance(body, dict):
                        yield from self._content(body.get("content") or {}, body_pointer)
                responses = op.get("responses")
                yield from _shape(responses, dict, f"{pointer}/responses", "an object")
                for status, response in _dict(responses).items():
                    yield from self._response(
                        str(status), response, f"{pointer}/responses/{escape(str(status))}"
                    )

    def _parameter(self, raw: Any, pointer: str) -> Iterator[Finding]:
        raw, pointer = self._deref(raw, pointer)
        if not isinstance(raw, dict):
            return
        location = raw.get("in")
        if not isinstance(location, str) or location not in PARAMETER_STYLES:
            yield Finding(f"{pointer}/in", f"parameters in {location!r} are not supported")
            return
        style = raw.get("style", DEFAULT_STYLES[location])
        if style not in PARAMETER_STYLES[location]:
            yield Finding(
                f"{pointer}/style", f"style {style!r} is not defined for {location} parameters"
            )
        if "schema" not in raw:
            yield Finding(pointer, "the parameter has no schema")
            return
        yield from self._schema(raw["schema"], f"{pointer}/schema")
        if "example" in raw:
            yield from self._example(raw["example"], raw["schema"], f"{pointer}/example")

    def _response(self, status: str, raw: Any, pointer: str) -> Iterator[Finding]:
        raw, pointer = self._deref(raw, pointer)
        if not isinstance(raw, dict):
            return
        content = raw.get("content")
        if not content and status not in _NO_BODY_STATUSES:
            yield Finding(
                pointer, f"response {status} has no content schema, so it cannot be checked"
            )
        yield from self._content(content or {}, pointer)

    def _content(self, content: Any, pointer: str) -> Iterator[Finding]:
        yield from _shape(content, dict, f"{pointer}/content", "an object of media types")
        for media_type, body in _dict(content).items():
            where = f"{pointer}/content/{escape(media_type)}"
            if not isinstance(body, dict):
                yield Finding(where, f"the media type is {_kind(body)}, not an object")
                continue
            if "schema" not in body:
                yield Finding(where, "the media type has no schema")
                continue
            yield from self._schema(body["schema"], f"{where}/schema")
            if "example" in body:
                yield from self._example(body["example"], body["schema"], f"{where}/example")
            for name, example in _dict(body.get("examples")).items():
                example, example_pointer = self._deref(example, f"{where}/examples/{escape(name)}")
                if isinstance(example, dict) and "value" in example:
                    yield from self._example(
                        example["value"], body["schema"], f"{example_pointer}/value"
                    )

    def _schema(
        self, schema: Any, pointer: str, inherited: frozenset[str] = frozenset()
    ) -> Iterator[Finding]:
        """``inherited``: properties of the object a combinator member (allOf...) applies to."""
        if not isinstance(schema, dict) or pointer in self._seen_schemas:
            return
        self._seen_schemas.add(pointer)
        for key in schema:
            here = f"{pointer}/{escape(key)}"
            if str(key).startswith("x-"):
                continue
            if key == "format" and not isinstance(schema[key], str):
                yield Finding(here, f"format {schema[key]!r} is not supported by the sandbox")
            elif key not in SUPPORTED_KEYWORDS and key not in ANNOTATION_KEYWORDS | {"nullable"}:
                yield Finding(here, f"schema keyword {key!r} is not supported by the sandbox")
        if schema.get("nullable") is True and "type" not in schema:
            yield Finding(f"{pointer}/nullable", _nullable_message(schema), "warning")
        if "$ref" not in schema:
            yield from self._required(schema, pointer, inherited)
        for key in ("example", "default"):
            if key in schema:
                yield from self._example(schema[key], schema, f"{pointer}/{key}")
        for key, kind, what in _SCHEMA_SHAPES:
            if key in schema:
                yield from _shape(schema[key], kind, f"{pointer}/{key}", what)
        for name, sub in _dict(schema.get("properties")).items():
            yield from self._schema(sub, f"{pointer}/properties/{escape(name)}")
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from self._schema(schema[key], f"{pointer}/{key}")
        own = inherited | frozenset(_dict(schema.get("properties")))
        for key in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(_list(schema.get(key))):
                yield from self._schema(sub, f"{pointer}/{key}/{i}", own)

    def _required(
        self, schema: Mapping[str, Any], pointer: str, inherited: frozenset[str]
    ) -> Iterator[Finding]:
        declared = set(inherited) | set(_dict(schema.get("properties")))
        # allOf members contribute properties too.
        for member in _list(schema.get("allOf")):
            target, _ = self._deref(member, pointer)
            if isinstance(target, dict):
                declared |= set(_dict(target.get("properties")))
        if schema.get("additionalProperties") not in (None, False):
            return  # undeclared properties are allowed, so a required one can be satisfied
        for i, name in enumerate(_list(schema.get("required"))):
            if not isinstance(name, str):
                yield Finding(f"{pointer}/required/{i}", f"{name!r} is not a property name")
            elif name not in declared:
                # YAML may have read a property key as another type (yes: -> True).
                known = ", ".join(sorted(map(str, declared))) or "none"
                yield Finding(
                    f"{pointer}/required/{i}",
                    f"required property {name!r} is not declared in properties "
                    f"(declared: {known}); no object can carry it as documented",
                )

    def _example(self, value: Any, schema: Any, pointer: str) -> Iterator[Finding]:
        # Several examples often share one schema: it is converted once (the document, which
        # holds every schema, outlives the linter, so ids are not reused meanwhile).
        if id(schema) in self._validators:
            validator = self._validators[id(schema)]
        else:
            try:
                validator = Validator(to_json_schema(schema, pointer, self._resolve))
            except SpecError:
                validator = None
            self._validators[id(schema)] = validator
        if validator is None:
            return  # the schema itself is reported where it is defined
        try:
            violations = validator.violations(value)
        except Exception as exc:  # a schema of the wrong shape (reported where it is walked)
            yield Finding(
                pointer,
                f"the example cannot be checked: its schema is not a valid schema "
                f"({type(exc).__name__}: {exc})",
            )
            return
        for violation in violations:
            yield Finding(
                pointer + violation.pointer,
                f"the example does not match its own schema: {violation.message}",
            )

    def _resolve(self, ref: str, where: str) -> tuple[Any, str]:
        return resolve_pointer(self.document, ref, where)


def _dict(node: Any) -> Mapping[Any, Any]:
    """``node`` when it is an object; nothing to walk otherwise (the shape is reported apart)."""
    return node if isinstance(node, dict) else {}


def _list(node: Any) -> list[Any]:
    return node if isinstance(node, list) else []


def _kind(node: Any) -> str:
    return "null" if node is None else f"a {type(node).__name__} ({node!r:.40})"


def _shape(node: Any, kind: type, pointer: str, what: str) -> Iterator[Finding]:
    """A finding when ``node`` is present but not of the ``kind`` OpenAPI requires there."""
    if node is not None and not isinstance(node, kind):
        yield Finding(pointer, f"must be {what}, not {_kind(node)}")


#: Schema keywords whose value has a fixed JSON type, checked before they are walked.
_SCHEMA_SHAPES = (
    ("properties", dict, "an object of schemas"),
    ("required", list, "a list of property names"),
    ("allOf", list, "a list of schemas"),
    ("anyOf", list, "a list of schemas"),
    ("oneOf", list, "a list of schemas"),
    ("enum", list, "a list of values"),
)


def _nullable_message(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        return (
            "nullable beside $ref is ignored (OpenAPI 3.0 ignores every sibling of $ref), so "
            "null is rejected here, by the sandbox too; to allow null write "
            "anyOf: [{$ref: ...}, {type: object, nullable: true, enum: [null]}]"
        )
    return (
        "nullable without a type in the same schema does not admit null under OpenAPI 3.0.3: "
        "strict validators (openapi-core) reject null here, while the sandbox and Schemathesis "
        "accept it; give the schema a type, or write anyOf with a null-only schema "
        "({type: object, nullable: true, enum: [null]})"
    )
