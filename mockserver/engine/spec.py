"""Loading an OpenAPI 3.0 document and compiling it, once, into an immutable operation table."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ..errors import SpecError
from .schemas import Validator, _escape, to_json_schema

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SUPPORTED_MEDIA_TYPES = frozenset({JSON, FORM})
#: The one parameter style per location the engine parses (``lint`` checks against it).
PARAMETER_STYLES = {"path": "simple", "query": "form", "header": "simple"}
_SECURITY_SCHEMES = {("http", "bearer"), ("http", "basic")}


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query or header
    required: bool
    schema: dict[str, Any]
    validator: Validator
    default: Any = None

    # Cached (the dataclass is frozen, the values never change): read on every request.
    @cached_property
    def scalar_type(self) -> str:
        kind = self.schema.get("type", "string")
        return kind if isinstance(kind, str) else next(t for t in kind if t != "null")

    @cached_property
    def pointer(self) -> str:
        """The parameter as a JSON Pointer among those of its location (``/businessId``)."""
        return f"/{_escape(self.name)}"


@dataclass(frozen=True)
class RequestBody:
    required: bool
    media_types: Mapping[str, Validator]


@dataclass(frozen=True)
class ResponseSpec:
    media_types: Mapping[str, Validator]


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # template, e.g. /v1/businesses/{businessId}
    parameters: tuple[Parameter, ...]
    body: RequestBody | None
    responses: Mapping[str, ResponseSpec]
    security: tuple[str, ...]  # names of schemes, any one suffices; empty = no auth
    security_kinds: Mapping[str, str] = field(default_factory=dict)  # name -> bearer/basic

    # Cached (the operation never changes): read on every request.
    @cached_property
    def query_names(self) -> frozenset[str]:
        """The query parameters the operation declares."""
        return frozenset(p.name for p in self.parameters if p.location == "query")

    @cached_property
    def auth_kinds(self) -> frozenset[str]:
        """``bearer``/``basic``: the kinds of its security schemes."""
        return frozenset(self.security_kinds.values())

    def response_for(self, status: int) -> ResponseSpec | None:
        """The declared response for ``status``: exact, then ``4XX``-style, then default."""
        responses = self.responses
        return (
            responses.get(str(status))
            or responses.get(f"{str(status)[0]}XX")
            or responses.get("default")
        )


@dataclass(frozen=True)
class Spec:
    """A compiled OpenAPI document: its raw form (to serve) and its operations."""

    document: Mapping[str, Any]
    operations: tuple[Operation, ...]
    source: str

    @property
    def validator_count(self) -> int:
        count = 0
        for op in self.operations:
            count += len(op.parameters)
            count += len(op.body.media_types) if op.body else 0
            count += sum(len(r.media_types) for r in op.responses.values())
        return count

    @cached_property
    def by_id(self) -> Mapping[str, Operation]:
        """Operations by operationId."""
        return MappingProxyType({op.operation_id: op for op in self.operations})


#: libyaml's parser when PyYAML was built with it: the same documents, parsed ten times faster.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, with libyaml when available (start-up time is mostly YAML parsing)."""
    return yaml.load(text, Loader=_YAML_LOADER)


def read_document(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON OpenAPI document."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the OpenAPI document: {exc.strerror}") from exc
    try:
        document = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{path}: an OpenAPI document must be a mapping at the top level")
    return document


def resolve_pointer(document: Mapping[str, Any], ref: str, where: str) -> tuple[Any, str]:
    """Follow a local ``$ref`` to its target; unresolvable refs are a ``SpecError``."""
    if not ref.startswith("#/"):
        raise SpecError(f"{where}: only local $refs (#/...) are supported, got {ref!r}")
    node: Any = document
    for raw in ref[2:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SpecError(f"{where}: $ref {ref!r} does not resolve")
    return node, ref[1:]


def load_spec(path: str | Path) -> Spec:
    """Read and compile an OpenAPI 3.0 document; any document gets a ``SpecError``, not a crash."""
    document = read_document(path)
    try:
        return compile_spec(document, source=str(path))
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        # A value of the wrong JSON type where the compiler walks (e.g. `get: null`).
        raise SpecError(
            f"{path}: not a well-formed OpenAPI 3.0 document ({type(exc).__name__}: {exc}); "
            f"`mockserver lint {path}` lists every problem with its JSON Pointer"
        ) from None


def compile_spec(document: dict[str, Any], source: str = "<memory>") -> Spec:
    version = str(document.get("openapi", ""))
    if not version.startswith("3.0"):
        raise SpecError(f"{source}: /openapi must be 3.0.x, got {version or 'nothing'!r}")
    compiler = _Compiler(document)
    operations = []
    seen: dict[str, str] = {}
    for path, item in (document.get("paths") or {}).items():
        item_pointer = f"/paths/{_escape(path)}"
        item, item_pointer = compiler.deref(item, item_pointer)
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method not in item:
                continue
            pointer = f"{item_pointer}/{method}"
            op = compiler.operation(path, method, item[method], shared, pointer, item_pointer)
            if op.operation_id in seen:
                raise SpecError(
                    f"{pointer}/operationId: {op.operation_id!r} is already used at "
                    f"{seen[op.operation_id]}"
                )
            seen[op.operation_id] = pointer
            operations.append(op)
    return Spec(document=document, operations=tuple(operations), source=source)


class _Compiler:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.schemes = (document.get("components") or {}).get("securitySchemes") or {}

    def deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        while isinstance(node, dict) and "$ref" in node:
            node, pointer = resolve_pointer(self.document, node["$ref"], pointer)
        return node, pointer

    def validator(self, schema: Any, pointer: str) -> Validator:
        def resolve(ref: str, where: str) -> tuple[Any, str]:
            return resolve_pointer(self.document, ref, where)

        return Validator(to_json_schema(schema, pointer, resolve))

    def operation(
        self,
        path: str,
        method: str,
        raw: dict[str, Any],
        shared: list[Any],
        pointer: str,
        item_pointer: str,
    ) -> Operation:
        operation_id = raw.get("operationId")
        if not operation_id:
            raise SpecError(f"{pointer}: every operation needs an operationId")
        params: dict[tuple[str, str], Parameter] = {}
        for i, p in enumerate(shared):
            param = self.parameter(p, f"{item_pointer}/parameters/{i}")
            params[(param.location, param.name)] = param
        for i, p in enumerate(raw.get("parameters", [])):
            param = self.parameter(p, f"{pointer}/parameters/{i}")
            params[(param.location, param.name)] = param
        for segment in path.strip("/").split("/"):
            if segment.startswith("{") and ("path", segment[1:-1]) not in params:
                raise SpecError(f"{pointer}: path parameter {segment} is not declared")
        body = None
        if "requestBody" in raw:
            body = self.request_body(raw["requestBody"], f"{pointer}/requestBody")
        responses = {
            str(status): self.response(r, f"{pointer}/responses/{_escape(status)}")
            for status, r in (raw.get("responses") or {}).items()
        }
        if not responses:
            raise SpecError(f"{pointer}/responses: an operation must declare its responses")
        security_pointer = f"{pointer}/security" if "security" in raw else "/security"
        requirements = raw.get("security", self.document.get("security", []))
        names = []
        for i, requirement in enumerate(requirements):
            for name in requirement:
                scheme = self.schemes.get(name)
                where = f"{security_pointer}/{i}/{_escape(name)}"
                if scheme is None:
                    raise SpecError(f"{where}: security scheme {name!r} is not declared")
                kind = (scheme.get("type"), str(scheme.get("scheme", "")).lower())
                if kind not in _SECURITY_SCHEMES:
                    raise SpecError(f"{where}: only http bearer and http basic are supported")
                names.append(name)
        kinds = {n: str(self.schemes[n]["scheme"]).lower() for n in names}
        return Operation(
            operation_id=str(operation_id),
            method=method.upper(),
            path=path,
            parameters=tuple(params.values()),
            body=body,
            responses=responses,
            security=tuple(names),
            security_kinds=kinds,
        )

    def parameter(self, raw: Any, pointer: str) -> Parameter:
        raw, pointer = self.deref(raw, pointer)
        location = raw.get("in")
        if location not in PARAMETER_STYLES:
            raise SpecError(f"{pointer}/in: parameters in {location!r} are not supported")
        style = raw.get("style", PARAMETER_STYLES[location])
        if style != PARAMETER_STYLES[location] or raw.get("explode", location == "query") is not (
            location == "query"
        ):
            raise SpecError(f"{pointer}: parameter style {style!r} is not supported")
        if "schema" not in raw:
            raise SpecError(f"{pointer}: a parameter needs a schema")
        validator = self.validator(raw["schema"], f"{pointer}/schema")
        kind = validator.schema.get("type", "string")
        kinds = [kind] if isinstance(kind, str) else kind
        if not set(kinds) <= {"string", "integer", "number", "boolean", "null"}:
            raise SpecError(f"{pointer}/schema: only scalar parameters are supported")
        schema, _ = self.deref(raw["schema"], f"{pointer}/schema")
        return Parameter(
            name=str(raw["name"]),
            location=location,
            required=bool(raw.get("required", location == "path")),
            schema=validator.schema,
            validator=validator,
            default=schema.get("default"),
        )

    def request_body(self, raw: Any, pointer: str) -> RequestBody:
        raw, pointer = self.deref(raw, pointer)
        return RequestBody(
            required=bool(raw.get("required", False)),
            media_types=self.media_types(raw.get("content") or {}, f"{pointer}/content"),
        )

    def response(self, raw: Any, pointer: str) -> ResponseSpec:
        raw, pointer = self.deref(raw, pointer)
        return ResponseSpec(
            media_types=self.media_types(raw.get("content") or {}, f"{pointer}/content")
        )

    def media_types(self, content: dict[str, Any], pointer: str) -> dict[str, Validator]:
        out = {}
        for media_type, body in content.items():
            where = f"{pointer}/{_escape(media_type)}"
            if media_type not in SUPPORTED_MEDIA_TYPES:
                raise SpecError(f"{where}: media type {media_type!r} is not supported")
            if "schema" not in body:
                raise SpecError(f"{where}: a body needs a schema")
            out[media_type] = self.validator(body["schema"], f"{where}/schema")
        return out


def component_validator(document: Mapping[str, Any], name: str) -> Validator:
    """A validator for ``#/components/schemas/<name>`` of ``document``, compiled once.

    Seeding calls this for every record; documents are never changed once loaded.
    """
    key = (id(document), name)
    cached = _COMPONENT_VALIDATORS.get(key)
    if cached is None or cached[0] is not document:
        validator = _Compiler(document).validator(
            {"$ref": f"#/components/schemas/{name}"}, f"/components/schemas/{_escape(name)}"
        )
        # The document is kept with its validator, so its id cannot be reused by another;
        # the oldest are dropped, so apps built and thrown away (tests) do not pile up.
        if len(_COMPONENT_VALIDATORS) >= 64:
            del _COMPONENT_VALIDATORS[next(iter(_COMPONENT_VALIDATORS))]
        cached = _COMPONENT_VALIDATORS[key] = (document, validator)
    return cached[1]


_COMPONENT_VALIDATORS: dict[tuple[int, str], tuple[Mapping[str, Any], Validator]] = {}
