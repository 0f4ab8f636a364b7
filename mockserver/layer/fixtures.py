"""Loading fixture files into a ``Store``, validated against their schemas and cross-references.

A bad fixture stops start-up with a ``FixtureError`` naming the file, the record and the JSON
Pointer. Fixture credits go through the same rules as credits created over HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..engine.schemas import parse_date_time
from ..engine.spec import component_validator, load_yaml
from ..engine.store import UNIQUE_FIELDS, IdFactory, Record, Store, format_time
from ..errors import FixtureError, SandboxError
from .balances import settle
from .credits import compose, soft_delete, store_credit
from .documents import compose as compose_document
from .documents import store_document
from .kinds import DOCUMENT_KINDS, KINDS, CreditKind, DocumentKind
from .payments import compose_payment, store_payment
from .render import tag_definition_id
from .tags import store_dimension

#: Fixture file -> (record schema in the control document, store collection), in load order.
FIXTURE_FILES: dict[str, tuple[str, str]] = {
    "businesses.yaml": ("Business", "businesses"),
    "ledger_accounts.yaml": ("LedgerAccount", "ledger_accounts"),
    "tag_dimensions.yaml": ("TagDimension", "tag_dimensions"),
    "customers.yaml": ("Customer", "customers"),
    "vendors.yaml": ("Vendor", "vendors"),
    "invoices.yaml": ("Invoice", "invoices"),
    "bills.yaml": ("Bill", "bills"),
    "invoice_payments.yaml": ("InvoicePaymentFixture", "invoice_payments"),
    "bill_payments.yaml": ("BillPaymentFixture", "bill_payments"),
    "customer_credits.yaml": ("CustomerCreditFixture", "customer_credits"),
    "vendor_credits.yaml": ("VendorCreditFixture", "vendor_credits"),
}
_KINDS = {kind.collection: kind for kind in KINDS}
#: Store collection -> its record schema in the control document.
RECORD_SCHEMAS = {collection: schema for schema, collection in FIXTURE_FILES.values()}
_DOCUMENTS = {kind.collection: kind for kind in DOCUMENT_KINDS}
_PAYMENTS = {kind.payments: kind for kind in DOCUMENT_KINDS}
_TIME_FIELDS = (
    "sent_at",
    "received_at",
    "due_at",
    "created_at",
    "updated_at",
    "deleted_at",
    "voided_at",
    "at",
)
#: A customer or vendor seeded without times gets this one: fixed, so fixtures never vary.
_FIXTURE_TIME = "2024-01-01T00:00:00Z"
_REFERENCES = {  # collection -> (field, collection it names)
    "invoices": ("customer_id", "customers"),
    "bills": ("vendor_id", "vendors"),
}
#: Values a seeded record gets when they are not given (besides id, business_id and nulls);
#: an invoice's or bill's status and balance are derived, never given.
SEED_DEFAULTS: dict[str, dict[str, Any]] = {
    "customers": {"status": "ACTIVE"},
    "vendors": {"status": "ACTIVE"},
    "tag_dimensions": {"strictness": "NON_BALANCING"},
}
#: Supporting collections that ``/_sandbox/records`` reads, changes and deletes as stored;
#: invoices, bills and payments carry derived balances and change through the API only.
SUPPORTING = ("businesses", "ledger_accounts", "customers", "vendors")


def read_fixtures(directory: str | Path) -> dict[str, list[Record]]:
    """Every fixture file in ``directory`` as lists of records; missing files are empty."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FixtureError(f"{directory}: the fixtures directory does not exist")
    out: dict[str, list[Record]] = {}
    for filename in FIXTURE_FILES:
        path = directory / filename
        if not path.exists():
            out[filename] = []
            continue
        try:
            records = load_yaml(path.read_text(encoding="utf-8")) or []
        except yaml.YAMLError as exc:
            raise FixtureError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(records, list):
            raise FixtureError(f"{path}: a fixture file must hold a list of records")
        out[filename] = records
    return out


def load_fixtures(store: Store, directory: str | Path, schema_document: Mapping[str, Any]) -> None:
    """Validate every fixture in ``directory`` and add it to ``store``; then mark it pristine."""
    directory = Path(directory)
    files = read_fixtures(directory)
    for filename, (_, collection) in FIXTURE_FILES.items():
        path = directory / filename
        for i, record in enumerate(files[filename]):
            where = f"{path}: record {i}{_id_suffix(record)}"
            seed_record(store, collection, record, schema_document, where=where)
    store.mark_pristine()


def seed_record(
    store: Store,
    collection: str,
    record: Any,
    schema_document: Mapping[str, Any],
    *,
    where: str | None = None,
) -> Record:
    """Validate ``record`` exactly as a fixture of ``collection`` and add it to ``store``.

    ``collection`` is a store collection (``customers``, ``invoices``, ``customer_credits``, ...).
    Raises ``FixtureError`` naming the record and the JSON Pointer of the field to fix. Returns
    the record as stored (times normalised).
    """
    if collection not in RECORD_SCHEMAS:
        raise FixtureError(
            f"{collection!r} is not a fixture collection; use one of: {', '.join(RECORD_SCHEMAS)}"
        )
    if where is None:
        where = f"{collection} record{_id_suffix(record)}"
    validator = component_validator(schema_document, RECORD_SCHEMAS[collection])
    for violation in validator.violations(record):
        raise FixtureError(
            f"{where}: {violation.pointer or '/'}: {violation.message}", violation.pointer
        )
    if _id_taken(store, collection, record["id"]):
        raise FixtureError(f"{where}: /id: the id is used by an earlier record", "/id")
    normalised = _normalise_times(record)
    with store.quiet():  # seeding is not a change subscribers hear about
        if collection == "businesses":
            store.add_business(normalised)
        elif collection in _KINDS:
            _add_credit(store, _KINDS[collection], normalised, where)
        elif collection in _DOCUMENTS:
            return _add_document(store, _DOCUMENTS[collection], normalised, where)
        elif collection in _PAYMENTS:
            return _add_payment(store, _PAYMENTS[collection], normalised, where)
        elif collection == "tag_dimensions":
            return _add_dimension(store, normalised, where)
        else:
            _check_references(store, collection, normalised, where)
            if collection in ("customers", "vendors", "ledger_accounts"):
                normalised.setdefault("created_at", _FIXTURE_TIME)
                normalised.setdefault("updated_at", normalised["created_at"])
            if collection == "ledger_accounts":
                _check_parent(store, normalised, where)
            store.add_record(collection, normalised)
    return normalised


def _id_suffix(record: Any) -> str:
    return f" (id {record['id']})" if isinstance(record, dict) and "id" in record else ""


def _id_taken(store: Store, collection: str, record_id: str) -> bool:
    if collection == "businesses":
        return record_id in store.businesses
    return any(record_id in business[collection] for business in store.businesses.values())


def _normalise_times(record: Record) -> Record:
    out = dict(record)
    for name in _TIME_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = format_time(parse_date_time(out[name]))  # type: ignore[arg-type]
    return out


def _business_of(store: Store, record: Mapping[str, Any], where: str) -> Record:
    business = store.business(record["business_id"])
    if business is None:
        raise FixtureError(
            f"{where}: /business_id: no business {record['business_id']}", "/business_id"
        )
    return business


def _check_references(store: Store, collection: str, record: Record, where: str) -> None:
    business = _business_of(store, record, where)
    if collection in _REFERENCES:
        field, target = _REFERENCES[collection]
        if record[field] not in business[target]:
            raise FixtureError(
                f"{where}: /{field}: no {target[:-1]} {record[field]} in business "
                f"{record['business_id']}",
                f"/{field}",
            )
    if collection in UNIQUE_FIELDS:
        field, index = UNIQUE_FIELDS[collection]
        value = record.get(field)
        holder = business["index"][index].get(value) if value else None
        if holder is not None and holder != record["id"]:
            raise FixtureError(
                f"{where}: /{field}: {value!r} is already used in this business", f"/{field}"
            )


def _check_parent(store: Store, account: Record, where: str) -> None:
    """A fixture account's parent is an earlier account of its business, of the same type."""
    account.setdefault("parent_id", None)
    parent_id = account["parent_id"]
    if parent_id is None:
        return
    parent = _business_of(store, account, where)["ledger_accounts"].get(parent_id)
    if parent is None:
        raise FixtureError(
            f"{where}: /parent_id: no earlier ledger account {parent_id} in business "
            f"{account['business_id']}"
        )
    if parent["account_type"]["value"] != account["account_type"]["value"]:
        raise FixtureError(
            f"{where}: /parent_id: the parent is a {parent['account_type']['value']} account; "
            f"a {account['account_type']['value']} account nests only under its own type"
        )


def _add_credit(store: Store, kind: CreditKind, record: Record, where: str) -> None:
    business = _business_of(store, record, where)
    params = {
        k: v
        for k, v in record.items()
        if k not in ("id", "business_id", "created_at", "deleted_at")
    }
    try:
        if params.get("external_id") in business["index"][kind.external_id_index]:
            raise FixtureError(
                f"{where}: /external_id: {params['external_id']!r} is held by another live credit"
            )
        # Child ids derive from the credit id, so fixtures are identical on every start.
        child_ids = IdFactory(seed=uuid.UUID(record["id"]).int)
        credit = compose(
            child_ids,
            business,
            kind,
            params,
            credit_id=record["id"],
            created_at=record["created_at"],
        )
    except SandboxError as exc:
        raise _as_fixture_error(exc, where) from exc
    store_credit(business, kind, credit, None)
    if record.get("deleted_at"):
        soft_delete(business, kind, credit, record["deleted_at"])


def _as_fixture_error(exc: SandboxError, where: str) -> FixtureError:
    problem = exc.problems[0]
    pointer = str(problem.meta.get("pointer", ""))
    return FixtureError(f"{where}: {pointer or '/'}: {problem.description}", pointer)


def _add_document(store: Store, kind: DocumentKind, record: Record, where: str) -> Record:
    """An invoice or bill through the same rules as over HTTP (``documents.compose``).

    ``total_amount`` alone is shorthand for one line of that amount on the default account.
    """
    business = _business_of(store, record, where)
    party = record.get(kind.counterparty_id)
    if party not in business[kind.counterparties]:
        raise FixtureError(
            f"{where}: /{kind.counterparty_id}: no {kind.counterparty} {party} in business "
            f"{record['business_id']}",
            f"/{kind.counterparty_id}",
        )
    params = {
        k: v
        for k, v in record.items()
        if k not in ("id", "business_id", "created_at", "voided_at", "total_amount")
    }
    if "line_items" not in params:
        if "total_amount" not in record:
            raise FixtureError(f"{where}: /line_items: give line_items or total_amount")
        params["line_items"] = [{"unit_price": record["total_amount"], "quantity": 1}]
    if params.get("external_id") in business["index"][kind.external_id_index]:
        raise FixtureError(f"{where}: /external_id: {params['external_id']!r} is already used")
    created_at = record.get("created_at") or record.get(kind.date_field) or store.now()
    try:
        document, _ = compose_document(
            IdFactory(seed=uuid.UUID(record["id"]).int),
            business,
            kind,
            params,
            document_id=record["id"],
            now=created_at,
        )
    except SandboxError as exc:
        raise _as_fixture_error(exc, where) from exc
    if record.get("voided_at"):
        document["voided_at"] = record["voided_at"]
        settle(document, kind.collection)
    store_document(store, business, kind, document, None)
    return document


def _add_dimension(store: Store, record: Record, where: str) -> Record:
    """A tag dimension: its key free among the business's live dimensions, its values unique."""
    business = _business_of(store, record, where)
    live = business["index"].get("tag_dimension_keys", {})
    if not record.get("deleted_at") and record["key"] in live:
        raise FixtureError(
            f"{where}: /key: {record['key']!r} is the key of live tag dimension "
            f"{live[record['key']]}",
            "/key",
        )
    values: list[Record] = []
    for i, value in enumerate(record.get("defined_values") or ()):
        if any(v["value"] == value["value"] for v in values):
            raise FixtureError(
                f"{where}: /defined_values/{i}/value: {value['value']!r} is defined twice",
                f"/defined_values/{i}/value",
            )
        archived = value.get("archived_at")
        values.append(
            {
                "id": value.get("id")
                or tag_definition_id(record["business_id"], record["key"], value["value"]),
                "value": value["value"],
                "display_name": value.get("display_name"),
                "archived_at": format_time(parse_date_time(archived)) if archived else None,  # type: ignore[arg-type]
            }
        )
    created_at = record.get("created_at", _FIXTURE_TIME)
    dimension = {
        "id": record["id"],
        "business_id": record["business_id"],
        "key": record["key"],
        "display_name": record.get("display_name"),
        "strictness": record["strictness"],
        "user_visible": record.get("user_visible", True),
        "defined_values": values,
        "created_at": created_at,
        "updated_at": record.get("updated_at", created_at),
        "deleted_at": record.get("deleted_at"),
    }
    store_dimension(business, dimension)
    return dimension


def _add_payment(store: Store, kind: DocumentKind, record: Record, where: str) -> Record:
    """An invoice or bill payment through the same rules as over HTTP."""
    business = _business_of(store, record, where)
    params = {k: v for k, v in record.items() if k not in ("id", "business_id", "created_at")}
    if params.get("external_id") in business["index"][kind.payment_external_id_index]:
        raise FixtureError(f"{where}: /external_id: {params['external_id']!r} is already used")
    child_ids = IdFactory(seed=uuid.UUID(record["id"]).int)
    try:
        payment = compose_payment(
            business,
            kind,
            params,
            payment_id=record["id"],
            ids=[child_ids.new() for _ in params.get("allocations") or ()],
            now=record.get("created_at") or record.get("at") or store.now(),
        )
    except SandboxError as exc:
        raise _as_fixture_error(exc, where) from exc
    store_payment(store, business, kind, payment)
    return payment


def record_defaults(
    store: Store,
    collection: str,
    given: Mapping[str, Any],
    schema_document: Mapping[str, Any],
    business_id: str | None,
) -> dict[str, Any]:
    """``given`` completed the way seeding completes a record.

    A new ``id``; ``business_id`` (outside ``businesses``); ``null`` for every required field
    the record schema allows to be null; ``status`` ACTIVE for customers and vendors; for
    invoices and bills ``sent_at``/``received_at`` now, for payments ``at`` now.
    Whatever ``given`` says wins.
    """
    out: dict[str, Any] = {"id": store.ids.new()}
    if collection != "businesses" and business_id is not None:
        out["business_id"] = business_id
    schemas = (schema_document.get("components") or {}).get("schemas") or {}
    schema = schemas.get(RECORD_SCHEMAS.get(collection, ""), {})
    for name, prop in (schema.get("properties") or {}).items():
        if name in schema.get("required", ()) and prop.get("nullable"):
            out[name] = None
    out.update(SEED_DEFAULTS.get(collection, {}))
    if collection in ("invoices", "bills"):
        out["sent_at" if collection == "invoices" else "received_at"] = store.now()
    if collection in ("invoice_payments", "bill_payments"):
        out["at"] = store.now()
    out.update(given)
    return out


def record_violations(
    collection: str, record: Any, schema_document: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Every schema violation of ``record`` as a fixture of ``collection``: (pointer, message)."""
    validator = component_validator(schema_document, RECORD_SCHEMAS[collection])
    return [(v.pointer, v.message) for v in validator.violations(record)]


def find_record(store: Store, collection: str, record_id: str) -> Record | None:
    """The supporting record ``record_id`` of ``collection`` in any business."""
    if collection == "businesses":
        business = store.business(record_id)
        return None if business is None else business["business"]
    for business in store.businesses.values():
        if record_id in business[collection]:
            return business[collection][record_id]  # type: ignore[no-any-return]
    return None


def list_records(store: Store, collection: str, business_id: str | None = None) -> list[Record]:
    """Every record of ``collection`` (of one business when ``business_id`` is given)."""
    businesses = [
        b for bid, b in store.businesses.items() if business_id is None or bid == business_id
    ]
    if collection == "businesses":
        return [b["business"] for b in businesses]
    return [record for b in businesses for record in b[collection].values()]


def update_record(
    store: Store,
    collection: str,
    record_id: str,
    changes: Mapping[str, Any],
    schema_document: Mapping[str, Any],
) -> Record:
    """``changes`` merged into a stored record, which is then checked like a new fixture record.

    Raises ``KeyError`` for an unknown record and ``FixtureError`` (with the pointer) when the
    result is not a valid record; nothing changes then.
    """
    with store.lock:
        existing = find_record(store, collection, record_id)
        if existing is None:
            raise KeyError(record_id)
        for fixed in ("id", "business_id"):
            if fixed in changes and changes[fixed] != existing.get(fixed):
                raise FixtureError(
                    f"/{fixed} cannot change; delete the record and seed a new one", f"/{fixed}"
                )
        merged = _normalise_times({**existing, **changes})
        where = f"{collection} record (id {record_id})"
        for pointer, message in record_violations(collection, merged, schema_document):
            raise FixtureError(f"{where}: {pointer or '/'}: {message}", pointer)
        if collection == "businesses":
            store.businesses[record_id]["business"] = merged
            return merged
        _check_references(store, collection, merged, where)
        business = store.businesses[merged["business_id"]]
        if collection in UNIQUE_FIELDS:
            field, index = UNIQUE_FIELDS[collection]
            if existing.get(field):
                business["index"][index].pop(existing[field], None)
        store.add_record(collection, merged)
        return merged


def delete_record(store: Store, collection: str, record_id: str) -> Record:
    """Remove a supporting record nothing refers to; ``KeyError`` when there is none.

    A record still named by another (a customer by its invoices or credits, an invoice by a
    credit's allocation, a ledger account by a line item, a business by any record) is a
    ``FixtureError`` saying which.
    """
    with store.lock:
        record = find_record(store, collection, record_id)
        if record is None:
            raise KeyError(record_id)
        users = _referrers(store, collection, record)
        if users:
            raise FixtureError(
                f"{collection} record {record_id} is still referred to by {', '.join(users[:5])}"
                f"{' and more' if len(users) > 5 else ''}; delete or change those first",
                "",
            )
        if collection == "businesses":
            del store.businesses[record_id]
            return record
        business = store.businesses[record["business_id"]]
        del business[collection][record_id]
        if collection in UNIQUE_FIELDS:
            field, index = UNIQUE_FIELDS[collection]
            if record.get(field):
                business["index"][index].pop(record[field], None)
        return record


def _referrers(store: Store, collection: str, record: Record) -> list[str]:
    """Records that name ``record``, as ``collection record id`` strings."""
    if collection == "businesses":
        business = store.businesses[record["id"]]
        return [
            f"{name} record {rid}" for name in (*SUPPORTING[1:], *_KINDS) for rid in business[name]
        ]
    business = store.businesses[record["business_id"]]
    found = []
    for field, target in _REFERENCES.values():
        if target == collection:
            source = next(c for c, (f, t) in _REFERENCES.items() if (f, t) == (field, target))
            found += [
                f"{source} record {r['id']}"
                for r in business[source].values()
                if r[field] == record["id"]
            ]
    for kind in KINDS:
        for credit in business[kind.collection].values():
            named = (
                (collection == kind.counterparties and credit["counterparty_id"] == record["id"])
                or (
                    collection == "ledger_accounts"
                    and any(i["account_id"] == record["id"] for i in credit["line_items"])
                )
                or (
                    collection == kind.documents
                    and any(a["document_id"] == record["id"] for a in credit["allocations"])
                )
            )
            if named:
                found.append(f"{kind.collection} record {credit['id']}")
    return found
