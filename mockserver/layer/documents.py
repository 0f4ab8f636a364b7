"""Invoices and bills: money arithmetic, upsert, update, voiding.

One implementation for both, parameterised by ``DocumentKind``. Balances and statuses are
never computed here: ``balances.settle`` derives them from what payments and credits hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply, find_business, find_record
from ..engine.schemas import parse_date_time
from ..engine.store import UNIQUE_FIELDS, IdFactory, Record, Store, format_time, sortable_time
from ..errors import BadRequest, NotFound, Problem
from .balances import body_problem, held, settle
from .counterparties import new_counterparty, store_counterparty
from .kinds import DOCUMENT_KINDS, DocumentKind
from .listing import date_bounds, index_record, list_page
from .render import render_document
from .tags import stored_tags

#: Days each bill term gives until ``due_at`` (Layer's ``bill_terms`` values).
BILL_TERMS = {"DUE_ON_RECEIPT": 0, "NET_10": 10, "NET_15": 15, "NET_30": 30, "NET_60": 60}
#: Orderings kept for lists: ``sort_by`` value -> stored field.
_SORT_FIELDS = {"created_at": "created_at"}


def sort_fields(kind: DocumentKind) -> dict[str, str]:
    return {**_SORT_FIELDS, kind.date_field: kind.date_field}


def line_totals(item: Mapping[str, Any]) -> tuple[int, int, int]:
    """(subtotal, sales taxes, total) of one line: ``unit_price x quantity - discount + taxes``."""
    subtotal = int(item["unit_price"]) * int(item.get("quantity", 1))
    taxes = sum(int(t["amount"]) for t in item.get("sales_taxes") or ())
    return subtotal, taxes, subtotal - int(item.get("discount_amount") or 0) + taxes


def document_total(lines_total: int, params: Mapping[str, Any]) -> int:
    """Lines minus ``additional_discount`` plus additional sales taxes and ``tips``."""
    taxes = sum(int(t["amount"]) for t in params.get("additional_sales_taxes") or ())
    return (
        lines_total
        - int(params.get("additional_discount") or 0)
        + taxes
        + int(params.get("tips") or 0)
    )


def compose(
    ids: IdFactory,
    business: Record,
    kind: DocumentKind,
    params: Mapping[str, Any],
    *,
    document_id: str,
    now: str,
    replacing: Record | None = None,
) -> tuple[Record, Record | None]:
    """Check ``params`` (create-request shape) and build the stored document.

    Returns the document and, when ``customer_external_id`` named no customer, the customer to
    create with it (invoices only; Layer creates it). Raises listing every problem; changes
    nothing. ``replacing``: the stored document being updated, whose payments and credits
    carry over (its new total may not fall below them).
    """
    missing: list[Problem] = []
    invalid: list[Problem] = []
    counterparty_id, new_party = _resolve_counterparty(
        ids, business, kind, params, replacing, missing, invalid, now
    )
    line_items = []
    lines_total = 0
    for i, item in enumerate(params["line_items"]):
        account_id = _line_account(business, kind, item, i, missing)
        subtotal, taxes, total = line_totals(item)
        if total < 0:
            invalid.append(
                body_problem(
                    f"/line_items/{i}/discount_amount",
                    f"line {i} totals {total} cents (unit_price x quantity - discount_amount + "
                    "sales taxes); a discount may not exceed the line's amount.",
                    "lineTotal",
                )
            )
        lines_total += total
        line_items.append(
            {
                "id": item.get("_id") or ids.new(),
                "external_id": item.get("external_id"),
                "account_id": account_id,
                "product": item.get("product"),
                "description": item.get("description"),
                "unit_price": int(item["unit_price"]),
                "quantity": int(item.get("quantity", 1)),
                "discount_amount": int(item.get("discount_amount") or 0),
                "sales_taxes": [
                    {"amount": int(t["amount"])} for t in item.get("sales_taxes") or ()
                ],
                "subtotal": subtotal,
                "sales_taxes_total": taxes,
                "total_amount": total,
                "tags": stored_tags(ids, item.get("tags")),
            }
        )
    total_amount = document_total(lines_total, params)
    if total_amount < 0:
        invalid.append(
            body_problem(
                "/additional_discount",
                f"the {kind.label} totals {total_amount} cents; additional_discount may not "
                "exceed the line items plus taxes and tips.",
                "total",
            )
        )
    if replacing is not None and total_amount < held(replacing) and total_amount >= 0:
        invalid.append(
            body_problem(
                "/line_items",
                f"the new total ({total_amount} cents) is below what is already paid or "
                f"credited on {kind.label} {replacing['id']} ({held(replacing)} cents); an "
                f"update may not overpay a {kind.label}.",
                "overpaid",
            )
        )
    if missing:
        raise NotFound(missing)
    if invalid:
        raise BadRequest(invalid)
    date = params.get(kind.date_field)
    when = format_time(parse_date_time(date)) if date else now  # type: ignore[arg-type]
    due = params.get("due_at")
    due_at = format_time(parse_date_time(due)) if due else None  # type: ignore[arg-type]
    terms = params.get("bill_terms")
    if due_at is None and terms is not None:
        moment = parse_date_time(when)
        assert moment is not None
        due_at = format_time(moment + timedelta(days=BILL_TERMS[terms]))
    document: Record = {
        "id": document_id,
        "business_id": business["business"]["id"],
        "external_id": params.get("external_id"),
        kind.counterparty_id: counterparty_id,
        kind.number_field: params.get(kind.number_field),
        kind.date_field: when,
        "due_at": due_at,
        "voided_at": None,
        "memo": params.get("memo"),
        "line_items": line_items,
        "subtotal": lines_total,
        "additional_discount": int(params.get("additional_discount") or 0),
        "additional_sales_taxes": [
            {"amount": int(t["amount"])} for t in params.get("additional_sales_taxes") or ()
        ],
        "additional_sales_taxes_total": sum(
            int(t["amount"]) for t in params.get("additional_sales_taxes") or ()
        ),
        "total_amount": total_amount,
        "paid_amount": replacing["paid_amount"] if replacing else 0,
        "credited_amount": replacing["credited_amount"] if replacing else 0,
        "payment_allocations": list(replacing["payment_allocations"]) if replacing else [],
        "paid_at": None,
        "tags": stored_tags(ids, params.get("tags")),
        "created_at": replacing["created_at"] if replacing else now,
        "updated_at": now,
    }
    if kind is not DOCUMENT_KINDS[1]:
        document["tips"] = int(params.get("tips") or 0)
    else:
        document["bill_terms"] = terms
    settle(document, kind.collection)
    _set_paid_at(document)
    return document, new_party


def _set_paid_at(document: Record) -> None:
    """``paid_at``: the time of the latest payment once the balance is 0, else null."""
    times = [a["at"] for a in document["payment_allocations"]]
    document["paid_at"] = max(times) if document["status"] == "PAID" and times else None


def _resolve_counterparty(
    ids: IdFactory,
    business: Record,
    kind: DocumentKind,
    params: Mapping[str, Any],
    replacing: Record | None,
    missing: list[Problem],
    invalid: list[Problem],
    now: str,
) -> tuple[str, Record | None]:
    records = business[kind.counterparties]
    by_id = params.get(kind.counterparty_id)
    by_external = params.get(kind.counterparty_external_id)
    found = None
    new_party = None
    if by_id is not None:
        if by_id in records:
            found = by_id
        else:
            missing.append(
                Problem(
                    f"{kind.counterparty_id} {by_id} names no {kind.counterparty} of this "
                    "business.",
                    {
                        "location": "body",
                        "pointer": f"/{kind.counterparty_id}",
                        "keyword": "exists",
                    },
                )
            )
    if by_external is not None:
        _, index = UNIQUE_FIELDS[kind.counterparties]
        by_ext = business["index"][index].get(by_external)
        if by_ext is None and by_id is None:
            # Layer creates the counterparty named only by an unknown external id.
            new_party = new_counterparty(business, ids.new(), {"external_id": by_external}, now)
            found = new_party["id"]
        elif by_ext is None:
            missing.append(
                Problem(
                    f"{kind.counterparty_external_id} {by_external!r} names no "
                    f"{kind.counterparty} of this business.",
                    {
                        "location": "body",
                        "pointer": f"/{kind.counterparty_external_id}",
                        "keyword": "exists",
                    },
                )
            )
        elif found is not None and found != by_ext:
            invalid.append(
                body_problem(
                    f"/{kind.counterparty_external_id}",
                    f"{kind.counterparty_id} and {kind.counterparty_external_id} name different "
                    f"{kind.counterparties}; give one, or two naming the same {kind.counterparty}.",
                    "consistent",
                )
            )
        else:
            found = by_ext
    current = replacing[kind.counterparty_id] if replacing is not None else None
    if found is None and current is not None and by_id is None and by_external is None:
        found = current
    if found is not None and found != current:
        if found in records and records[found]["status"] == "ARCHIVED":
            field = kind.counterparty_id if by_id is not None else kind.counterparty_external_id
            invalid.append(
                body_problem(
                    f"/{field}",
                    f"{kind.counterparty} {found} is archived; a new {kind.label} for an archived "
                    f"{kind.counterparty} is refused. Set its status back to ACTIVE first.",
                    "archived",
                )
            )
        if current is not None and replacing is not None and held(replacing):
            invalid.append(
                body_problem(
                    f"/{kind.counterparty_id}",
                    f"{kind.label} {replacing['id']} already has payments or credits applied; "
                    f"its {kind.counterparty} cannot change.",
                    "immutable",
                )
            )
    if found is None and not missing:
        missing.append(
            Problem(
                f"give {kind.counterparty_id} or {kind.counterparty_external_id}.",
                {"location": "body", "pointer": f"/{kind.counterparty_id}", "keyword": "required"},
            )
        )
    return found or "", new_party


def _line_account(
    business: Record, kind: DocumentKind, item: Mapping[str, Any], i: int, missing: list[Problem]
) -> str:
    identifier = item.get("account_identifier") or {
        "type": "StableName",
        "stable_name": kind.default_account,
    }
    pointer = f"/line_items/{i}/account_identifier"
    if identifier["type"] == "AccountId":
        if identifier["id"] in business["ledger_accounts"]:
            return str(identifier["id"])
        missing.append(
            Problem(
                f"ledger account {identifier['id']} does not exist in this business.",
                {"location": "body", "pointer": f"{pointer}/id", "keyword": "exists"},
            )
        )
        return ""
    name = identifier["stable_name"]
    account_id = business["index"]["account_stable_names"].get(name)
    if account_id is None:
        known = ", ".join(sorted(business["index"]["account_stable_names"]))
        defaulted = "" if item.get("account_identifier") else " (the default for a line)"
        missing.append(
            Problem(
                f"no ledger account of this business has the stable name {name!r}{defaulted}; "
                f"known: {known}.",
                {"location": "body", "pointer": f"{pointer}/stable_name", "keyword": "exists"},
            )
        )
        return ""
    return str(account_id)


def store_document(
    store: Store, business: Record, kind: DocumentKind, document: Record, replacing: Record | None
) -> None:
    """Commit a composed document: external-id index, list orderings, the record, the event."""
    index = business["index"].setdefault(kind.external_id_index, {})
    if replacing is not None and index.get(replacing["external_id"]) == replacing["id"]:
        del index[replacing["external_id"]]
    if document["external_id"] is not None:
        index[document["external_id"]] = document["id"]
    index_record(business, kind.collection, sort_fields(kind).values(), document, replacing)
    business[kind.collection][document["id"]] = document
    action = "created" if replacing is None else "updated"
    store.emit(
        kind.entity, action, document["business_id"], document["id"], document["external_id"]
    )


def as_params(kind: DocumentKind, document: Record) -> dict[str, Any]:
    """A stored document in create-request shape (keeping child ids), PATCH's starting point."""
    params: dict[str, Any] = {
        "external_id": document["external_id"],
        kind.counterparty_id: document[kind.counterparty_id],
        kind.number_field: document[kind.number_field],
        kind.date_field: document[kind.date_field],
        "due_at": document["due_at"],
        "memo": document["memo"],
        "line_items": [
            {
                "_id": item["id"],
                "external_id": item["external_id"],
                "account_identifier": {"type": "AccountId", "id": item["account_id"]},
                "product": item["product"],
                "description": item["description"],
                "unit_price": item["unit_price"],
                "quantity": item["quantity"],
                "discount_amount": item["discount_amount"],
                "sales_taxes": item["sales_taxes"],
                "tags": [{**t, "_id": t["id"]} for t in item["tags"]],
            }
            for item in document["line_items"]
        ],
        "additional_discount": document["additional_discount"],
        "additional_sales_taxes": document["additional_sales_taxes"],
        "tags": [{**t, "_id": t["id"]} for t in document["tags"]],
    }
    if "tips" in document:
        params["tips"] = document["tips"]
    if "bill_terms" in document:
        params["bill_terms"] = document["bill_terms"]
    return params


def find_document(business: Record, kind: DocumentKind, call: Call) -> Record:
    return find_record(business, kind.collection, kind.label, kind.path_param, call)


def _refuse_voided(kind: DocumentKind, document: Record) -> None:
    if document["voided_at"] is not None:
        raise BadRequest(
            Problem(
                f"{kind.label} {document['id']} was voided at {document['voided_at']}; a voided "
                f"{kind.label} cannot be updated.",
                {"location": "path", "pointer": f"/{kind.path_param}", "keyword": "voided"},
            )
        )


def _commit(
    store: Store,
    business: Record,
    kind: DocumentKind,
    document: Record,
    new_party: Record | None,
    replacing: Record | None,
) -> None:
    if new_party is not None:
        store_counterparty(store, business, kind.counterparties, new_party, None)
    store_document(store, business, kind, document, replacing)


def create(store: Store, kind: DocumentKind, call: Call) -> Reply:
    """POST: 201 with a new document, or 200 after replacing the one with this external_id."""
    with store.transaction():
        business = find_business(store, call)
        params = call.body
        index = business["index"].setdefault(kind.external_id_index, {})
        existing_id = index.get(params["external_id"]) if params.get("external_id") else None
        replacing = business[kind.collection][existing_id] if existing_id else None
        if replacing is not None:
            _refuse_voided(kind, replacing)
        document, new_party = compose(
            store.ids,
            business,
            kind,
            params,
            document_id=existing_id or store.ids.new(),
            now=store.now(),
            replacing=replacing,
        )
        _commit(store, business, kind, document, new_party, replacing)
        status = 201 if replacing is None else 200
        return Reply(status, {"data": render_document(business, kind, document)})


def fetch(store: Store, kind: DocumentKind, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        document = find_document(business, kind, call)
        return Reply(200, {"data": render_document(business, kind, document)})


def update(store: Store, kind: DocumentKind, call: Call) -> Reply:
    """PATCH (invoices) / POST .../update (bills): present fields replace, arrays whole."""
    with store.transaction():
        business = find_business(store, call)
        existing = find_document(business, kind, call)
        _refuse_voided(kind, existing)
        params = as_params(kind, existing)
        changes = dict(call.body)
        if kind.counterparty_id in changes or kind.counterparty_external_id in changes:
            params.pop(kind.counterparty_id, None)
        if "due_at" in changes or "bill_terms" in changes:
            params["due_at"] = None
        for key, value in changes.items():
            params[key] = [] if key == "tags" and value is None else value
        external_id = params.get("external_id")
        holder = business["index"].setdefault(kind.external_id_index, {}).get(external_id)
        if external_id is not None and holder not in (None, existing["id"]):
            raise BadRequest(
                body_problem(
                    "/external_id",
                    f"external_id {external_id!r} is already used by {kind.label} {holder}; "
                    "choose another.",
                    "unique",
                )
            )
        document, new_party = compose(
            store.ids,
            business,
            kind,
            params,
            document_id=existing["id"],
            now=store.now(),
            replacing=existing,
        )
        _commit(store, business, kind, document, new_party, existing)
        return Reply(200, {"data": render_document(business, kind, document)})


def void(store: Store, kind: DocumentKind, call: Call) -> Reply:
    """POST .../void: balance 0 and status VOIDED; refused while payments or credits hold it."""
    with store.transaction():
        business = find_business(store, call)
        document = find_document(business, kind, call)
        if document["voided_at"] is None:
            holders = _holders(business, kind, document)
            if holders:
                raise BadRequest(
                    [
                        Problem(
                            f"{kind.label} {document['id']} has {what} applied to it "
                            f"({amount} cents); remove it before voiding.",
                            {
                                "location": "path",
                                "pointer": f"/{kind.path_param}",
                                "keyword": "applied",
                                "applied_by": what,
                                "amount": amount,
                            },
                        )
                        for what, amount in holders
                    ]
                )
            now = store.now()
            document["voided_at"] = now
            document["updated_at"] = now
            settle(document, kind.collection)
            store.emit(
                kind.entity,
                "updated",
                document["business_id"],
                document["id"],
                document["external_id"],
            )
        return Reply(200, {"data": render_document(business, kind, document)})


def _holders(business: Record, kind: DocumentKind, document: Record) -> list[tuple[str, int]]:
    """Every payment and live credit with an allocation on ``document``, with the amount."""
    out = [
        (f"{kind.payments[:-1].replace('_', ' ')} {a['payment_id']}", int(a["amount"]))
        for a in document["payment_allocations"]
    ]
    credit_kind = kind.credit_kind
    if document["credited_amount"]:
        for credit in business[credit_kind.collection].values():
            if credit["deleted_at"] is None:
                for allocation in credit["allocations"]:
                    if allocation["document_id"] == document["id"]:
                        out.append((f"{credit_kind.label} {credit['id']}", allocation["amount"]))
    return out


def list_documents(store: Store, kind: DocumentKind, call: Call) -> Reply:
    query = call.query
    with store.transaction():
        business = find_business(store, call)
        counterparty = query.get(kind.counterparty_id)
        statuses = (
            {s.strip() for s in query["status"].split(",") if s.strip()}
            if query.get("status")
            else None
        )
        start, end = date_bounds(kind.date_field, query)
        due_start, due_end = date_bounds("due_at", query)

        def matches(document: Record) -> bool:
            if counterparty is not None and document[kind.counterparty_id] != counterparty:
                return False
            if statuses is not None and document["status"] not in statuses:
                return False
            when = sortable_time(document[kind.date_field])
            if (start is not None and when < start) or (end is not None and when >= end):
                return False
            if due_start is not None or due_end is not None:
                if document["due_at"] is None:
                    return False
                due = sortable_time(document["due_at"])
                if (due_start is not None and due < due_start) or (
                    due_end is not None and due >= due_end
                ):
                    return False
            return True

        shared: dict[tuple[str, str], Record] = {}
        return list_page(
            business,
            kind.collection,
            query,
            sort_fields(kind),
            matches,
            lambda d: render_document(business, kind, d, shared),
        )


def behaviours(store: Store) -> dict[str, Behaviour]:
    """Behaviours by operationId for invoices and bills."""
    table: dict[str, Behaviour] = {}
    for kind in DOCUMENT_KINDS:
        prefix = f"business.{kind.collection}"
        table[f"{prefix}.post"] = partial(create, store, kind)
        table[f"{prefix}.get"] = partial(list_documents, store, kind)
        table[f"{prefix}.get_one"] = partial(fetch, store, kind)
        table[f"{prefix}.void.post"] = partial(void, store, kind)
    table["business.invoices.patch"] = partial(update, store, DOCUMENT_KINDS[0])
    table["business.bills.update.post"] = partial(update, store, DOCUMENT_KINDS[1])
    # Layer publishes `business.bills.get` for fetching one bill, so the bill list is `.list`.
    bills = DOCUMENT_KINDS[1]
    del table["business.bills.get_one"]
    table["business.bills.get"] = partial(fetch, store, bills)
    table["business.bills.list"] = partial(list_documents, store, bills)
    return table
