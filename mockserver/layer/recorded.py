"""Layer's answers back into fixture records: the inverse of ``render`` for ``proxy --record``.

An answer carries what a fixture record needs in another shape (the customer as an object, a
ledger account as ``{id: {type: AccountId, id}}``, tags as ``transaction_tags`` with ids) and
adds what is derived (``status``, ``outstanding_balance``, totals, child ids). ``to_fixture``
maps one answer item of a collection to the fixture record that loads back into the same
answer, and names the records the answer embeds (a customer, a vendor, a ledger account), which
are worth keeping only when nothing better is known about them.

What a fixture cannot say is not carried over: the ids of line items, allocations and tags
(they derive from the record's id when loaded), an invoice's or bill's ``updated_at`` (derived
from its payments and credits) and a credit's ``updated_at`` (its ``deleted_at``, else its
``created_at``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .kinds import PARTY_FIELDS

Record = dict[str, Any]
#: (collection, record) pairs of what an answer embeds.
Embedded = list[tuple[str, Record]]

_ACCOUNT_FIELDS = ("name", "account_number", "normality", "account_type", "account_subtype")


def to_fixture(
    collection: str, item: Mapping[str, Any], business_id: str
) -> tuple[Record | None, Embedded]:
    """The fixture record of ``collection`` that ``item`` (one answer record) came from, and
    the records it embeds; ``(None, [])`` when ``item`` is not one."""
    mapper = _MAPPERS.get(collection)
    if mapper is None or not isinstance(item, Mapping):
        return None, []
    embedded: Embedded = []
    try:
        record = mapper(item, business_id, embedded)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None, []
    return record, embedded


def _given(item: Mapping[str, Any], names: tuple[str, ...] | list[str]) -> Record:
    return {name: item[name] for name in names if name in item}


def _party(
    collection: str, item: Mapping[str, Any], business_id: str, embedded: Embedded | None = None
) -> Record:
    """A customer or vendor record (an embedded copy has no times, a vendor's no status)."""
    record: Record = {"id": item["id"], "business_id": business_id}
    record.update({name: item.get(name) for name in PARTY_FIELDS})
    record.update(_given(item, ("status", "created_at", "updated_at")))
    if embedded is not None:
        embedded.append((collection, record))
    return record


def _account_id(value: Any) -> Any:
    """``{type: AccountId, id}`` (how answers name an account) -> the id."""
    return value["id"] if isinstance(value, Mapping) else value


def _account(item: Mapping[str, Any], business_id: str, embedded: Embedded | None = None) -> Record:
    stable = item.get("stable_name")
    record: Record = {
        "id": _account_id(item["id"]),
        "business_id": business_id,
        "name": item["name"],
        "stable_name": stable.get("stable_name") if isinstance(stable, Mapping) else stable,
    }
    record.update({name: item.get(name) for name in _ACCOUNT_FIELDS if name != "name"})
    if "parent_id" in item:
        record["parent_id"] = _account_id(item["parent_id"])
    record.update(_given(item, ("created_at", "updated_at")))
    if embedded is not None:
        embedded.append(("ledger_accounts", record))
    return record


def _line_account(line: Mapping[str, Any], business_id: str, embedded: Embedded) -> Record:
    account = _account(line["ledger_account"], business_id, embedded)
    return {"type": "AccountId", "id": account["id"]}


def _tags(item: Mapping[str, Any]) -> list[Record]:
    """``transaction_tags`` back to request ``tags`` (ids are derived, not given)."""
    return [
        _given(tag, ("key", "value", "dimension_display_name", "value_display_name"))
        for tag in item.get("transaction_tags") or ()
    ]


def _customer(item: Mapping[str, Any], business_id: str, embedded: Embedded) -> Record:
    return _party("customers", item, business_id)


def _vendor(item: Mapping[str, Any], business_id: str, embedded: Embedded) -> Record:
    return _party("vendors", item, business_id)


def _ledger_account(item: Mapping[str, Any], business_id: str, embedded: Embedded) -> Record:
    return _account(item, business_id)


def _document(kind: str) -> Callable[[Mapping[str, Any], str, Embedded], Record]:
    invoice = kind == "invoices"
    party, date, number = (
        ("customer", "sent_at", "invoice_number")
        if invoice
        else ("vendor", "received_at", "bill_number")
    )
    extra = ("tips",) if invoice else ("bill_terms",)

    def mapper(item: Mapping[str, Any], business_id: str, embedded: Embedded) -> Record:
        counterparty = _party(f"{party}s", item[party], business_id, embedded)
        record: Record = {
            "id": item["id"],
            "business_id": business_id,
            f"{party}_id": counterparty["id"],
        }
        record.update(
            _given(item, ("external_id", number, date, "due_at", "voided_at", "created_at"))
        )
        record.update(_given(item, ("memo", "additional_discount", "additional_sales_taxes")))
        record.update(_given(item, extra))
        record["line_items"] = [
            {
                **_given(
                    line,
                    (
                        "external_id",
                        "product",
                        "description",
                        "unit_price",
                        "quantity",
                        "discount_amount",
                        "sales_taxes",
                    ),
                ),
                "account_identifier": _line_account(line, business_id, embedded),
                "tags": _tags(line),
            }
            for line in item["line_items"]
        ]
        record["tags"] = _tags(item)
        return record

    return mapper


def _payment(kind: str) -> Callable[[Mapping[str, Any], str, Embedded], Record]:
    target = "invoice_id" if kind == "invoice_payments" else "bill_id"

    def mapper(item: Mapping[str, Any], business_id: str, embedded: Embedded) -> Record:
        record: Record = {"id": item["id"], "business_id": business_id}
        record.update(_given(item, ("external_id", "at", "created_at", "method", "amount", "memo")))
        record.update(_given(item, ("reference_number",)))
        record["allocations"] = [
            {target: a[target], "amount": a["amount"]} for a in item["allocations"]
        ]
        return record

    return mapper


def _credit(kind: str) -> Callable[[Mapping[str, Any], str, Embedded], Record]:
    customer = kind == "customer_credits"
    party, date, account, target = (
        ("customer", "sent_at", "revenue_account_identifier", "invoice_id")
        if customer
        else ("vendor", "received_at", "expense_account_identifier", "bill_id")
    )

    def mapper(item: Mapping[str, Any], business_id: str, embedded: Embedded) -> Record:
        counterparty = _party(f"{party}s", item[party], business_id, embedded)
        record: Record = {"id": item["id"], "business_id": business_id}
        record.update(_given(item, ("created_at", "deleted_at", "external_id")))
        if record.get("external_id") is None:
            record.pop("external_id", None)  # the fixture field is a string or left out
        record[f"{party}_id"] = counterparty["id"]
        record.update(_given(item, (date, "memo", "metadata", "reference_number")))
        record["line_items"] = [
            {
                "amount": line["amount"],
                account: _line_account(line, business_id, embedded),
                **_given(line, ("memo", "metadata", "reference_number")),
                "tags": _tags(line),
            }
            for line in item["line_items"]
        ]
        record["allocations"] = [
            {"amount": a["amount"], target: a[target]} for a in item.get("allocations") or ()
        ]
        record["tags"] = _tags(item)
        return record

    return mapper


_MAPPERS: dict[str, Callable[[Mapping[str, Any], str, Embedded], Record]] = {
    "customers": _customer,
    "vendors": _vendor,
    "ledger_accounts": _ledger_account,
    "invoices": _document("invoices"),
    "bills": _document("bills"),
    "invoice_payments": _payment("invoice_payments"),
    "bill_payments": _payment("bill_payments"),
    "customer_credits": _credit("customer_credits"),
    "vendor_credits": _credit("vendor_credits"),
}


def chart_accounts(accounts: Any, parent: Any = None) -> list[Record]:
    """The accounts of a ``GET /ledger/chart`` tree, parents first, with ``parent_id`` set."""
    out: list[Record] = []
    for account in accounts if isinstance(accounts, list) else ():
        if not isinstance(account, Mapping) or "id" not in account:
            continue
        out.append({**account, "parent_id": parent})
        out += chart_accounts(account.get("sub_accounts"), _account_id(account["id"]))
    return out
