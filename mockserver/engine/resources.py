"""Resources inferred from path shapes: a collection and its item path become stored records.

``POST /pets`` creates, ``GET /pets`` lists, ``GET /pets/{petId}`` fetches, ``PUT`` replaces,
``PATCH`` merges (JSON Merge Patch, RFC 7396), ``DELETE`` removes. Records are scoped by the
collection's own path parameters, so ``/businesses/{businessId}/things`` keeps each business's
things apart. Server-owned fields (the id, timestamps, ``readOnly`` and required properties the
client did not send) come from the response schema. ``x-sandbox-*`` extensions say what the
shapes cannot (the README lists them): ``x-sandbox-resource``, ``x-sandbox-action``,
``x-sandbox-id-field``, ``x-sandbox-idempotency-key``, ``x-sandbox-soft-delete``,
``x-sandbox-filters``, ``x-sandbox-sort-keys`` and ``x-sandbox-pagination``.
"""

from __future__ import annotations

import base64
import functools
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ..errors import BadRequest, FixtureError, NotFound, Problem
from .dispatch import Behaviour, Call, Reply
from .document import load_yaml
from .generate import GenerationError, generate
from .schemas import Validator, pointer_of, scalar_type
from .spec import JSON, Operation
from .store import Record, Store

_T = TypeVar("_T")
ACTIONS = ("create", "list", "fetch", "replace", "merge", "delete")
_CREATED = {"created_at", "createdAt", "created", "creationDate", "created_on", "dateCreated",
            "date_created", "createTime", "create_time", "creation_time"}  # fmt: skip
_UPDATED = {"updated_at", "updatedAt", "updated", "modified", "modifiedAt", "lastModified",
            "last_modified", "dateUpdated", "date_updated", "updateTime", "update_time",
            "modified_at"}  # fmt: skip
_LIST_KEYS = ("data", "items", "results", "records", "values", "value", "content", "entries")
_ITEM_KEYS = ("data", "item", "result", "record")
_CURSOR_PARAMS = ("cursor", "starting_after", "after", "page_token", "pageToken", "next_token",
                  "nextToken", "continuation_token", "PageToken")  # fmt: skip
_PAGE_PARAMS = ("page", "Page", "page_number", "pageNumber")
_OFFSET_PARAMS = ("offset", "skip", "start")
_LIMIT_PARAMS = ("limit", "per_page", "perPage", "page_size", "pageSize", "PageSize", "size",
                 "max_results", "maxResults", "top", "count", "first")  # fmt: skip
_SORT_PARAMS = ("sort", "sort_by", "sortBy", "order_by", "orderBy")
_ORDER_PARAMS = ("order", "sort_order", "sortOrder", "direction", "sort_direction")
_NEXT_NAMES = ("next_cursor", "nextCursor", "next_page_token", "nextPageToken", "next_token",
               "nextToken", "cursor", "next")  # fmt: skip
_MORE_NAMES = ("has_more", "hasMore", "has_next", "hasNext", "more")
_TOTAL_NAMES = ("total", "total_count", "totalCount", "total_results", "totalResults", "count")


@dataclass(frozen=True)
class Resource:
    """One inferred collection of records."""

    name: str
    collection: str  # the collection's path template
    scope: tuple[str, ...]  # its path parameters, in order
    id_field: str
    id_type: str  # integer or string
    id_format: str | None
    id_schema: Any = None
    idempotency_key: str | None = None
    soft_delete: str | None = None
    filters: Mapping[str, str] = field(default_factory=dict)  # query parameter -> field
    sort_keys: tuple[str, ...] = ()
    record_schema: Any = None
    parent: Resource | None = None
    parent_param: str | None = None  # the scope parameter holding the parent's id

    def scope_key(self, path: Mapping[str, Any]) -> str:
        if not self.scope:  # a top-level collection
            return self.name
        return " ".join([self.name, *(f"{p}={path.get(p)}" for p in self.scope)])

    @cached_property
    def shape(self) -> Shape:
        """What the record schema says about fields, worked out once (the schema is fixed)."""
        return Shape(self.record_schema)


class Shape:
    """The record schema's fields as every request reads them."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.properties = _properties(schema)
        subs = {n: s if isinstance(s, dict) else {} for n, s in self.properties.items()}
        self.hidden = frozenset(n for n, s in subs.items() if s.get("writeOnly"))
        self.closed = isinstance(schema, dict) and schema.get("additionalProperties") is False
        self.required = frozenset(
            (schema.get("required") or []) if isinstance(schema, dict) else []
        )
        #: Fields a new record takes from generated data unless the client sent them.
        self.server_filled = tuple(
            n for n, s in subs.items() if n in self.required or s.get("readOnly") or "default" in s
        )
        self.created = tuple(n for n in self.properties if n in _CREATED or n in _UPDATED)
        self.updated = tuple(n for n in self.properties if n in _UPDATED)
        self.folded = {name.replace("_", "").lower(): name for name in self.properties}
        self._partial: dict[tuple[str, ...], Any] = {}

    def generation_schema(self, names: tuple[str, ...]) -> Any:
        """The record schema reduced to ``names`` (the same values are admitted for them), so
        that only what a new record needs is generated; the whole schema where it does not
        reduce safely."""
        found = self._partial.get(names)
        if found is None:
            schema = self.schema
            if isinstance(schema, dict) and set(schema) <= _REDUCIBLE and "properties" in schema:
                found = {
                    **schema,
                    "properties": {n: schema["properties"][n] for n in names},
                    "required": [n for n in names if n in self.required],
                }
            else:
                found = schema or {}
            self._partial[names] = found
        return found


#: Keywords of an object schema that still mean the same once some properties are left out.
_REDUCIBLE = frozenset({"type", "properties", "required", "additionalProperties", "title",
                        "description", "$defs", "example", "examples", "xml", "nullable",
                        "readOnly", "writeOnly", "deprecated", "externalDocs", "$schema",
                        "$id", "$comment", "discriminator"})  # fmt: skip


@dataclass(frozen=True)
class Action:
    kind: str
    resource: Resource
    op: Operation

    @cached_property
    def id_param(self) -> str | None:
        """The path parameter holding the record's id: the first outside the resource's scope."""
        return next(
            (p.name for p in self.op.parameters
             if p.location == "path" and p.name not in self.resource.scope),
            None,
        )  # fmt: skip

    @cached_property
    def reply_plans(self) -> dict[int, tuple[bool, Any, list[str]]]:
        """Status -> whether its response has a body, its JSON schema, and where the record
        sits in it (``Resources._reply`` fills it in as statuses are answered)."""
        return {}


def infer(operations: Sequence[Operation]) -> dict[str, Action]:
    """The resource action of every operation that has one, by operationId."""
    collections: dict[str, dict[str, Operation]] = {}
    items: dict[str, dict[str, tuple[Operation, str]]] = {}
    explicit: dict[str, tuple[str, str]] = {}  # operationId -> (collection key, action)
    templates: dict[str, str] = {}
    for op in operations:
        if op.raw.get("x-sandbox-action") == "none" or not _succeeds(op):
            continue
        segments = [s for s in op.path.split("/") if s]
        if not segments:
            continue
        last = segments[-1]
        if _is_param(last) and len(segments) > 1 and not _is_param(segments[-2]):
            key = _normal("/" + "/".join(segments[:-1]))
            items.setdefault(key, {})[op.method] = (op, last[1:-1])
            templates.setdefault(key, "/" + "/".join(segments[:-1]))
        elif not _is_param(last) and "{" not in last:
            key = _normal(op.path)
            collections.setdefault(key, {})[op.method] = op
            templates.setdefault(key, op.path)
        else:
            continue
        if isinstance(op.raw.get("x-sandbox-action"), str):
            explicit[op.operation_id] = (key, op.raw["x-sandbox-action"])
    resources: dict[str, Resource] = {}
    actions: dict[str, Action] = {}
    for key in sorted(set(collections) | set(items), key=len):
        col, item = collections.get(key, {}), items.get(key, {})
        named = [o for o in (*col.values(), *(o for o, _ in item.values())) if _ext(o, "resource")]
        if "GET" in col and not _lists(col["GET"]):
            # GET /domains/{id}/config answers one object: a singleton, not a collection.
            col = {m: o for m, o in col.items() if m != "GET"}
            if not item:
                col = {}
        creatable = ("POST" in col and ("GET" in col or bool(item))) or (
            "PUT" in item and "GET" in item
        )
        if not (creatable or named):
            continue
        resource = _resource(key, templates[key], col, item, named, resources)
        resources[key] = resource
        kinds = {"POST": "create", "GET": "list"}
        for method, op in col.items():
            if method in kinds:
                actions[op.operation_id] = Action(kinds[method], resource, op)
        item_kinds = {"GET": "fetch", "PUT": "replace", "PATCH": "merge", "DELETE": "delete"}
        for method, (op, _) in item.items():
            if method in item_kinds:
                actions[op.operation_id] = Action(item_kinds[method], resource, op)
    for operation_id, (key, kind) in explicit.items():
        if key in resources and kind in ACTIONS:
            op = next(o for o in operations if o.operation_id == operation_id)
            actions[operation_id] = Action(kind, resources[key], op)
    return actions


def _succeeds(op: Operation) -> bool:
    """Whether ``op`` documents a success (a 2xx, ``2XX`` or ``default`` response): one that
    documents only errors (Petstore v2's ``addPet``: 405) has no answer for a resource action
    to give, so it answers as the document says instead."""
    return any(s.startswith("2") or s == "default" for s in op.responses)


def _lists(op: Operation) -> bool:
    """Whether ``op``'s success response holds an array of records (not of strings or
    numbers: GitHub's required status check ``contexts`` are names, not records)."""
    schema = _json_schema(op)
    path = list_path(schema) if schema is not None else None
    if path is None:
        return False
    listed = _unwrap(schema, path)
    items = listed.get("items") if isinstance(listed, dict) else None
    return not (isinstance(items, dict) and scalar_type(items.get("type")))


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and segment.count("{") == 1


def _normal(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", template)


def _ext(op: Operation, name: str) -> Any:
    return op.raw.get(f"x-sandbox-{name}")


def _resource(
    key: str,
    template: str,
    col: Mapping[str, Operation],
    item: Mapping[str, tuple[Operation, str]],
    named: list[Operation],
    known: Mapping[str, Resource],
) -> Resource:
    ops = [*col.values(), *(o for o, _ in item.values())]

    def extension(name: str) -> Any:
        return next((_ext(o, name) for o in ops if _ext(o, name) is not None), None)

    static = [s for s in template.split("/") if s and not _is_param(s)]
    name = str(extension("resource") or (static[-1] if static else "records"))
    schema = _record_schema(col, item)
    properties = _properties(schema)
    id_param = next((p for _, p in item.values()), None)
    id_field = extension("id-field")
    if not id_field:
        candidates = ["id", id_param or "", "uuid", "key", f"{name.rstrip('s')}Id", "name"]
        lowered = {p.lower(): p for p in properties}
        id_field = next(
            (lowered[c.lower()] for c in candidates if c and c.lower() in lowered), "id"
        )
    id_schema = properties.get(id_field) or _param_schema(item, id_param) or {}
    id_kinds = id_schema.get("type") if isinstance(id_schema, dict) else None
    id_kinds = id_kinds if isinstance(id_kinds, list) else [id_kinds]
    scope = tuple(re.findall(r"\{([^}]*)\}", template))
    parent = parent_param = None
    segments = [s for s in template.split("/") if s]
    if len(segments) >= 2 and _is_param(segments[-2]):
        parent = known.get(_normal("/" + "/".join(segments[:-2])))
        parent_param = segments[-2][1:-1] if parent is not None else None
    filters = extension("filters") or {}
    if isinstance(filters, list):
        filters = {str(f): str(f) for f in filters}
    return Resource(
        name=name,
        collection=template,
        scope=scope,
        id_field=str(id_field),
        id_type="integer" if "integer" in id_kinds else "string",
        id_format=id_schema.get("format") if isinstance(id_schema, dict) else None,
        id_schema=id_schema,
        idempotency_key=extension("idempotency-key"),
        soft_delete=extension("soft-delete"),
        filters={str(k): str(v) for k, v in dict(filters).items()},
        sort_keys=tuple(extension("sort-keys") or ()),
        record_schema=schema,
        parent=parent,
        parent_param=parent_param,
    )


def _param_schema(item: Mapping[str, tuple[Operation, str]], name: str | None) -> Any:
    for op, _ in item.values():
        for p in op.parameters:
            if p.location == "path" and p.name == name:
                return p.schema
    return None


def _json_schema(op: Operation | None, statuses: Iterable[str] = ()) -> Any:
    if op is None:
        return None
    for status in (*statuses, *sorted(op.responses)):
        response = op.responses.get(status)
        if status.startswith("2") and response is not None:
            for media_type, validator in response.media_types.items():
                if "json" in media_type or media_type == "*/*":
                    return validator.schema
    return None


def _record_schema(col: Mapping[str, Operation], item: Mapping[str, tuple[Operation, str]]) -> Any:
    fetch = item.get("GET", (None, ""))[0] or item.get("PUT", (None, ""))[0]
    schema = _json_schema(fetch) or _json_schema(col.get("POST"), ("201", "200"))
    if isinstance(schema, dict) and schema.get("type") == "array":
        schema = schema.get("items")  # a create answered with a list of what it made
    if schema is not None:
        return _unwrap(schema, record_path(schema))
    listed = _json_schema(col.get("GET"))
    if listed is not None:
        path = list_path(listed)
        inner = _unwrap(listed, path) if path is not None else None
        if isinstance(inner, dict) and isinstance(inner.get("items"), dict):
            return inner["items"]
    return {}


def _properties(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    found = dict(schema.get("properties") or {})
    for member in schema.get("allOf") or []:
        found.update(_properties(member))
    for key in ("oneOf", "anyOf"):  # alternatives (Twilio's versions): every name they have
        for member in schema.get(key) or []:
            for name, sub in _properties(member).items():
                found.setdefault(name, sub)
    return found


def _unwrap(schema: Any, path: Sequence[str]) -> Any:
    for key in path:
        schema = _properties(schema).get(key, {})
    return schema


def _per_schema(find: Callable[[Any], _T]) -> Callable[[Any], _T]:
    """``find`` worked out once per schema object (documents' schemas do not change)."""
    found: dict[int, tuple[Any, _T]] = {}

    def cached(schema: Any) -> _T:
        hit = found.get(id(schema))
        if hit is None or hit[0] is not schema:
            if len(found) > 4096:
                found.clear()
            hit = found[id(schema)] = (schema, find(schema))
        return hit[1]

    return cached


@_per_schema
def record_path(schema: Any) -> list[str]:
    """Where the record sits in a response: ``[]`` at the root, ``["data"]`` in an envelope.
    Shared: not to be changed by the caller."""
    properties = _properties(schema)
    if not properties or "id" in properties:
        return []
    objects = {
        k: v
        for k, v in properties.items()
        if isinstance(v, dict) and (v.get("type") == "object" or _properties(v))
    }
    for key in _ITEM_KEYS:
        if key in objects:
            return [key]
    if len(properties) == 1 and objects:
        return [next(iter(objects))]
    return []


@_per_schema
def list_path(schema: Any) -> list[str] | None:
    """Where the list of records sits in a list response (None: there is no array).
    Shared: not to be changed by the caller."""
    if isinstance(schema, dict) and schema.get("type") == "array":
        return []
    properties = _properties(schema)
    arrays = [k for k, v in properties.items() if isinstance(v, dict) and v.get("type") == "array"]
    for key in _LIST_KEYS:
        if key in arrays:
            return [key]
    return [arrays[0]] if arrays else None


class Resources:
    """The behaviours of every inferred resource action, over ``store.resources``."""

    def __init__(
        self,
        store: Store,
        actions: Mapping[str, Action],
        seed: int = 0,
    ) -> None:
        self.store = store
        self.actions = dict(actions)
        self.seed = seed
        self._counters: dict[str, int] = {}
        self._counted: object = None

    def behaviours(self) -> dict[str, Behaviour]:
        handlers = {
            "create": self.create,
            "list": self.list_records,
            "fetch": self.fetch,
            "replace": self.replace,
            "merge": self.merge,
            "delete": self.delete,
        }
        out: dict[str, Behaviour] = {}
        for operation_id, action in self.actions.items():
            handler = handlers[action.kind]
            out[operation_id] = _bind(handler, action)
        return out

    # --- actions ---------------------------------------------------------------------------

    def create(self, action: Action, call: Call) -> Reply:
        resource = action.resource
        body = call.body if isinstance(call.body, dict) else {}
        with self.store.transaction():
            self._check_parent(resource, call.path)
            records = self._records(resource, call.path)
            key = resource.idempotency_key
            if key and body.get(key) is not None:
                for record in records.values():
                    if record.get(key) == body[key] and not _deleted(resource, record):
                        record.update(_record_names(resource, body))
                        self._touch(resource, record, created=False)
                        return self._reply(action, 200, record)
            record = self.new_record(resource, body, call.path)
            records[_key(record[resource.id_field])] = record
        return self._reply(action, _status(action.op, (201, 200)), record)

    def list_records(self, action: Action, call: Call) -> Reply:
        resource = action.resource
        with self.store.transaction():
            self._check_parent(resource, call.path)
            records = list(self._records(resource, call.path).values())
            query = call.query
            include_deleted = query.get("include_deleted") is True
            records = [
                r
                for r in records
                if (include_deleted or not _deleted(resource, r)) and _matches(action, r, query)
            ]
            records = _sorted(action, records, query)
            page, links = _page(action, records, query)
            return self._list_reply(action, call, records, page, links)

    def fetch(self, action: Action, call: Call) -> Reply:
        with self.store.transaction():
            return self._reply(action, _status(action.op, (200,)), self._find(action, call))

    def replace(self, action: Action, call: Call) -> Reply:
        resource = action.resource
        body = call.body if isinstance(call.body, dict) else {}
        with self.store.transaction():
            records = self._records(resource, call.path)
            raw_id = self._path_id(action, call)
            existing = records.get(_key(raw_id))
            if existing is None:
                self._check_parent(resource, call.path)
                record = self.new_record(resource, {**body, resource.id_field: raw_id}, call.path)
                records[_key(raw_id)] = record
                return self._reply(action, _status(action.op, (201, 200)), record)
            kept = {k: existing[k] for k in _server_owned(resource) if k in existing}
            existing.clear()
            existing.update({**_record_names(resource, body), **kept})
            self._touch(resource, existing, created=False)
            return self._reply(action, _status(action.op, (200,)), existing)

    def merge(self, action: Action, call: Call) -> Reply:
        resource = action.resource
        with self.store.transaction():
            record = self._find(action, call)
            if isinstance(call.body, dict):
                patch = {
                    k: v
                    for k, v in _record_names(resource, call.body).items()
                    if k != resource.id_field
                }
                merged = merge_patch(record, patch)
                record.clear()
                record.update(merged)
            self._touch(resource, record, created=False)
            return self._reply(action, _status(action.op, (200,)), record)

    def delete(self, action: Action, call: Call) -> Reply:
        resource = action.resource
        with self.store.transaction():
            record = self._find(action, call)
            if resource.soft_delete:
                record.setdefault(resource.soft_delete, None)
                if record[resource.soft_delete] is None:
                    record[resource.soft_delete] = self._now_for(resource, resource.soft_delete)
            else:
                del self._records(resource, call.path)[_key(record[resource.id_field])]
        status = _status(action.op, (204, 200, 202))
        if status == 204 or not action.op.response_for(status) or not _has_body(action, status):
            return Reply(status, None)
        return self._reply(action, status, record)

    # --- records ---------------------------------------------------------------------------

    def seed_record(self, resource: Resource, record: Record, path: Mapping[str, Any]) -> Record:
        """Store ``record`` as given (its id kept, or one made), server fields filled."""
        with self.store.transaction():
            stored = self.new_record(resource, record, path, keep_id=True)
            self._records(resource, path)[_key(stored[resource.id_field])] = stored
            return stored

    def new_record(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        path: Mapping[str, Any],
        keep_id: bool = True,
    ) -> Record:
        shape = resource.shape
        named = _record_names(resource, body)
        record: Record = self._generated(
            resource, tuple(n for n in shape.server_filled if n not in named)
        )
        record.update(named)
        for name in resource.scope:  # a record names its parents as the path did
            if name in shape.properties and name not in body and name in path:
                record[name] = path[name]
        if not keep_id or record.get(resource.id_field) in (None, ""):
            record[resource.id_field] = self._new_id(resource)
        elif (
            resource.id_type == "integer"
            and isinstance(record[resource.id_field], int)
            and resource.name in self._counters
            and self._counted is self.store.resources
        ):
            counter = self._counters[resource.name]
            self._counters[resource.name] = max(counter, record[resource.id_field])
        self._touch(resource, record, created=True)
        return record

    def _generated(self, resource: Resource, names: tuple[str, ...]) -> Record:
        """Generated values of the fields ``names`` (those of them the generator fills)."""
        if not names:
            return {}
        seed = zlib.crc32(f"{self.seed}/{resource.name}/{self.store.ids.new()}".encode())
        try:
            value = generate(resource.shape.generation_schema(names), seed=seed)
        except (GenerationError, RecursionError):
            return {}
        if not isinstance(value, dict):
            return {}
        return {n: value[n] for n in names if n in value}

    def _new_id(self, resource: Resource) -> Any:
        if resource.id_type == "integer":
            return self._next_integer(resource)
        schema = resource.id_schema if isinstance(resource.id_schema, dict) else {}
        if resource.id_format != "uuid" and set(schema) & {"pattern", "maxLength", "enum"}:
            # Ids of their own shape (Twilio's MG + 32 hex digits): generated from the schema.
            try:
                return generate(schema, seed=self.store.ids.new())
            except (GenerationError, RecursionError):
                pass
        return self.store.ids.new()

    def _next_integer(self, resource: Resource) -> int:
        """One above the highest integer id stored (counted once per state, then kept), or the
        lowest free one when that would leave the id's range (``int64``, ``maximum``)."""
        if self._counted is not self.store.resources:  # a reset or restore: count again
            self._counters = {}
            self._counted = self.store.resources
        taken = self._counters.get(resource.name)
        if taken is None:
            taken = max(
                (v for v in self._ids_of(resource) if isinstance(v, int) and v is not True),
                default=0,
            )
        schema = resource.id_schema if isinstance(resource.id_schema, dict) else {}
        high = schema.get("maximum", 2**31 - 1 if schema.get("format") == "int32" else 2**63 - 1)
        if taken + 1 > high:
            used = set(self._ids_of(resource))
            taken = next(i for i in range(len(used) + 1) if i + 1 not in used)
        self._counters[resource.name] = max(self._counters.get(resource.name, 0), taken + 1)
        return taken + 1

    def _ids_of(self, resource: Resource) -> Iterable[Any]:
        prefix = resource.name + " "
        for key, records in self.store.resources.items():
            if key.startswith(prefix) or key == resource.name:
                for record in records.values():
                    yield record.get(resource.id_field)

    def _touch(self, resource: Resource, record: Record, *, created: bool) -> None:
        for name in resource.shape.created if created else resource.shape.updated:
            record[name] = self._now_for(resource, name)

    def _now_for(self, resource: Resource, name: str) -> Any:
        schema = resource.shape.properties.get(name) or {}
        kinds = schema.get("type") if isinstance(schema, dict) else None
        kinds = kinds if isinstance(kinds, list) else [kinds]
        moment: datetime = self.store.clock.now()
        if "integer" in kinds or "number" in kinds:
            return int(moment.timestamp())
        if schema.get("format") == "date":
            return moment.date().isoformat()
        return self.store.now()

    def _records(self, resource: Resource, path: Mapping[str, Any]) -> dict[str, Record]:
        return self.store.resources.setdefault(resource.scope_key(path), {})

    def _path_id(self, action: Action, call: Call) -> Any:
        name = action.id_param
        value = call.path.get(name) if name else None
        if isinstance(value, str) and action.resource.id_format == "uuid":
            value = value.lower()
        return value

    def _find(self, action: Action, call: Call) -> Record:
        resource = action.resource
        self._check_parent(resource, call.path)
        raw_id = self._path_id(action, call)
        record = self._records(resource, call.path).get(_key(raw_id))
        if record is None:
            name = action.id_param or resource.id_field
            raise NotFound(
                Problem(
                    f"No {resource.name} record has {resource.id_field} {raw_id}; create it "
                    f"first (POST {resource.collection}) or use an id a list returns.",
                    {"location": "path", "pointer": f"/{name}", "keyword": "exists"},
                )
            )
        return record

    def _check_parent(self, resource: Resource, path: Mapping[str, Any]) -> None:
        parent, name = resource.parent, resource.parent_param
        if parent is None or name is None:
            return
        if _key(path.get(name)) not in self._records(parent, path):
            raise NotFound(
                Problem(
                    f"No {parent.name} record has {parent.id_field} {path.get(name)}.",
                    {"location": "path", "pointer": f"/{name}", "keyword": "exists"},
                )
            )

    # --- responses -------------------------------------------------------------------------

    def _reply(self, action: Action, status: int, record: Record) -> Reply:
        plans = action.reply_plans
        plan = plans.get(status)
        if plan is None:
            schema = _response_schema(action.op, status)
            plan = plans[status] = (
                _has_body(action, status),
                schema,
                record_path(schema) if schema is not None else [],
            )
        has_body, schema, path = plan
        if not has_body:
            return Reply(status, None)  # the document declares no body for it
        rendered = _rendered(action.resource, record)
        if path:
            envelope = self._envelope(action, status, schema, path)
            _put(envelope, path, rendered)
            return self._placed(action, status, envelope, _unwrap(schema, path), path, rendered)
        if isinstance(schema, dict) and schema.get("type") == "array":
            # A create answered with a list (``POST /anything`` -> ``[Pet]``): the record made.
            items = schema.get("items")
            return self._placed(action, status, [rendered], items, ["0"], rendered)
        fitted, fits = self._fit(action, status, schema, rendered)
        return Reply(status, fitted, checked=fits)

    def _placed(
        self,
        action: Action,
        status: int,
        body: Any,
        schema: Any,
        path: Sequence[str],
        record: Record,
    ) -> Reply:
        """``body``, holding ``record`` at ``path`` (``schema`` there), as the response admits
        it: fields of the record that break the response (a nested object the response
        requires more of) take the response's generated value, or are left out if optional."""
        validator, json_checked = _response_validator(action.op, status)
        if validator is None:
            return Reply(status, body)
        if validator.is_valid(body):
            return Reply(status, body, checked=json_checked)
        prefix = pointer_of(path) + "/"
        names = [
            v.pointer[len(prefix) :].split("/")[0]
            for v in validator.violations(body)
            if v.pointer.startswith(prefix)
        ]
        fitted = _repaired(record, names, schema, self._generated_for(schema, _id(action, record)))
        if isinstance(body, list):
            return Reply(status, [fitted])
        _put(body, path, fitted)
        return Reply(status, body)

    def _fit(self, action: Action, status: int, schema: Any, record: Record) -> tuple[Record, bool]:
        """``record`` as the response schema admits it: where the schema is a choice of closed
        objects (``oneOf`` versions), the fields of the first alternative that it fits, with
        the alternative's required fields the record lacks generated. And whether ``record``
        was found to fit the JSON response as it is (``Reply.checked``)."""
        validator, json_checked = _response_validator(action.op, status)
        if validator is None:
            return record, False
        if validator.is_valid(record):
            return record, json_checked
        if not isinstance(schema, dict):
            return record, False
        for branch in [*(schema.get("oneOf") or []), *(schema.get("anyOf") or []), schema]:
            names = _properties(branch)
            closed = isinstance(branch, dict) and branch.get("additionalProperties") is False
            candidate = {k: v for k, v in record.items() if k in names or not closed}
            base = self._generated_for(branch, record.get(action.resource.id_field))
            for name in (branch.get("required") or []) if isinstance(branch, dict) else []:
                if name not in candidate and name in base:
                    candidate[name] = base[name]
            if validator.is_valid(candidate):
                return candidate, False
        # A value the request schema admitted but the response schema does not (a weaker
        # request schema): the response's own generated value takes its place.
        wrong = [v.pointer.split("/")[1] for v in validator.violations(record) if v.pointer]
        base = self._generated_for(schema, _id(action, record))
        return _repaired(record, wrong, schema, base), False

    def _generated_for(self, schema: Any, key: Any) -> Record:
        try:
            value = generate(schema, seed=zlib.crc32(str(key).encode()))
        except (GenerationError, RecursionError):
            return {}
        return value if isinstance(value, dict) else {}

    def _envelope(self, action: Action, status: int, schema: Any, path: list[str]) -> Record:
        seed = zlib.crc32(f"{self.seed}/{action.op.operation_id}/{status}".encode())
        try:
            value = generate(schema, seed=seed)
        except (GenerationError, RecursionError):
            value = {}
        return value if isinstance(value, dict) else {}

    def _list_reply(
        self, action: Action, call: Call, records: list[Record], page: Page, links: str | None
    ) -> Reply:
        status = _status(action.op, (200,))
        schema = _response_schema(action.op, status)
        rendered = [_rendered(action.resource, r) for r in page.records]
        headers = {"Link": links} if links and _declares_header(action.op, status, "link") else {}
        path = list_path(schema) if schema is not None else []
        if not path:
            return Reply(status, rendered, headers)
        envelope = self._envelope(action, status, schema, path)
        _put(envelope, path, rendered)
        validator, _ = _response_validator(action.op, status)
        # No next page: null where the schema admits it, else an empty string.
        for last in (None, ""):
            filled = orjson.loads(orjson.dumps(envelope))
            _fill_paging(filled, page, len(records), path[0], last)
            if validator is None or validator.is_valid(filled):
                return Reply(status, filled, headers)
        return Reply(status, envelope, headers)


@dataclass
class Page:
    records: list[Record]
    next_cursor: str | None
    has_more: bool


def _bind(handler: Callable[[Action, Call], Reply], action: Action) -> Behaviour:
    return functools.partial(handler, action)  # no Python frame of its own per call


def _response_validator(op: Operation, status: int) -> tuple[Validator | None, bool]:
    """The validator of the first media type of ``op``'s response for ``status`` (None when
    it has none), and whether that is its JSON one (what a valid body's ``Reply.checked``
    may then say)."""
    response = op.response_for(status)
    if response is None:
        return None, False
    validator = next(iter(response.media_types.values()), None)
    return validator, validator is not None and response.media_types.get(JSON) is validator


def _repaired(record: Record, names: Sequence[str], schema: Any, base: Record) -> Record:
    """``record`` with each field ``names`` lists (those a response check found wrong) taken
    from ``base`` (the response schema's generated value), else left out where optional."""
    required = (schema.get("required") or ()) if isinstance(schema, dict) else ()
    fitted = dict(record)
    for name in names:
        if name in base:
            fitted[name] = base[name]
        elif name in fitted and name not in required:
            del fitted[name]  # optional (or not admitted at all): left out
    return fitted


def _id(action: Action, record: Record) -> Any:
    return record.get(action.resource.id_field)


def _record_names(resource: Resource, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with request names mapped onto the record's (``FriendlyName`` is Twilio's
    request name of ``friendly_name``): equal but for case and underscores."""
    properties, folded = resource.shape.properties, resource.shape.folded
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = key if key in properties else folded.get(key.replace("_", "").lower(), key)
        out[name] = value
    return out


def _key(value: Any) -> str:
    return str(value).lower() if isinstance(value, str) else str(value)


def _deleted(resource: Resource, record: Record) -> bool:
    return bool(resource.soft_delete and record.get(resource.soft_delete))


def _server_owned(resource: Resource) -> list[str]:
    properties = resource.shape.properties
    owned = [resource.id_field, *(n for n in properties if n in _CREATED)]
    owned += [n for n, s in properties.items() if isinstance(s, dict) and s.get("readOnly")]
    return owned


def _status(op: Operation, preferred: Sequence[int]) -> int:
    for status in preferred:
        if str(status) in op.responses:
            return status
    numeric = sorted(int(s) for s in op.responses if s.isdigit() and s.startswith("2"))
    return numeric[0] if numeric else preferred[0]


def _has_body(action: Action, status: int) -> bool:
    response = action.op.response_for(status)
    return bool(response and response.media_types)


def _response_schema(op: Operation, status: int) -> Any:
    response = op.response_for(status)
    if response is None:
        return None
    for media_type, validator in response.media_types.items():
        if "json" in media_type or media_type == "*/*":
            return validator.schema
    return None


def _declares_header(op: Operation, status: int, name: str) -> bool:
    response = op.response_for(status)
    return bool(response and name in response.headers)


def _rendered(resource: Resource, record: Record) -> Record:
    shape = resource.shape
    properties, hidden, closed = shape.properties, shape.hidden, shape.closed
    if not hidden and not closed:
        return dict(record)
    return {k: v for k, v in record.items() if k not in hidden and (not closed or k in properties)}


def _put(envelope: Record, path: Sequence[str], value: Any) -> None:
    node = envelope
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _query_fields(action: Action) -> dict[str, str]:
    """Query parameters that filter by a record field, and that field."""
    resource = action.resource
    properties = resource.shape.properties
    fields = dict(resource.filters)
    paging = {*_CURSOR_PARAMS, *_PAGE_PARAMS, *_OFFSET_PARAMS, *_LIMIT_PARAMS, *_SORT_PARAMS,
              *_ORDER_PARAMS, "include_deleted"}  # fmt: skip
    for param in action.op.parameters:
        if param.location == "query" and param.name in properties and param.name not in paging:
            fields.setdefault(param.name, param.name)
    return fields


def _matches(action: Action, record: Record, query: Mapping[str, Any]) -> bool:
    for param, name in _query_fields(action).items():
        if param not in query:
            continue
        wanted = query[param]
        options = wanted if isinstance(wanted, list) else [wanted]
        value = record.get(name)
        values = value if isinstance(value, list) else [value]
        if not any(_same(v, o) for v in values for o in options):
            return False
    return True


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        return value.lower() == wanted.lower() if _looks_like_id(value) else value == wanted
    return bool(value == wanted) or str(value) == str(wanted)


def _looks_like_id(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


def _sorted(action: Action, records: list[Record], query: Mapping[str, Any]) -> list[Record]:
    key = next((query[p] for p in _SORT_PARAMS if isinstance(query.get(p), str)), None)
    if not key:
        return records
    descending = key.startswith("-")
    key = key.lstrip("-+")
    allowed = action.resource.sort_keys or tuple(action.resource.shape.properties)
    if key not in allowed:
        raise BadRequest(
            Problem(
                f"cannot sort by {key!r}; sort by one of: {', '.join(allowed)}.",
                {"location": "query", "pointer": "/sort", "keyword": "enum"},
            )
        )
    order = next((str(query[p]) for p in _ORDER_PARAMS if p in query), "")
    descending = descending or order.lower() in ("desc", "descending")
    present = [r for r in records if r.get(key) is not None]
    missing = [r for r in records if r.get(key) is None]
    present.sort(key=lambda r: _sort_value(r[key]), reverse=descending)
    return present + missing


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, orjson.dumps(value) if not isinstance(value, str) else value)


def _page(
    action: Action, records: list[Record], query: Mapping[str, Any]
) -> tuple[Page, str | None]:
    names = {p.name for p in action.op.parameters if p.location == "query"}
    style = _ext(action.op, "pagination")
    style = style.get("style") if isinstance(style, dict) else style
    limit_name = next((n for n in _LIMIT_PARAMS if n in names), None)
    limit = query.get(limit_name) if limit_name else None
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
    start = 0
    cursor_name = next((n for n in _CURSOR_PARAMS if n in names), None)
    page_name = next((n for n in _PAGE_PARAMS if n in names), None)
    offset_name = next((n for n in _OFFSET_PARAMS if n in names), None)
    if style == "cursor" or (style is None and cursor_name):
        token = query.get(cursor_name or "cursor")
        if isinstance(token, str) and token:
            start = _decode_cursor(token, cursor_name or "cursor")
    elif style == "page" or (style is None and page_name):
        number = query.get(page_name or "page")
        first = 0 if any(
            isinstance(p.schema, dict) and p.schema.get("minimum") == 0
            for p in action.op.parameters if p.name == page_name
        ) else 1  # fmt: skip
        if isinstance(number, int) and limit:
            start = max(number - first, 0) * limit
    elif style == "offset" or (style is None and offset_name):
        offset = query.get(offset_name or "offset")
        start = offset if isinstance(offset, int) and offset > 0 else 0
    end = start + limit if limit else len(records)
    page_records = records[start:end]
    more = end < len(records)
    next_cursor = _encode_cursor(end) if more else None
    links = None
    if more and limit:
        if cursor_name:
            links = f'<?{cursor_name}={next_cursor}&{limit_name}={limit}>; rel="next"'
        elif page_name:
            links = f'<?{page_name}={end // limit + 1}&{limit_name}={limit}>; rel="next"'
        elif offset_name:
            links = f'<?{offset_name}={end}&{limit_name}={limit}>; rel="next"'
    return Page(page_records, next_cursor, more), links


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(token: str, name: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise BadRequest(
        Problem(
            f"{name} {token!r} is not a cursor this sandbox handed out; pass the cursor of the "
            "previous page unchanged, or leave it out for the first page.",
            {"location": "query", "pointer": f"/{name}", "keyword": "cursor"},
        )
    )


def _fill_paging(node: Any, page: Page, total: int, skip: str, last: str | None) -> None:
    """Set the envelope's paging fields (next cursor, has-more, total) wherever they sit."""
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        if key == skip:
            continue
        if key in _NEXT_NAMES and (isinstance(value, str) or value is None):
            node[key] = page.next_cursor if page.next_cursor is not None else last
        elif key in _MORE_NAMES and isinstance(value, bool):
            node[key] = page.has_more
        elif key in _TOTAL_NAMES and isinstance(value, int) and not isinstance(value, bool):
            node[key] = total
        elif isinstance(value, dict):
            _fill_paging(value, page, total, "", last)


# --- fixture file -----------------------------------------------------------------------------

#: The fixture file of inferred resources in a ``--fixtures`` directory.
RESOURCES_FILE = "resources.yaml"


def parse_scope_key(key: str) -> tuple[str, dict[str, str]]:
    """``"things businessId=b1"`` -> ``("things", {"businessId": "b1"})`` (``scope_key``'s form)."""
    name, *pairs = key.split(" ")
    scope = {}
    for pair in pairs:
        param, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"{key!r}: {pair!r} is not PARAM=VALUE")
        scope[param] = value
    return name, scope


def resource_violations(resource: Resource, record: Any) -> list[str]:
    """What is wrong with ``record`` as a stored record of ``resource`` (its schema, its id)."""
    if not isinstance(record, dict):
        return ["/: a record is an object"]
    if record.get(resource.id_field) in (None, ""):
        return [f"/{resource.id_field}: the record has no id"]
    if not isinstance(resource.record_schema, dict) or not resource.record_schema:
        return []
    try:
        found = Validator(resource.record_schema).violations(record)
    except Exception:  # a schema cut out of its document (a dangling $ref)
        return []
    return [f"{v.pointer or '/'}: {v.message}" for v in found]


def load_resource_fixtures(resources: Resources, path: Path) -> int:
    """Seed ``path`` (``{"<resource> <scope>": [record, ...]}``) as stored records, ids kept.

    Raises ``FixtureError`` naming the key, the record and what is wrong. Returns the count.
    """
    if not path.exists():
        return 0
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except Exception as exc:  # YAML and decoding errors alike
        raise FixtureError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FixtureError(f"{path}: a mapping of '<resource> <scope>' to lists of records")
    by_name = {a.resource.name: a.resource for a in resources.actions.values()}
    count = 0
    for key, records in data.items():
        try:
            name, scope = parse_scope_key(str(key))
        except ValueError as exc:
            raise FixtureError(f"{path}: {exc}") from None
        resource = by_name.get(name)
        if resource is None:
            raise FixtureError(
                f"{path}: {name!r} is not a resource of the document; known: "
                f"{', '.join(sorted(by_name)) or 'none'}"
            )
        if set(scope) != set(resource.scope):
            raise FixtureError(
                f"{path}: {key!r}: give the scope {' '.join(f'{p}=...' for p in resource.scope)}"
            )
        if not isinstance(records, list):
            raise FixtureError(f"{path}: {key!r}: a list of records")
        stored = resources.store.resources.setdefault(resource.scope_key(scope), {})
        for i, record in enumerate(records):
            problems = resource_violations(resource, record)
            if problems:
                raise FixtureError(f"{path}: {key!r} record {i}: {problems[0]}")
            stored[_key(record[resource.id_field])] = dict(record)
            if resource.id_type == "integer" and isinstance(record[resource.id_field], int):
                counter = resources._counters.get(resource.name, 0)
                resources._counters[resource.name] = max(counter, record[resource.id_field])
            count += 1
    return count
