"""The control API over the resources the engine inferred from the document (any document):
what they are, their records, and seeding records without the public API."""

from __future__ import annotations

from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.resources import Resource, Resources, parse_scope_key, resource_violations
from ..errors import BadRequest, NotFound, Problem


def resource_table(resources: Resources) -> dict[str, Resource]:
    """Each inferred resource by name."""
    return {a.resource.name: a.resource for a in resources.actions.values()}


def records_of(resources: Resources, name: str) -> list[dict[str, Any]]:
    """Every stored record of resource ``name``, with the scope it lives in."""
    out = []
    with resources.store.lock:
        for key, records in resources.store.resources.items():
            found, scope = parse_scope_key(key)
            if found == name:
                out += [{"scope": scope, "record": record} for record in records.values()]
    return out


def behaviours(resources: Resources) -> dict[str, Behaviour]:
    def find(call: Call) -> Resource:
        name = call.path["resource"]
        table = resource_table(resources)
        if name not in table:
            raise NotFound(
                Problem(
                    f"No resource {name!r} was inferred from the document; GET "
                    f"/_sandbox/resources lists them: {', '.join(sorted(table)) or 'none'}.",
                    {"location": "path", "pointer": "/resource", "keyword": "enum"},
                )
            )
        return table[name]

    def listed(call: Call) -> Reply:
        by_action: dict[str, dict[str, str]] = {}
        for operation_id, action in resources.actions.items():
            by_action.setdefault(action.resource.name, {})[action.kind] = operation_id
        data = [
            {
                "name": resource.name,
                "collection": resource.collection,
                "scope": list(resource.scope),
                "id_field": resource.id_field,
                "operations": by_action.get(name, {}),
                "count": len(records_of(resources, name)),
            }
            for name, resource in sorted(resource_table(resources).items())
        ]
        return Reply(200, {"data": data})

    def records(call: Call) -> Reply:
        resource = find(call)
        return Reply(200, {"data": records_of(resources, resource.name)})

    def seed(call: Call) -> Reply:
        resource = find(call)
        scope = call.body.get("scope") or {}
        missing = [p for p in resource.scope if p not in scope]
        problems = [
            Problem(
                f"scope needs {p!r}, the path parameter of {resource.collection} the record "
                "lives under.",
                {"location": "body", "pointer": f"/scope/{p}", "keyword": "required"},
            )
            for p in missing
        ]
        if problems:
            raise BadRequest(problems)
        record = dict(call.body["record"])
        if record.get(resource.id_field) in (None, ""):
            record[resource.id_field] = resources.new_record(resource, record, scope)[
                resource.id_field
            ]
        stored = resources.new_record(resource, record, scope)
        violations = resource_violations(resource, stored)
        if violations:
            raise BadRequest(
                [
                    Problem(
                        f"record {v}; send a record the document's schema admits.",
                        {
                            "location": "body",
                            "pointer": "/record" + v.split(":", 1)[0].rstrip("/"),
                            "keyword": "schema",
                        },
                    )
                    for v in violations
                ]
            )
        seeded = resources.seed_record(resource, stored, scope)
        return Reply(201, {"data": {"scope": scope, "record": seeded}})

    return {
        "sandbox.resources.get": listed,
        "sandbox.resources.records.get": records,
        "sandbox.resources.records.post": seed,
    }
