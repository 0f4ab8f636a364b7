"""``mockserver proxy --record DIR``: the records the upstream returned, as fixture files.

For Layer's document, each record the upstream answered (a customer, an invoice, a credit, ...)
is cut down to its fixture schema in ``openapi/sandbox.yaml`` and written to the fixture file of
its collection (``customers.yaml``, ``invoices.yaml``, ...); ``businesses.yaml`` gains every
business a record belongs to. For any other document, records of the inferred resources
(``engine/resources.py``) go to ``resources.yaml``, keyed by resource and scope, which
``mockserver serve --fixtures DIR`` loads.

Ids are kept; fields named like a secret (token, secret, password, api key) are left out. Every
record is validated before it is written: a Layer record by loading the whole directory into a
scratch store through the fixture rules (schema, references, business rules), a resource record
against its schema. A record that does not pass is skipped and logged. Files already in ``DIR``
are merged by id: a record seen again replaces the one kept, nothing is duplicated.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..engine.document import load_yaml
from ..engine.resources import (
    RESOURCES_FILE,
    Action,
    list_path,
    record_path,
    resource_violations,
)
from ..engine.spec import Operation
from ..engine.store import IdFactory, Store
from ..errors import FixtureError
from ..layer.fixtures import FIXTURE_FILES, RECORD_SCHEMAS, read_fixtures, seed_record

if TYPE_CHECKING:
    from ..serving.app import Sandbox

log = logging.getLogger("mockserver.record")
_SECRET = re.compile(r"token|secret|password|passwd|api[-_]?key|apikey", re.I)
#: Layer's path templates (after /v1/businesses/{businessId}/) -> fixture collection.
_LAYER_COLLECTIONS = (
    ("invoices/customer-credits", "customer_credits"),
    ("bills/vendor-credits", "vendor_credits"),
    ("invoices/payments", "invoice_payments"),
    ("bills/bill-payments", "bill_payments"),
    ("customers", "customers"),
    ("vendors", "vendors"),
    ("invoices", "invoices"),
    ("bills", "bills"),
)
_LAYER_PREFIX = "/v1/businesses/{businessId}/"


def without_secrets(value: Any) -> Any:
    """``value`` with every object field named like a secret left out, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if not _SECRET.search(str(k))}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def project(value: Any, schema: Any, document: Mapping[str, Any]) -> Any:
    """``value`` cut down to what ``schema`` admits where it is closed (no extra properties)."""
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node
    if not isinstance(schema, dict):
        return value
    if isinstance(value, list):
        return [project(v, schema.get("items"), document) for v in value]
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties") or {}
    closed = schema.get("additionalProperties") is False
    return {
        k: project(v, properties.get(k), document)
        for k, v in value.items()
        if not closed or k in properties
    }


class Recorder:
    """Collects records from upstream answers and writes them to ``directory`` as they come."""

    def __init__(self, sandbox: Sandbox, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.layer = sandbox.layer_errors
        self.schema_document = sandbox.control_spec.document
        self.actions: Mapping[str, Action] = sandbox.resources.actions
        self.skipped = 0

    def observe(self, op: Operation, path: Mapping[str, str], status: int, body: Any) -> int:
        """Record what a checked 2xx answer to ``op`` holds; how many records were written."""
        if not 200 <= status < 300 or not isinstance(body, dict | list):
            return 0
        if self.layer:
            return self._layer(op, path, body)
        return self._resource(op, path, body)

    # --- Layer's fixture files -------------------------------------------------------------

    def _layer(self, op: Operation, path: Mapping[str, str], body: Any) -> int:
        collection = layer_collection(op.path)
        business_id = path.get("businessId")
        data = body.get("data") if isinstance(body, dict) else None
        if collection is None or business_id is None or data is None:
            return 0
        items = data if isinstance(data, list) else [data]
        schema = {"$ref": f"#/components/schemas/{RECORD_SCHEMAS[collection]}"}
        records = [
            {
                **project(without_secrets(item), schema, self.schema_document),
                "business_id": business_id,
            }
            for item in items
            if isinstance(item, dict) and "id" in item
        ]
        if not records:
            return 0
        return self._write_layer(collection, business_id, records)

    def _write_layer(self, collection: str, business_id: str, new: list[dict[str, Any]]) -> int:
        files = read_fixtures(self.directory)
        by_file = {c: f for f, (_, c) in FIXTURE_FILES.items()}
        businesses = files["businesses.yaml"]
        if not any(b.get("id") == business_id for b in businesses):
            businesses.append({"id": business_id, "legal_name": f"Business {business_id}"})
        kept = files[by_file[collection]]
        index = {r.get("id"): i for i, r in enumerate(kept) if isinstance(r, dict)}
        for record in new:
            if record["id"] in index:
                kept[index[record["id"]]] = record
            else:
                index[record["id"]] = len(kept)
                kept.append(record)
        # Validated as `serve --fixtures` will load them: a scratch store, in load order.
        store = Store(ids=IdFactory(0))
        valid: dict[str, list[Any]] = {}
        new_ids = {r["id"] for r in new}
        written = 0
        for filename, (_, name) in FIXTURE_FILES.items():
            valid[filename] = []
            for record in files[filename]:
                try:
                    seed_record(store, name, record, self.schema_document)
                except FixtureError as exc:
                    self.skipped += 1
                    log.warning("not recorded (%s): %s", filename, exc)
                    continue
                valid[filename].append(record)
                written += name == collection and record.get("id") in new_ids
        for filename, records in valid.items():
            if records or (self.directory / filename).exists():
                _write_yaml(self.directory / filename, records, _header(filename))
        return written

    # --- any document: resources.yaml ------------------------------------------------------

    def _resource(self, op: Operation, path: Mapping[str, str], body: Any) -> int:
        action = self.actions.get(op.operation_id)
        if action is None or action.kind == "delete":
            return 0
        response = op.response_for(200) or op.response_for(201)
        schema = None
        if response is not None:
            validator = next(iter(response.media_types.values()), None)
            schema = validator.schema if validator is not None else None
        if action.kind == "list":
            where = list_path(schema) if schema is not None else []
            node: Any = body
            for key in where or []:
                node = node.get(key) if isinstance(node, dict) else None
            items = node if isinstance(node, list) else []
        else:
            node = body
            for key in record_path(schema) if schema is not None else []:
                node = node.get(key) if isinstance(node, dict) else None
            items = [node]
        resource = action.resource
        records = [
            without_secrets(item)
            for item in items
            if isinstance(item, dict) and resource.id_field in item
        ]
        if not records:
            return 0
        key = resource.scope_key(path)
        target = self.directory / RESOURCES_FILE
        data = (load_yaml(target.read_text(encoding="utf-8")) if target.exists() else None) or {}
        kept: list[Any] = list(data.get(key) or [])
        index = {
            str(r.get(resource.id_field)): i for i, r in enumerate(kept) if isinstance(r, dict)
        }
        written = 0
        for record in records:
            problems = resource_violations(resource, record)
            if problems:
                self.skipped += 1
                log.warning(
                    "not recorded (%s %s): %s", key, record.get(resource.id_field), problems[0]
                )
                continue
            ident = str(record[resource.id_field])
            if ident in index:
                kept[index[ident]] = record
            else:
                index[ident] = len(kept)
                kept.append(record)
            written += 1
        if written:
            data[key] = kept
            _write_yaml(target, data, _RESOURCES_HEADER)
        return written


def _ids_of_parties(item: dict[str, Any]) -> dict[str, Any]:
    """A response names its counterparty as an object (``customer: {id, ...}``); a fixture by
    id (``customer_id``)."""
    out = dict(item)
    for name in ("customer", "vendor"):
        party = item.get(name)
        if isinstance(party, dict) and "id" in party and f"{name}_id" not in out:
            out[f"{name}_id"] = party["id"]
    return out


def layer_collection(template: str) -> str | None:
    """The fixture collection a Layer path template's records belong to."""
    if not template.startswith(_LAYER_PREFIX):
        return None
    rest = template[len(_LAYER_PREFIX) :]
    for prefix, collection in _LAYER_COLLECTIONS:
        if rest == prefix or rest.startswith(prefix + "/"):
            return collection
    return None


_RESOURCES_HEADER = (
    "# Records of the document's inferred resources, by '<resource> <scope>' (the resource's\n"
    "# path parameters as PARAM=VALUE), recorded by `mockserver proxy --record`; ids kept,\n"
    "# secrets left out, each record checked against its schema. Loaded by --fixtures DIR.\n"
)


def _header(filename: str) -> str:
    schema = FIXTURE_FILES[filename][0]
    return (
        f"# Recorded by `mockserver proxy --record` from the upstream's answers; ids kept,\n"
        f"# secrets left out. Each record is validated by the `{schema}` schema in\n"
        f"# openapi/sandbox.yaml (components/schemas/{schema}).\n"
    )


def _write_yaml(path: Path, data: Any, header: str = "") -> None:
    """Atomically: a temporary file beside ``path``, then ``os.replace``."""
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
