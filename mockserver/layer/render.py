"""Credits and their parts in the shape the API sends them (the spec's response schemas)."""

from __future__ import annotations

import uuid
from functools import lru_cache

from ..engine.store import Record
from .kinds import PARTY_FIELDS, CreditKind, DocumentKind

_TAG_NAMESPACE = uuid.UUID("6f1c7c2e-4f5b-4c3a-9a57-1c2f7f0e5b11")


def render_credit(
    business: Record,
    kind: CreditKind,
    credit: Record,
    shared: dict[tuple[str, str], Record] | None = None,
) -> Record:
    """The credit as the API sends it (``ApiCustomerCredit`` / ``ApiVendorCredit``).

    ``shared``: counterparties and accounts already rendered for the same response, reused
    rather than built again for every credit of a list page (they are only ever serialised).
    """
    if shared is None:
        shared = {}
    counterparty = _shared_counterparty(business, kind, credit["counterparty_id"], shared)
    line_items = []
    for item in credit["line_items"]:
        line_items.append(
            {
                "id": item["id"],
                "ledger_account": _shared_account(business, item["account_id"], shared),
                "amount": item["amount"],
                "memo": item["memo"],
                "metadata": item["metadata"],
                "reference_number": item["reference_number"],
                "transaction_tags": [render_tag(business, t) for t in item["tags"]],
            }
        )
    return {
        "type": kind.credit_type,
        "id": credit["id"],
        "external_id": credit["external_id"],
        kind.counterparty: counterparty,
        kind.date_field: credit["date"],
        "line_items": line_items,
        "allocations": [
            {
                "id": a["id"],
                kind.credit_id_field: credit["id"],
                kind.document_id: a["document_id"],
                "amount": a["amount"],
            }
            for a in credit["allocations"]
        ],
        "created_at": credit["created_at"],
        "updated_at": credit["updated_at"],
        "deleted_at": credit["deleted_at"],
        "transaction_tags": [render_tag(business, t) for t in credit["tags"]],
        "memo": credit["memo"],
        "metadata": credit["metadata"],
        "reference_number": credit["reference_number"],
    }


def _shared_counterparty(
    business: Record, kind: CreditKind, counterparty_id: str, shared: dict[tuple[str, str], Record]
) -> Record:
    """The customer or vendor ``counterparty_id`` as embedded, rendered once per ``shared``."""
    rendered = shared.get((kind.counterparty, counterparty_id))
    if rendered is None:
        rendered = render_counterparty(kind, business[kind.counterparties][counterparty_id])
        shared[(kind.counterparty, counterparty_id)] = rendered
    return rendered


def _shared_account(
    business: Record, account_id: str, shared: dict[tuple[str, str], Record]
) -> Record:
    """The ledger account ``account_id`` as a line shows it, rendered once per ``shared``."""
    rendered = shared.get(("account", account_id))
    if rendered is None:
        rendered = render_account(business["ledger_accounts"][account_id])
        shared[("account", account_id)] = rendered
    return rendered


def render_counterparty(kind: CreditKind, record: Record) -> Record:
    out: Record = {"type": kind.counterparty_type, "id": record["id"]}
    for name in PARTY_FIELDS:
        out[name] = record.get(name)
    if kind.counterparty_has_status:
        out["status"] = record["status"]
    out["transaction_tags"] = []
    return out


def render_counterparty_record(collection: str, record: Record) -> Record:
    """A customer (``CustomerData``) or vendor (``VendorData``) as its own endpoints send it."""
    out: Record = {
        "type": "CustomerData" if collection == "customers" else "VendorData",
        "id": record["id"],
    }
    for name in (*PARTY_FIELDS, "status"):
        out[name] = record.get(name)
    out["transaction_tags"] = []
    out["created_at"] = record.get("created_at")
    out["updated_at"] = record.get("updated_at")
    return out


def render_document(
    business: Record,
    kind: DocumentKind,
    document: Record,
    shared: dict[tuple[str, str], Record] | None = None,
) -> Record:
    """An invoice (``Invoice``) or bill (``Bill``) as the API sends it."""
    business_id = business["business"]["id"]
    if shared is None:
        shared = {}
    party = _shared_counterparty(business, kind.credit_kind, document[kind.counterparty_id], shared)
    line_items = []
    for item in document["line_items"]:
        line_items.append(
            {
                "id": item["id"],
                "external_id": item["external_id"],
                kind.id_field: document["id"],
                "ledger_account": _shared_account(business, item["account_id"], shared),
                "product": item["product"],
                "description": item["description"],
                "unit_price": item["unit_price"],
                "quantity": item["quantity"],
                "subtotal": item["subtotal"],
                "discount_amount": item["discount_amount"],
                "sales_taxes_total": item["sales_taxes_total"],
                "sales_taxes": item["sales_taxes"],
                "total_amount": item["total_amount"],
                "transaction_tags": [render_tag(business, t) for t in item["tags"]],
            }
        )
    out: Record = {
        "type": kind.response_type,
        "id": document["id"],
        "business_id": business_id,
        "external_id": document["external_id"],
        "status": document["status"],
        kind.date_field: document[kind.date_field],
        "due_at": document["due_at"],
        "paid_at": document["paid_at"],
        "voided_at": document["voided_at"],
        kind.number_field: document[kind.number_field],
        kind.counterparty: party,
        "memo": document["memo"],
        "line_items": line_items,
        "subtotal": document["subtotal"],
        "additional_discount": document["additional_discount"],
        "additional_sales_taxes_total": document["additional_sales_taxes_total"],
        "additional_sales_taxes": document["additional_sales_taxes"],
    }
    if "tips" in document:
        out["tips"] = document["tips"]
    if "bill_terms" in document:
        out["bill_terms"] = document["bill_terms"]
    out.update(
        {
            "total_amount": document["total_amount"],
            "outstanding_balance": document["outstanding_balance"],
            "payment_allocations": [
                {
                    "payment_id": a["payment_id"],
                    kind.id_field: document["id"],
                    "amount": a["amount"],
                }
                for a in document["payment_allocations"]
            ],
            "credited_amount": document["credited_amount"],
            "imported_at": document["created_at"],
            "created_at": document["created_at"],
            "updated_at": document["updated_at"],
            "transaction_tags": [render_tag(business, t) for t in document["tags"]],
        }
    )
    return out


def render_payment(business: Record, kind: DocumentKind, payment: Record) -> Record:
    """An invoice payment (``InvoicePayment``) or bill payment (``BillPayment``)."""
    out: Record = {
        "type": kind.payment_type,
        "id": payment["id"],
        "business_id": business["business"]["id"],
        "external_id": payment["external_id"],
        "at": payment["at"],
        "method": payment["method"],
        "amount": payment["amount"],
        "allocations": [
            {
                "id": a["id"],
                "payment_id": payment["id"],
                kind.id_field: a["document_id"],
                "amount": a["amount"],
            }
            for a in payment["allocations"]
        ],
    }
    if not kind.payments_fully_allocated:
        out["unapplied_amount"] = payment["unapplied_amount"]
    out.update(
        {
            "memo": payment["memo"],
            "reference_number": payment["reference_number"],
            "created_at": payment["created_at"],
            "updated_at": payment["updated_at"],
        }
    )
    return out


def render_account(account: Record) -> Record:
    """A ledger account in the published ``SingleApiChartAccount`` shape (ids as objects)."""
    stable_name = account.get("stable_name")
    return {
        "id": {"type": "AccountId", "id": account["id"]},
        "name": account["name"],
        "account_number": account.get("account_number"),
        "stable_name": {"type": "StableName", "stable_name": stable_name} if stable_name else None,
        "normality": account["normality"],
        "account_type": account["account_type"],
        "account_subtype": account["account_subtype"],
    }


def render_tag(business: Record, tag: Record) -> Record:
    """A tag as ``transaction_tags`` shows it. Its ids are those of the business's live tag
    dimension with this key and of that dimension's value, when there is one; otherwise derived
    from (business, key) and (business, key, value), which is also the id a dimension or value
    created over HTTP gets, so an id shown on a record never changes."""
    key, value = tag["key"], tag["value"]
    business_id = business["business"]["id"]
    dimension_id = business["index"].get("tag_dimension_keys", {}).get(key)
    definition_id = None
    if dimension_id is not None:
        for defined in business["tag_dimensions"][dimension_id]["defined_values"]:
            if defined["value"] == value:
                definition_id = defined["id"]
                break
    return {
        "id": tag["id"],
        "key": key,
        "value": value,
        "dimension_id": dimension_id or tag_dimension_id(business_id, key),
        "definition_id": definition_id or tag_definition_id(business_id, key, value),
        "dimension_display_name": tag.get("dimension_display_name"),
        "value_display_name": tag.get("value_display_name"),
        "archived_at": None,
    }


# Cached: uuid5 hashes on every render otherwise, and a fetch renders every tag of the credit.
@lru_cache(maxsize=65536)
def tag_dimension_id(business_id: str, key: str) -> str:
    """Stable per (business, key), as the README's "Tags" decision says."""
    return str(uuid.uuid5(_TAG_NAMESPACE, f"{business_id}\x00{key}"))


@lru_cache(maxsize=65536)
def tag_definition_id(business_id: str, key: str, value: str) -> str:
    return str(uuid.uuid5(_TAG_NAMESPACE, f"{business_id}\x00{key}\x00{value}"))
