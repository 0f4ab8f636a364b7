"""Compiling an OpenAPI 3.0 or 3.1 document, once, into an immutable operation table."""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from ..errors import SpecError
from . import cache
from .document import load_yaml, read_document
from .schemas import Findings, Validator, _escape, to_json_schema

__all__ = ["load_yaml", "read_document"]  # re-exported: where callers have always found them

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
#: Parameter style per location when the document names none, and the styles each admits.
DEFAULT_STYLES = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
PARAMETER_STYLES = {
    "path": frozenset({"simple", "label", "matrix"}),
    "query": frozenset({"form", "spaceDelimited", "pipeDelimited", "deepObject"}),
    "header": frozenset({"simple"}),
    "cookie": frozenset({"form"}),
}
#: Security scheme kinds: (type, http scheme) for HTTP ones, (type, "") for the rest.
SECURITY_KINDS = frozenset(
    {("http", "bearer"), ("http", "basic"), ("apiKey", ""), ("oauth2", ""), ("openIdConnect", "")}
)


@dataclass(frozen=True)
class SecurityScheme:
    """One scheme of ``components/securitySchemes``, as the authenticator needs it."""

    name: str
    kind: str  # bearer, basic, apiKey, oauth2, openIdConnect (the last two send bearer tokens)
    key_name: str = ""  # apiKey: the header, query parameter or cookie name
    key_location: str = ""  # apiKey: header, query or cookie


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header or cookie
    required: bool
    schema: Any
    validator: Validator
    default: Any = None
    style: str = "form"
    explode: bool = True
    #: A parameter described by ``content`` instead of ``schema``: its media type (JSON text).
    media_type: str | None = None

    # Cached (the dataclass is frozen, the values never change): read on every request.
    @cached_property
    def scalar_type(self) -> str:
        schema = self.schema if isinstance(self.schema, dict) else {}
        kind = schema.get("type", "string")
        if isinstance(kind, str):
            return kind
        return next((t for t in kind if t != "null"), "string")

    @cached_property
    def pointer(self) -> str:
        """The parameter as a JSON Pointer among those of its location (``/businessId``)."""
        return f"/{_escape(self.name)}"


@dataclass(frozen=True)
class RequestBody:
    required: bool
    media_types: Mapping[str, Validator]
    #: The OpenAPI ``encoding`` object per media type (form and multipart bodies).
    encodings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponseSpec:
    media_types: Mapping[str, Validator]
    #: The Media Type Objects (their ``example``/``examples``), by media type.
    content: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Header names the response declares (lower case).
    headers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # template, e.g. /v1/businesses/{businessId}
    parameters: tuple[Parameter, ...]
    body: RequestBody | None
    responses: Mapping[str, ResponseSpec]
    #: Alternatives, any one of which suffices; each names the schemes it needs together.
    #: Empty: no authentication; an empty alternative: authentication is optional.
    security: tuple[tuple[str, ...], ...] = ()
    schemes: Mapping[str, SecurityScheme] = field(default_factory=dict)
    #: The operation object as written (its ``x-sandbox-*`` extensions, summary, tags).
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Whether the document gave the operationId, or the engine derived it.
    derived_id: bool = False

    # Cached (the operation never changes): read on every request.
    @cached_property
    def path_names(self) -> tuple[str, ...]:
        """The path parameters the operation declares, in order."""
        return tuple(p.name for p in self.parameters if p.location == "path")

    @cached_property
    def query_order(self) -> tuple[str, ...]:
        """The query parameters the operation declares, in order."""
        return tuple(p.name for p in self.parameters if p.location == "query")

    @cached_property
    def query_names(self) -> frozenset[str]:
        """The query parameters the operation declares."""
        return frozenset(self.query_order)

    @cached_property
    def scheme_names(self) -> frozenset[str]:
        """Every security scheme any alternative names."""
        return frozenset(name for alternative in self.security for name in alternative)

    @cached_property
    def auth_kinds(self) -> frozenset[str]:
        """``bearer``/``basic``/``apiKey``...: the kinds of its security schemes."""
        return frozenset(self.schemes[name].kind for name in self.scheme_names)

    @cached_property
    def security_kinds(self) -> Mapping[str, str]:
        """Scheme name -> kind."""
        return MappingProxyType({name: self.schemes[name].kind for name in self.scheme_names})

    @cached_property
    def success_status(self) -> int:
        """The status it answers when it succeeds: its lowest documented 2xx (else 200 for a
        ``2XX`` or ``default`` response, else its lowest status)."""
        statuses = sorted(int(s) for s in self.responses if s.isdigit() and 200 <= int(s) < 300)
        if statuses:
            return statuses[0]
        if any(s.upper() == "2XX" for s in self.responses):
            return 200
        numeric = sorted(int(s) for s in self.responses if s.isdigit())
        if "default" in self.responses or not numeric:
            return 200
        return numeric[0]

    @cached_property
    def _responses_by_status(self) -> dict[int, ResponseSpec | None]:
        return {}

    def response_for(self, status: int) -> ResponseSpec | None:
        """The declared response for ``status``: exact, then ``4XX``-style, then default."""
        found = self._responses_by_status
        if status in found:
            return found[status]
        responses = self.responses
        response = found[status] = (
            responses.get(str(status))
            or responses.get(f"{str(status)[0]}XX")
            or responses.get(f"{str(status)[0]}xx")
            or responses.get("default")
        )
        return response


@dataclass(frozen=True)
class Spec:
    """A compiled OpenAPI document: its raw form (to serve) and its operations."""

    document: Mapping[str, Any]
    operations: tuple[Operation, ...]
    source: str
    #: Constructs that were not understood, with their pointers (empty when loaded strictly).
    findings: tuple[str, ...] = ()

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

    @cached_property
    def openapi30(self) -> bool:
        return str(self.document.get("openapi", "")).startswith("3.0")

    @cached_property
    def base_path(self) -> str:
        """The path of the first server URL (``/api/v3``), or "" when it has none."""
        return server_base_path(self.document)

    def extension(self, name: str, default: Any = None) -> Any:
        """A document-level ``x-sandbox-<name>`` (on the root, else on ``info``)."""
        key = f"x-sandbox-{name}"
        if key in self.document:
            return self.document[key]
        return (self.document.get("info") or {}).get(key, default)


def server_base_path(document: Mapping[str, Any]) -> str:
    servers = document.get("servers") or []
    if not servers or not isinstance(servers[0], dict):
        return ""
    url = str(servers[0].get("url", ""))
    for name, variable in (servers[0].get("variables") or {}).items():
        if isinstance(variable, dict):
            url = url.replace(f"{{{name}}}", str(variable.get("default", "")))
    path = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*", "", url)
    if "{" in path:
        return ""
    return "/" + path.strip("/") if path.strip("/") else ""


def resolve_pointer(document: Mapping[str, Any], ref: str, where: str) -> tuple[Any, str]:
    """Follow a local ``$ref`` to its target; unresolvable refs are a ``SpecError``."""
    if not ref.startswith("#"):
        raise SpecError(f"{where}: only local $refs (#/...) are supported, got {ref!r}")
    node: Any = document
    for raw in ref[2:].split("/") if ref[2:] else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if "%" in token:
            from urllib.parse import unquote

            token = unquote(token)
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SpecError(f"{where}: $ref {ref!r} does not resolve")
    return node, ref[1:]


#: A ``$ref`` whose value does not start with ``#``: the document spans several files.
_EXTERNAL_REF = re.compile(rb"""\$ref['"]?\s*:\s*['"]?[^'"#\s]""")


def load_spec(path: str | Path, *, strict: bool = True) -> Spec:
    """Read and compile an OpenAPI 3.0/3.1 document (several files joined by ``$ref``).

    The compiled form is kept in the on-disk cache (engine/cache.py) under the content of
    every file the document was read from, and a later start with the same bytes unpickles it
    instead of parsing and compiling again. For a document in one file that is its bytes; for
    one split over several, a manifest (kept under the root file's path) names the files,
    whose bytes are hashed again on every start.
    """
    mode = "strict" if strict else "lenient"
    try:
        raw = Path(path).read_bytes()
    except OSError:
        raw = b""  # read_document says what is wrong
    name = None
    manifest = None
    if raw and _EXTERNAL_REF.search(raw) is None:
        name = cache.key(f"spec-{mode}", str(path).encode() + b"\0" + raw)
    elif raw:
        manifest = cache.key(f"files-{mode}", str(Path(path).resolve()).encode())
        listed = _digests(_listed_files(cache.load(manifest)))
        name = _content_key(mode, path, listed) if listed else None
    if name is not None:
        hit = cache.load(name)
        if hit is not None:
            try:
                spec = pickle.loads(hit)
            except Exception:  # a damaged or foreign entry: compile again
                spec = None
            if isinstance(spec, Spec):
                return spec
    files: dict[Path, bytes] = {}  # each file read, with the digest of the bytes read
    document = read_document(path, files)
    try:
        spec = compile_spec(document, source=str(path), strict=strict)
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        # A value of the wrong JSON type where the compiler walks (e.g. `get: null`).
        raise SpecError(
            f"{path}: not a well-formed OpenAPI document ({type(exc).__name__}: {exc}); "
            f"`mockserver lint {path}` lists every problem with its JSON Pointer"
        ) from None
    if manifest is not None:  # keyed by the bytes compiled, not read again
        name = _content_key(mode, path, files)
        cache.store(manifest, orjson.dumps([str(f) for f in files]))
    if name is not None:
        cache.store(name, pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
    return spec


def _listed_files(entry: bytes | None) -> list[Path]:
    """The files a manifest names (none if it is missing or damaged)."""
    try:
        listed = orjson.loads(entry) if entry else []
    except orjson.JSONDecodeError:
        return []
    return [Path(f) for f in listed if isinstance(f, str)] if isinstance(listed, list) else []


def _digests(files: list[Path]) -> dict[Path, bytes] | None:
    """The SHA-256 of each file's bytes now (None if one cannot be read)."""
    digests = {}
    for file in files:
        try:
            digests[file] = hashlib.sha256(file.read_bytes()).digest()
        except OSError:
            return None
    return digests


def _content_key(mode: str, path: str | Path, digests: Mapping[Path, bytes]) -> str:
    """The cache entry of a document read from the files ``digests`` names, in order."""
    digest = hashlib.sha256(str(path).encode())
    for file, content in digests.items():
        digest.update(b"\0" + str(file).encode() + b"\0" + content)
    return cache.key(f"spec-{mode}", digest.digest())


def check_version(document: Mapping[str, Any], source: str) -> None:
    """Refuse what is not OpenAPI 3.0/3.1, saying what to do about it."""
    if "swagger" in document:
        raise SpecError(
            f"{source}: this is a Swagger {document.get('swagger')} document; the sandbox "
            "serves OpenAPI 3.0 and 3.1. Convert it first (for example with swagger2openapi "
            "or editor.swagger.io's 'Convert to OpenAPI 3')."
        )
    version = str(document.get("openapi", ""))
    if not re.match(r"^3\.[01](\.|$)", version):
        raise SpecError(f"{source}: /openapi must be 3.0.x or 3.1.x, got {version or 'nothing'!r}")


def compile_spec(document: dict[str, Any], source: str = "<memory>", strict: bool = True) -> Spec:
    """Compile ``document``. Strict: anything not understood is a ``SpecError``; otherwise it is
    listed in ``Spec.findings`` with its pointer and the rest is served."""
    check_version(document, source)
    findings = Findings(strict)
    compiler = _Compiler(document, findings)
    operations = []
    seen: dict[str, str] = {}
    paths = document.get("paths") or {}
    if not isinstance(paths, dict):
        raise SpecError(f"{source}: /paths must map paths to path items")
    for path, item in paths.items():
        path = str(path)
        item_pointer = f"/paths/{_escape(path)}"
        try:
            item, item_pointer = compiler.deref(item, item_pointer)
        except SpecError as exc:
            if strict:
                raise
            findings.report(item_pointer, f"{exc}; the path is not served")
            continue
        if not isinstance(item, dict):
            findings.report(item_pointer, "a path item must be an object; the path is not served")
            continue
        shared = item.get("parameters") or []
        for method in HTTP_METHODS:
            if not isinstance(item.get(method), dict):
                continue
            pointer = f"{item_pointer}/{method}"
            op = compiler.operation(path, method, item[method], shared, pointer, item_pointer)
            if op is None:
                continue
            if op.operation_id in seen:
                message = (
                    f"operationId {op.operation_id!r} is already used at {seen[op.operation_id]}"
                )
                findings.report(f"{pointer}/operationId", message)
                op = _renamed(op, _unique(op.operation_id, seen))
            seen[op.operation_id] = pointer
            operations.append(op)
    return Spec(
        document=document,
        operations=tuple(operations),
        source=source,
        findings=tuple(findings.items),
    )


def derived_operation_id(method: str, path: str) -> str:
    """A stable id for an operation without one: ``get_pets_petId`` for GET /pets/{petId}."""
    words = [re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_") for s in path.split("/")]
    return "_".join([method.lower(), *(w for w in words if w)]) or method.lower()


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _renamed(op: Operation, operation_id: str) -> Operation:
    from dataclasses import replace

    return replace(op, operation_id=operation_id)


class _Compiler:
    def __init__(self, document: Mapping[str, Any], findings: Findings | None = None) -> None:
        self.document = document
        self.findings = findings or Findings(strict=True)
        self.openapi30 = str(document.get("openapi", "3.0")).startswith("3.0")
        self.schemes = (document.get("components") or {}).get("securitySchemes") or {}
        self._schemes: dict[str, SecurityScheme | None] = {}
        self._shared: dict[str, Validator] = {}  # bare $ref -> its validator
        self._converted: dict[str, Any] = {}  # $ref -> its target converted (to_json_schema)

    def deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise SpecError(f"{pointer}: $ref {ref!r} refers to itself")
            seen.add(ref)
            node, pointer = resolve_pointer(self.document, ref, pointer)
        return node, pointer

    def validator(self, schema: Any, pointer: str, direction: str | None = None) -> Validator:
        """``direction``: "request" or "response", for ``readOnly``/``writeOnly``
        (``to_json_schema``)."""

        def resolve(ref: str, where: str) -> tuple[Any, str]:
            return resolve_pointer(self.document, ref, where)

        # A bare {"$ref": ...} (most media types of a big document) converts to the same
        # schema wherever it is used: one Validator for all, not one inlined copy each.
        ref = schema.get("$ref") if isinstance(schema, dict) and len(schema) == 1 else None
        key = f"{direction}:{ref}"
        if isinstance(ref, str) and key in self._shared:
            return self._shared[key]
        validator = Validator(
            to_json_schema(
                schema,
                pointer,
                resolve,
                self.findings,
                openapi30=self.openapi30,
                shared=self._converted,
                direction=direction,
            )
        )
        if isinstance(ref, str):
            self._shared[key] = validator
        return validator

    def operation(
        self,
        path: str,
        method: str,
        raw: dict[str, Any],
        shared: list[Any],
        pointer: str,
        item_pointer: str,
    ) -> Operation | None:
        operation_id = raw.get("operationId")
        derived = not operation_id
        if derived:
            if self.findings.strict:
                raise SpecError(f"{pointer}: every operation needs an operationId")
            operation_id = derived_operation_id(method, path)
        params: dict[tuple[str, str], Parameter] = {}
        for source, items in ((item_pointer, shared), (pointer, raw.get("parameters") or [])):
            for i, p in enumerate(items):
                param = self.parameter(p, f"{source}/parameters/{i}")
                if param is not None:
                    params[(param.location, param.name)] = param
        for segment in re.findall(r"\{([^}/]+)\}", path):
            if ("path", segment) not in params:
                self.findings.report(
                    pointer, f"path parameter {{{segment}}} is not declared; any value is accepted"
                )
                params[("path", segment)] = Parameter(
                    segment, "path", True, {"type": "string"}, Validator({"type": "string"}),
                    style="simple", explode=False,
                )  # fmt: skip
        body = None
        if "requestBody" in raw:
            body = self.request_body(raw["requestBody"], f"{pointer}/requestBody")
        responses = {}
        for status, r in (raw.get("responses") or {}).items():
            where = f"{pointer}/responses/{_escape(str(status))}"
            try:
                responses[str(status)] = self.response(r, where)
            except SpecError as exc:
                if self.findings.strict:
                    raise
                self.findings.report(where, str(exc))
        if not responses:
            if self.findings.strict:
                raise SpecError(f"{pointer}/responses: an operation must declare its responses")
            self.findings.report(f"{pointer}/responses", "no responses declared; it answers 204")
            responses["204"] = ResponseSpec(media_types={})
        security, schemes = self.security(raw, pointer)
        return Operation(
            operation_id=str(operation_id),
            method=method.upper(),
            path=path,
            parameters=tuple(params.values()),
            body=body,
            responses=responses,
            security=security,
            schemes=schemes,
            raw=raw,
            derived_id=derived,
        )

    def security(
        self, raw: Mapping[str, Any], pointer: str
    ) -> tuple[tuple[tuple[str, ...], ...], dict[str, SecurityScheme]]:
        security_pointer = f"{pointer}/security" if "security" in raw else "/security"
        requirements = raw.get("security", self.document.get("security")) or []
        alternatives: list[tuple[str, ...]] = []
        schemes: dict[str, SecurityScheme] = {}
        for i, requirement in enumerate(requirements):
            names: list[str] = []
            usable = True
            for name in requirement or {}:
                scheme = self.scheme(name, f"{security_pointer}/{i}/{_escape(name)}")
                if scheme is None:
                    usable = False
                    continue
                schemes[name] = scheme
                names.append(name)
            if usable:
                alternatives.append(tuple(names))
        if requirements and not alternatives:
            alternatives.append(())  # none of them understood: nothing is required
        return tuple(alternatives), schemes

    def scheme(self, name: str, where: str) -> SecurityScheme | None:
        if name in self._schemes:
            return self._schemes[name]
        found: SecurityScheme | None = None
        try:
            raw, _ = self.deref(self.schemes.get(name), where)
        except SpecError as exc:
            self.findings.report(where, str(exc))
            raw = None
        if not isinstance(raw, dict):
            self.findings.report(
                where, f"security scheme {name!r} is not declared; it is not enforced"
            )
        else:
            kind = (str(raw.get("type", "")), str(raw.get("scheme", "")).lower())
            if kind[0] == "http" and kind not in SECURITY_KINDS:
                self.findings.report(
                    where,
                    f"HTTP scheme {kind[1]!r} is not supported; any Authorization header "
                    f"with that scheme is accepted",
                )
                found = SecurityScheme(name, "http:" + kind[1])
            elif kind[0] == "http":
                found = SecurityScheme(name, kind[1])
            elif kind[0] == "apiKey":
                location = str(raw.get("in", "header"))
                found = SecurityScheme(name, "apiKey", str(raw.get("name", "")), location)
            elif kind[0] in ("oauth2", "openIdConnect"):
                found = SecurityScheme(name, kind[0])
            else:
                self.findings.report(
                    where, f"security scheme type {kind[0]!r} is not supported; not enforced"
                )
        self._schemes[name] = found
        return found

    def parameter(self, raw: Any, pointer: str) -> Parameter | None:
        raw, pointer = self.deref(raw, pointer)
        if not isinstance(raw, dict):
            self.findings.report(pointer, "a parameter must be an object")
            return None
        location = raw.get("in")
        if location not in PARAMETER_STYLES:
            self.findings.report(f"{pointer}/in", f"parameters in {location!r} are not supported")
            return None
        name = str(raw.get("name", ""))
        if location == "header" and name.lower() in ("accept", "content-type", "authorization"):
            return None  # OpenAPI: such header parameters are ignored
        style = str(raw.get("style", DEFAULT_STYLES[location]))
        if style not in PARAMETER_STYLES[location]:
            self.findings.report(
                f"{pointer}/style",
                f"style {style!r} is not defined for {location} parameters; "
                f"{DEFAULT_STYLES[location]!r} is used",
            )
            style = DEFAULT_STYLES[location]
        explode = bool(raw.get("explode", style == "form"))
        media_type = None
        if "schema" in raw:
            schema_source, schema_pointer = raw["schema"], f"{pointer}/schema"
        elif isinstance(raw.get("content"), dict) and raw["content"]:
            media_type, media = next(iter(raw["content"].items()))
            schema_source = (media or {}).get("schema", {})
            schema_pointer = f"{pointer}/content/{_escape(str(media_type))}/schema"
        else:
            if self.findings.strict:
                raise SpecError(f"{pointer}: a parameter needs a schema")
            self.findings.report(pointer, "the parameter has no schema; any value is accepted")
            schema_source, schema_pointer = {}, f"{pointer}/schema"
        validator = self.validator(schema_source, schema_pointer)
        default = validator.schema.get("default") if isinstance(validator.schema, dict) else None
        return Parameter(
            name=name,
            location=location,
            required=bool(raw.get("required", location == "path")),
            schema=validator.schema,
            validator=validator,
            default=default,
            style=style,
            explode=explode,
            media_type=media_type,
        )

    def request_body(self, raw: Any, pointer: str) -> RequestBody:
        raw, pointer = self.deref(raw, pointer)
        content = raw.get("content") or {}
        return RequestBody(
            required=bool(raw.get("required", False)),
            media_types=self.media_types(content, f"{pointer}/content", "request"),
            encodings={
                str(m): body.get("encoding") or {}
                for m, body in content.items()
                if isinstance(body, dict) and body.get("encoding")
            },
        )

    def response(self, raw: Any, pointer: str) -> ResponseSpec:
        raw, pointer = self.deref(raw, pointer)
        content = raw.get("content") or {}
        return ResponseSpec(
            media_types=self.media_types(content, f"{pointer}/content", "response"),
            content={str(m): body for m, body in content.items() if isinstance(body, dict)},
            headers=frozenset(str(h).lower() for h in raw.get("headers") or {}),
        )

    def media_types(
        self, content: Mapping[str, Any], pointer: str, direction: str | None = None
    ) -> dict[str, Validator]:
        out = {}
        for media_type, body in content.items():
            where = f"{pointer}/{_escape(str(media_type))}"
            if not isinstance(body, dict):
                self.findings.report(where, "a media type must be an object")
                continue
            # No schema: any content of that type (OpenAPI leaves it open).
            schema = body.get("schema", {})
            out[str(media_type).lower()] = self.validator(schema, f"{where}/schema", direction)
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
