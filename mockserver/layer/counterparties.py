"""Customers and vendors: upsert by ``external_id``, archiving, lists.

The generic parts (upsert, filters, paging) are thin on purpose; the list paging is
``listing.list_page``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply, find_business, find_record
from ..engine.store import UNIQUE_FIELDS, Record, Store
from ..errors import BadRequest, Problem
from .kinds import PARTY_FIELDS
from .listing import index_record, list_page
from .render import render_counterparty_record

_ENTITY = {"customers": "Customer", "vendors": "Vendor"}
_SORT_FIELDS = {"created_at": "created_at"}


def new_counterparty(
    business: Record, record_id: str, params: Mapping[str, Any], now: str
) -> Record:
    """A new ACTIVE customer or vendor record built from ``params``."""
    record: Record = {"id": record_id, "business_id": business["business"]["id"]}
    for name in PARTY_FIELDS:
        record[name] = params.get(name)
    record["status"] = params.get("status") or "ACTIVE"
    record["created_at"] = now
    record["updated_at"] = now
    return record


def store_counterparty(
    store: Store, business: Record, collection: str, record: Record, replacing: Record | None
) -> None:
    """Commit a customer or vendor: external-id index, list ordering, record, event."""
    _, index_name = UNIQUE_FIELDS[collection]
    index = business["index"][index_name]
    if replacing is not None and index.get(replacing["external_id"]) == replacing["id"]:
        del index[replacing["external_id"]]
    if record["external_id"] is not None:
        index[record["external_id"]] = record["id"]
    index_record(business, collection, _SORT_FIELDS.values(), record, replacing)
    business[collection][record["id"]] = record
    if replacing is None:
        action = "created"
    elif record["status"] == "ARCHIVED" and replacing["status"] != "ARCHIVED":
        action = "archived"
    else:
        action = "updated"
    store.emit(
        _ENTITY[collection], action, record["business_id"], record["id"], record["external_id"]
    )


def _label(collection: str) -> str:
    return collection[:-1]


def _find(business: Record, collection: str, call: Call) -> Record:
    label = _label(collection)
    return find_record(business, collection, label, f"{label}Id", call)


def _check_external_id(business: Record, collection: str, record: Record) -> None:
    _, index_name = UNIQUE_FIELDS[collection]
    holder = business["index"][index_name].get(record["external_id"])
    if record["external_id"] is not None and holder not in (None, record["id"]):
        raise BadRequest(
            Problem(
                f"external_id {record['external_id']!r} is already used by {_label(collection)} "
                f"{holder}; choose another.",
                {"location": "body", "pointer": "/external_id", "keyword": "unique"},
            )
        )


def create(store: Store, collection: str, call: Call) -> Reply:
    """POST: 201 new, or 200 after updating the one with this ``external_id`` (fields given
    replace, fields left out keep their value)."""
    with store.transaction():
        business = find_business(store, call)
        params = call.body
        _, index_name = UNIQUE_FIELDS[collection]
        existing_id = (
            business["index"][index_name].get(params["external_id"])
            if params.get("external_id")
            else None
        )
        if existing_id is None:
            record = new_counterparty(business, store.ids.new(), params, store.now())
            store_counterparty(store, business, collection, record, None)
            return Reply(201, {"data": render_counterparty_record(collection, record)})
        existing = business[collection][existing_id]
        record = {**existing, **params, "updated_at": store.now()}
        store_counterparty(store, business, collection, record, existing)
        return Reply(200, {"data": render_counterparty_record(collection, record)})


def fetch(store: Store, collection: str, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        record = _find(business, collection, call)
        return Reply(200, {"data": render_counterparty_record(collection, record)})


def patch(store: Store, collection: str, call: Call) -> Reply:
    """PATCH: present fields replace, ``null`` clears; ``status: ARCHIVED`` archives."""
    return _change(store, collection, call, replace=False)


def replace(store: Store, collection: str, call: Call) -> Reply:
    """PUT: the body replaces every field; one left out becomes null (status: ACTIVE)."""
    return _change(store, collection, call, replace=True)


def _change(store: Store, collection: str, call: Call, *, replace: bool) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        existing = _find(business, collection, call)
        body = dict(call.body)
        if replace:
            body = {name: body.get(name) for name in PARTY_FIELDS} | {
                "status": body.get("status") or "ACTIVE"
            }
        record = {**existing, **body, "updated_at": store.now()}
        _check_external_id(business, collection, record)
        store_counterparty(store, business, collection, record, existing)
        return Reply(200, {"data": render_counterparty_record(collection, record)})


def list_counterparties(store: Store, collection: str, call: Call) -> Reply:
    query = call.query
    include_archived = query.get("include_archived", False)
    external_id = query.get("external_id")
    external_contains = (query.get("external_id_contains") or "").casefold()
    name = query.get("name")
    name_contains = (query.get("name_contains") or "").casefold()

    def matches(record: Record) -> bool:
        if record["status"] == "ARCHIVED" and not include_archived:
            return False
        if external_id is not None and record["external_id"] != external_id:
            return False
        if external_contains and external_contains not in (record["external_id"] or "").casefold():
            return False
        names = [n for n in (record["individual_name"], record["company_name"]) if n]
        if name is not None and name not in names:
            return False
        return not name_contains or any(name_contains in n.casefold() for n in names)

    with store.transaction():
        business = find_business(store, call)
        return list_page(
            business,
            collection,
            query,
            _SORT_FIELDS,
            matches,
            partial(render_counterparty_record, collection),
        )


def behaviours(store: Store) -> dict[str, Behaviour]:
    table: dict[str, Behaviour] = {}
    for collection in ("customers", "vendors"):
        prefix = f"business.{collection}"
        table[f"{prefix}.post"] = partial(create, store, collection)
        table[f"{prefix}.get"] = partial(list_counterparties, store, collection)
        table[f"{prefix}.get_one"] = partial(fetch, store, collection)
    table["business.customers.patch"] = partial(patch, store, "customers")
    table["business.vendors.update"] = partial(replace, store, "vendors")
    return table
