"""Invoice payments and bill payments: allocations through the one ledger.

A payment is recorded once and never changed: a create repeating a known ``external_id``
answers 200 with the stored payment, whatever the body (Layer's "payment exists").
"""

from __future__ import annotations

from functools import partial

from ..engine.dispatch import Behaviour, Call, Reply, find_business
from ..engine.schemas import parse_date_time
from ..engine.store import Record, Store, format_time, sortable_time
from ..errors import BadRequest, NotFound, Problem
from .balances import body_problem, hold, takes
from .kinds import DOCUMENT_KINDS, DocumentKind
from .listing import date_bounds, index_record, list_page
from .render import render_payment

_SORT_FIELDS = {"created_at": "created_at", "at": "at"}


def compose_payment(
    business: Record,
    kind: DocumentKind,
    params: Record,
    *,
    payment_id: str,
    ids: list[str],
    now: str,
) -> Record:
    """Check a payment (create-request shape) against every rule and build the stored payment.

    ``ids``: one new id per allocation. Raises listing every problem; changes nothing.
    """
    documents = business[kind.collection]
    amount = int(params["amount"])
    missing: list[Problem] = []
    invalid: list[Problem] = []
    used: dict[str, int] = {}
    allocated = 0
    allocations = []
    for i, allocation in enumerate(params.get("allocations") or ()):
        document_id = allocation[kind.id_field]
        share = int(allocation["amount"])
        allocated += share
        document = documents.get(document_id)
        if document is None:
            missing.append(
                Problem(
                    f"{kind.id_field} {document_id} names no {kind.label} of this business.",
                    {
                        "location": "body",
                        "pointer": f"/allocations/{i}/{kind.id_field}",
                        "keyword": "exists",
                    },
                )
            )
        else:
            used[document_id] = used.get(document_id, 0) + share
            reason = takes(document, kind.label, used[document_id])
            if reason is not None:
                invalid.append(
                    body_problem(f"/allocations/{i}/amount", reason, "outstandingBalance")
                )
        allocations.append({"id": ids[i], "document_id": document_id, "amount": share})
    if kind.payments_fully_allocated and allocated != amount:
        invalid.append(
            body_problem(
                "/allocations",
                f"the allocations add up to {allocated} cents but the payment is {amount} "
                f"cents; a {kind.label} payment's allocations must add up to its amount exactly.",
                "allocationTotal",
            )
        )
    elif allocated > amount:
        invalid.append(
            body_problem(
                "/allocations",
                f"the allocations add up to {allocated} cents, more than the payment's {amount} "
                "cents; lower them (the part of a payment left unallocated stays unapplied).",
                "allocationTotal",
            )
        )
    if missing:
        raise NotFound(missing)
    if invalid:
        raise BadRequest(invalid)
    at = params.get("at")
    return {
        "id": payment_id,
        "business_id": business["business"]["id"],
        "external_id": params.get("external_id"),
        "at": format_time(parse_date_time(at)) if at else now,  # type: ignore[arg-type]
        "method": params["method"],
        "amount": amount,
        "allocations": allocations,
        "unapplied_amount": amount - allocated,
        "memo": params.get("memo"),
        "reference_number": params.get("reference_number"),
        "created_at": now,
        "updated_at": now,
    }


def store_payment(store: Store, business: Record, kind: DocumentKind, payment: Record) -> None:
    """Commit a composed payment: each allocation moves its document's balance, then events."""
    documents = business[kind.collection]
    touched: dict[str, Record] = {}
    for allocation in payment["allocations"]:
        document = documents[allocation["document_id"]]
        hold(document, kind.collection, paid=allocation["amount"])
        document["payment_allocations"].append(
            {"payment_id": payment["id"], "amount": allocation["amount"], "at": payment["at"]}
        )
        if document["status"] == "PAID":
            document["paid_at"] = max(a["at"] for a in document["payment_allocations"])
        document["updated_at"] = payment["created_at"]
        touched[document["id"]] = document
    index = business["index"].setdefault(kind.payment_external_id_index, {})
    if payment["external_id"] is not None:
        index[payment["external_id"]] = payment["id"]
    index_record(business, kind.payments, _SORT_FIELDS.values(), payment, None)
    business[kind.payments][payment["id"]] = payment
    business_id = payment["business_id"]
    store.emit(kind.payment_entity, "created", business_id, payment["id"], payment["external_id"])
    for document in touched.values():
        store.emit(kind.entity, "updated", business_id, document["id"], document["external_id"])


def create(store: Store, kind: DocumentKind, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        params = call.body
        index = business["index"].setdefault(kind.payment_external_id_index, {})
        existing = index.get(params["external_id"]) if params.get("external_id") else None
        if existing is not None:
            payment = business[kind.payments][existing]
            return Reply(200, {"data": render_payment(business, kind, payment)})
        payment_id = store.ids.new()
        ids = [store.ids.new() for _ in params.get("allocations") or ()]
        payment = compose_payment(
            business, kind, params, payment_id=payment_id, ids=ids, now=store.now()
        )
        store_payment(store, business, kind, payment)
        return Reply(201, {"data": render_payment(business, kind, payment)})


def fetch(store: Store, kind: DocumentKind, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        payment = business[kind.payments].get(call.path["paymentId"])
        if payment is None:
            raise NotFound(
                Problem(
                    f"Payment not found: no {kind.label} payment {call.path['paymentId']} in "
                    "this business.",
                    {"location": "path", "pointer": "/paymentId", "keyword": "exists"},
                )
            )
        return Reply(200, {"data": render_payment(business, kind, payment)})


def list_payments(store: Store, kind: DocumentKind, call: Call) -> Reply:
    query = call.query
    document_id = query.get(kind.id_field)
    method = query.get("method")
    start, end = date_bounds("at", query)

    def matches(payment: Record) -> bool:
        if method is not None and payment["method"] != method:
            return False
        if document_id is not None and all(
            a["document_id"] != document_id for a in payment["allocations"]
        ):
            return False
        when = sortable_time(payment["at"])
        return not ((start is not None and when < start) or (end is not None and when >= end))

    with store.transaction():
        business = find_business(store, call)
        return list_page(
            business,
            kind.payments,
            query,
            _SORT_FIELDS,
            matches,
            lambda p: render_payment(business, kind, p),
        )


def behaviours(store: Store) -> dict[str, Behaviour]:
    table: dict[str, Behaviour] = {}
    for kind, prefix in zip(
        DOCUMENT_KINDS, ("business.invoices.payments", "business.bills.payments"), strict=True
    ):
        table[f"{prefix}.post"] = partial(create, store, kind)
        table[f"{prefix}.get"] = partial(list_payments, store, kind)
        table[f"{prefix}.get_one"] = partial(fetch, store, kind)
    return table
