"""``mockserver proxy --record DIR``: the records the upstream returned, as fixture files.

For Layer's document, each record the upstream answered (a customer, an invoice, a credit, ...)
is turned back into its fixture shape (``layer/recorded.py``), cut down to its fixture schema in
``openapi/sandbox.yaml`` and written to the fixture file of its collection (``customers.yaml``,
``invoices.yaml``, ...); ``businesses.yaml`` gains every business a record belongs to.
For any other document, records of the inferred resources (``engine/resources.py``) go to
``resources.yaml``, keyed by resource and scope, which ``mockserver serve --fixtures DIR`` loads.

Ids are kept; fields named like a secret (token, secret, password, api key) are left out. Every
record is validated before it is written: a Layer record by loading the whole directory into a
scratch store through the fixture rules (schema, references, business rules), a resource record
against its schema. A Layer record that does not load yet (its invoice is not recorded) waits in
memory and is tried again with every answer; a resource record that does not pass is skipped.
Both are logged. Files already in ``DIR`` are merged by id: a record seen again replaces the
one kept (a customer, vendor or account seen only embedded never replaces a full one), nothing
is duplicated.
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
from ..layer.fixtures import (
    FIXTURE_FILES,
    RECORD_SCHEMAS,
    SEED_DEFAULTS,
    read_fixtures,
    seed_record,
)
from ..layer.recorded import chart_accounts, to_fixture

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
    ("ledger/accounts", "ledger_accounts"),
    ("ledger/chart", "ledger_accounts"),
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
        #: Records that did not load yet (fixture file, id) -> record; tried with every answer.
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}

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
        if op.path.endswith("/ledger/chart"):
            items = chart_accounts(data.get("accounts") if isinstance(data, dict) else None)
        else:
            items = data if isinstance(data, list) else [data]
        records: list[tuple[str, dict[str, Any]]] = []
        embedded: list[tuple[str, dict[str, Any]]] = []
        for item in items:
            if not isinstance(item, dict) or "id" not in item:
                continue
            record, inner = to_fixture(collection, without_secrets(item), business_id)
            if record is None:
                self.skipped += 1
                log.warning("not recorded (%s): the answer is not in the expected shape", op.path)
                continue
            records.append((collection, record))
            embedded += inner
        if not records:
            return 0
        return self._write_layer(business_id, records, embedded)

    def _write_layer(
        self,
        business_id: str,
        new: list[tuple[str, dict[str, Any]]],
        embedded: list[tuple[str, dict[str, Any]]],
    ) -> int:
        files = read_fixtures(self.directory)
        before = {filename: list(records) for filename, records in files.items()}
        by_file = {c: f for f, (_, c) in FIXTURE_FILES.items()}
        businesses = files["businesses.yaml"]
        if not any(b.get("id") == business_id for b in businesses):
            businesses.append({"id": business_id, "legal_name": f"Business {business_id}"})
        indexes = {
            filename: {r.get("id"): i for i, r in enumerate(records) if isinstance(r, dict)}
            for filename, records in files.items()
        }

        def put(collection: str, record: dict[str, Any], *, partial: bool) -> None:
            filename = by_file[collection]
            kept, index = files[filename], indexes[filename]
            record = project(record, _schema(collection), self.schema_document)
            if record["id"] in index:
                old = kept[index[record["id"]]]
                # An embedded copy never overrides what is known; a full answer replaces the
                # record (a customer, vendor or account keeps fields the answer does not
                # carry, such as a chart entry's times).
                if partial:
                    record = {**record, **old}
                elif collection in _MERGED:
                    record = {**old, **record}
                kept[index[record["id"]]] = record
            else:
                index[record["id"]] = len(kept)
                kept.append({**SEED_DEFAULTS.get(collection, {}), **record})

        for collection, record in embedded:
            put(collection, record, partial=True)
        for collection, record in new:
            put(collection, record, partial=False)
        for (filename, ident), record in list(self.pending.items()):
            if ident not in indexes[filename]:
                indexes[filename][ident] = len(files[filename])
                files[filename].append(record)
        files["ledger_accounts.yaml"] = _parents_first(files["ledger_accounts.yaml"])
        # Validated as `serve --fixtures` will load them: a scratch store, in load order.
        store = Store(ids=IdFactory(0))
        valid: dict[str, list[Any]] = {}
        new_ids = {(by_file[c], r["id"]) for c, r in new}
        written = 0
        for filename, (_, name) in FIXTURE_FILES.items():
            valid[filename] = []
            for record in files[filename]:
                key = (filename, record.get("id") if isinstance(record, dict) else None)
                try:
                    seed_record(store, name, record, self.schema_document)
                except FixtureError as exc:
                    # Kept in memory and tried again with every later answer: an invoice
                    # seen before its customer is written once the customer is.
                    if key not in self.pending:
                        self.skipped += 1
                        log.warning("not recorded yet (%s): %s", filename, exc)
                    if isinstance(record, dict) and "id" in record:
                        self.pending[key] = record  # type: ignore[index]
                    continue
                self.pending.pop(key, None)  # type: ignore[arg-type]
                valid[filename].append(record)
                written += key in new_ids
        for filename, records in valid.items():
            if records != before[filename]:  # files an answer did not change stay as they are
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


#: Collections whose records also come in part (embedded in other answers, chart entries):
#: a full answer is merged over what is kept rather than replacing it.
_MERGED = ("customers", "vendors", "ledger_accounts")


def _schema(collection: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{RECORD_SCHEMAS[collection]}"}


def _parents_first(accounts: list[Any]) -> list[Any]:
    """Ledger accounts reordered so that each parent comes before its sub-accounts (a fixture
    account nests only under an earlier one); otherwise in the order kept."""
    ids = {a.get("id") for a in accounts if isinstance(a, dict)}
    placed: set[Any] = set()
    out: list[Any] = []
    waiting = list(accounts)
    while waiting:
        rest = []
        for account in waiting:
            parent = account.get("parent_id") if isinstance(account, dict) else None
            if parent is None or parent in placed or parent not in ids:
                out.append(account)
                placed.add(account.get("id") if isinstance(account, dict) else None)
            else:
                rest.append(account)
        if len(rest) == len(waiting):  # a cycle: left as it is, loading will say why
            out += rest
            break
        waiting = rest
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


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available


def _write_yaml(path: Path, data: Any, header: str = "") -> None:
    """Atomically: a temporary file beside ``path``, then ``os.replace``."""
    text = header + yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
