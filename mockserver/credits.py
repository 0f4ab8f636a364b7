"""The credit rules (CONTRACT.md section 4), one implementation for customer and vendor credits.

``CreditKind`` names what differs between the two kinds; every function takes one.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from .dispatch import Behaviour, Call, Reply, find_business
from .errors import BadRequest, NotFound, Problem
from .schemas import parse_date, parse_date_time
from .store import IdFactory, Record, Store, format_time, sortable_time

METADATA_LIMIT = 1024  # bytes of compact JSON; CONTRACT.md 4.6 (the published pages also say 10 KB)
_TAG_NAMESPACE = uuid.UUID("6f1c7c2e-4f5b-4c3a-9a57-1c2f7f0e5b11")


@dataclass(frozen=True)
class CreditKind:
    """What differs between customer and vendor credits."""

    collection: str  # customer_credits
    counterparty: str  # customer
    document: str  # invoice
    date_field: str  # sent_at
    account_field: str  # revenue_account_identifier
    credit_type: str  # Customer_Credit
    counterparty_type: str  # CustomerData
    counterparty_has_status: bool
    operation_prefix: str  # business.invoices.customer-credits

    @property
    def label(self) -> str:
        return self.collection[:-1].replace("_", " ")

    @property
    def counterparties(self) -> str:
        return f"{self.counterparty}s"

    @property
    def documents(self) -> str:
        return f"{self.document}s"

    @property
    def counterparty_id(self) -> str:
        return f"{self.counterparty}_id"

    @property
    def counterparty_external_id(self) -> str:
        return f"{self.counterparty}_external_id"

    @property
    def document_id(self) -> str:
        return f"{self.document}_id"


CUSTOMER_CREDITS = CreditKind(
    collection="customer_credits",
    counterparty="customer",
    document="invoice",
    date_field="sent_at",
    account_field="revenue_account_identifier",
    credit_type="Customer_Credit",
    counterparty_type="CustomerData",
    counterparty_has_status=True,
    operation_prefix="business.invoices.customer-credits",
)
VENDOR_CREDITS = CreditKind(
    collection="vendor_credits",
    counterparty="vendor",
    document="bill",
    date_field="received_at",
    account_field="expense_account_identifier",
    credit_type="Vendor_Credit",
    counterparty_type="VendorData",
    counterparty_has_status=False,
    operation_prefix="business.bills.vendor-credits",
)
KINDS = (CUSTOMER_CREDITS, VENDOR_CREDITS)


# --------------------------------------------------------------------------- rendering


def render_credit(business: Record, kind: CreditKind, credit: Record) -> Record:
    """The credit as the API sends it (``ApiCustomerCredit`` / ``ApiVendorCredit``)."""
    business_id = business["business"]["id"]
    counterparty = business[kind.counterparties][credit["counterparty_id"]]
    accounts = business["ledger_accounts"]
    return {
        "type": kind.credit_type,
        "id": credit["id"],
        "external_id": credit["external_id"],
        kind.counterparty: render_counterparty(kind, counterparty),
        kind.date_field: credit["date"],
        "line_items": [
            {
                "id": item["id"],
                "ledger_account": render_account(accounts[item["account_id"]]),
                "amount": item["amount"],
                "memo": item["memo"],
                "metadata": item["metadata"],
                "reference_number": item["reference_number"],
                "transaction_tags": [render_tag(business_id, t) for t in item["tags"]],
            }
            for item in credit["line_items"]
        ],
        "allocations": [
            {
                "id": a["id"],
                f"{kind.collection[:-1]}_id": credit["id"],
                kind.document_id: a["document_id"],
                "amount": a["amount"],
            }
            for a in credit["allocations"]
        ],
        "created_at": credit["created_at"],
        "updated_at": credit["updated_at"],
        "deleted_at": credit["deleted_at"],
        "transaction_tags": [render_tag(business_id, t) for t in credit["tags"]],
        "memo": credit["memo"],
        "metadata": credit["metadata"],
        "reference_number": credit["reference_number"],
    }


def render_counterparty(kind: CreditKind, record: Record) -> Record:
    out: Record = {"type": kind.counterparty_type, "id": record["id"]}
    for name in (
        "external_id", "individual_name", "company_name", "email", "mobile_phone",
        "office_phone", "address_string", "memo",
    ):
        out[name] = record.get(name)
    if kind.counterparty_has_status:
        out["status"] = record["status"]
    out["transaction_tags"] = []
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


def render_tag(business_id: str, tag: Record) -> Record:
    key, value = tag["key"], tag["value"]
    return {
        "id": tag["id"],
        "key": key,
        "value": value,
        "dimension_id": tag_dimension_id(business_id, key),
        "definition_id": str(uuid.uuid5(_TAG_NAMESPACE, f"{business_id}\x00{key}\x00{value}")),
        "dimension_display_name": tag.get("dimension_display_name"),
        "value_display_name": tag.get("value_display_name"),
        "archived_at": None,
    }


def tag_dimension_id(business_id: str, key: str) -> str:
    """Stable per (business, key), as CONTRACT.md 4.4 requires."""
    return str(uuid.uuid5(_TAG_NAMESPACE, f"{business_id}\x00{key}"))


# --------------------------------------------------------------------------- composing


class _Findings:
    """Problems found while checking a credit: 404s (names nothing) apart from 400s."""

    def __init__(self) -> None:
        self.missing: list[Problem] = []
        self.invalid: list[Problem] = []

    def not_found(self, pointer: str, description: str) -> None:
        self.missing.append(
            Problem(description, {"location": "body", "pointer": pointer, "keyword": "exists"})
        )

    def bad(self, pointer: str, description: str, keyword: str) -> None:
        self.invalid.append(
            Problem(description, {"location": "body", "pointer": pointer, "keyword": keyword})
        )

    def raise_any(self) -> None:
        if self.missing:
            raise NotFound(self.missing)
        if self.invalid:
            raise BadRequest(self.invalid)


def compose(
    store: Store,
    business: Record,
    kind: CreditKind,
    params: Mapping[str, Any],
    *,
    credit_id: str,
    created_at: str,
    replacing: Record | None = None,
) -> Record:
    """Check ``params`` (create-request shape) against every rule and build the stored credit.

    Raises ``NotFound``/``BadRequest`` listing every problem; changes nothing. ``replacing`` is
    the live credit being updated, whose allocations are given back before balances are checked.
    """
    findings = _Findings()
    counterparty_id = _resolve_counterparty(business, kind, params, findings)
    line_items = []
    for i, item in enumerate(params["line_items"]):
        account_id = _resolve_account(business, kind, item[kind.account_field], i, findings)
        _check_metadata(item.get("metadata"), f"/line_items/{i}/metadata", findings)
        line_items.append(
            {
                "id": item.get("_id") or store.ids.new(),
                "account_id": account_id,
                "amount": item["amount"],
                "memo": item.get("memo"),
                "metadata": item.get("metadata"),
                "reference_number": item.get("reference_number"),
                "tags": _tags(store, item.get("tags")),
            }
        )
    _check_metadata(params.get("metadata"), "/metadata", findings)
    allocations = _allocations(
        store.ids, business, kind, params, counterparty_id, line_items, replacing, findings
    )
    findings.raise_any()
    date = params.get(kind.date_field)
    return {
        "id": credit_id,
        "external_id": params.get("external_id"),
        "counterparty_id": counterparty_id,
        # CONTRACT.md 4.5: the date defaults to the credit's creation time.
        "date": format_time(parse_date_time(date)) if date else created_at,  # type: ignore[arg-type]
        "line_items": line_items,
        "allocations": allocations,
        "tags": _tags(store, params.get("tags")),
        "memo": params.get("memo"),
        "metadata": params.get("metadata"),
        "reference_number": params.get("reference_number"),
        "created_at": created_at,
        "updated_at": created_at,
        "deleted_at": None,
    }


def _resolve_counterparty(
    business: Record, kind: CreditKind, params: Mapping[str, Any], findings: _Findings
) -> str:
    records = business[kind.counterparties]
    by_id = params.get(kind.counterparty_id)
    by_external = params.get(kind.counterparty_external_id)
    found_by_id = found_by_external = None
    if by_id is not None:
        found_by_id = by_id if by_id in records else None
        if found_by_id is None:
            findings.not_found(
                f"/{kind.counterparty_id}",
                f"{kind.counterparty_id} {by_id} names no {kind.counterparty} of this business.",
            )
    if by_external is not None:
        found_by_external = business["index"][f"{kind.counterparty}_external_ids"].get(by_external)
        if found_by_external is None:
            findings.not_found(
                f"/{kind.counterparty_external_id}",
                f"{kind.counterparty_external_id} {by_external!r} names no {kind.counterparty} "
                "of this business.",
            )
    if found_by_id and found_by_external and found_by_id != found_by_external:
        findings.bad(
            f"/{kind.counterparty_external_id}",
            f"{kind.counterparty_id} and {kind.counterparty_external_id} name different "
            f"{kind.counterparties}; give one of them, or two that name the same {kind.counterparty}.",
            "consistent",
        )
    return found_by_id or found_by_external or ""


def _resolve_account(
    business: Record, kind: CreditKind, identifier: Mapping[str, Any], i: int, findings: _Findings
) -> str:
    pointer = f"/line_items/{i}/{kind.account_field}"
    if identifier["type"] == "AccountId":
        if identifier["id"] in business["ledger_accounts"]:
            return str(identifier["id"])
        findings.not_found(
            f"{pointer}/id",
            f"ledger account {identifier['id']} does not exist in this business.",
        )
        return ""
    name = identifier["stable_name"]
    account_id = business["index"]["account_stable_names"].get(name)
    if account_id is None:
        known = ", ".join(sorted(business["index"]["account_stable_names"]))
        findings.not_found(
            f"{pointer}/stable_name",
            f"no ledger account of this business has the stable name {name!r}; known: {known}.",
        )
        return ""
    return str(account_id)


def _check_metadata(metadata: Any, pointer: str, findings: _Findings) -> None:
    if metadata is None:
        return
    size = len(orjson.dumps(metadata))
    if size > METADATA_LIMIT:
        findings.bad(
            pointer,
            f"metadata is {size} bytes as compact JSON; it may be at most {METADATA_LIMIT} bytes.",
            "maxSize",
        )


def _tags(store: Store, tags: Any) -> list[Record]:
    return [
        {
            "id": tag.get("_id") or store.ids.new(),
            "key": tag["key"],
            "value": tag["value"],
            "dimension_display_name": tag.get("dimension_display_name"),
            "value_display_name": tag.get("value_display_name"),
        }
        for tag in tags or ()
    ]


def _allocations(
    ids: IdFactory,
    business: Record,
    kind: CreditKind,
    params: Mapping[str, Any],
    counterparty_id: str,
    line_items: list[Record],
    replacing: Record | None,
    findings: _Findings,
) -> list[Record]:
    documents = business[kind.documents]
    total = sum(item["amount"] for item in line_items)
    # Balance available to this credit: what is outstanding plus what it already holds.
    given_back: dict[str, int] = {}
    if replacing is not None and replacing["deleted_at"] is None:
        for held in replacing["allocations"]:
            given_back[held["document_id"]] = given_back.get(held["document_id"], 0) + held["amount"]
    used: dict[str, int] = {}
    allocated = 0
    out = []
    for i, allocation in enumerate(params.get("allocations") or ()):
        pointer = f"/allocations/{i}"
        document_id = allocation[kind.document_id]
        amount = allocation["amount"]
        allocated += amount
        if allocated > total:
            findings.bad(
                f"{pointer}/amount",
                f"allocations add up to {allocated} cents by this one, more than the credit's "
                f"line items ({total} cents); lower the allocations or raise the line items.",
                "allocationTotal",
            )
        document = documents.get(document_id)
        if document is None:
            findings.not_found(
                f"{pointer}/{kind.document_id}",
                f"{kind.document_id} {document_id} names no {kind.document} of this business.",
            )
        elif counterparty_id and document[kind.counterparty_id] != counterparty_id:
            findings.bad(
                f"{pointer}/{kind.document_id}",
                f"{kind.document} {document_id} belongs to another {kind.counterparty}; a credit "
                f"can only be allocated to its own {kind.counterparty}'s {kind.documents}.",
                "sameCounterparty",
            )
        else:
            used[document_id] = used.get(document_id, 0) + amount
            available = document["outstanding_balance"] + given_back.get(document_id, 0)
            if used[document_id] > available:
                findings.bad(
                    f"{pointer}/amount",
                    f"{kind.document} {document_id} has {available} cents outstanding; "
                    f"allocating {used[document_id]} cents to it would take its balance below zero.",
                    "outstandingBalance",
                )
        out.append(
            {"id": allocation.get("_id") or ids.new(), "document_id": document_id, "amount": amount}
        )
    return out


def _move_balances(business: Record, kind: CreditKind, credit: Record, sign: int) -> None:
    documents = business[kind.documents]
    for allocation in credit["allocations"]:
        documents[allocation["document_id"]]["outstanding_balance"] += sign * allocation["amount"]


def store_credit(
    business: Record, kind: CreditKind, credit: Record, replacing: Record | None
) -> None:
    """Commit ``credit`` (checked by ``compose``): balances, external-id index, the record."""
    index = business["index"][f"{kind.collection[:-1]}_external_ids"]
    if replacing is not None:
        if replacing["deleted_at"] is None:
            _move_balances(business, kind, replacing, +1)
        if replacing["external_id"] is not None:
            index.pop(replacing["external_id"], None)
    if credit["deleted_at"] is None:
        _move_balances(business, kind, credit, -1)
        if credit["external_id"] is not None:
            index[credit["external_id"]] = credit["id"]
    business[kind.collection][credit["id"]] = credit


def as_params(kind: CreditKind, credit: Record) -> dict[str, Any]:
    """A stored credit in create-request shape, keeping child ids, as PATCH's starting point."""
    return {
        "external_id": credit["external_id"],
        kind.counterparty_id: credit["counterparty_id"],
        kind.date_field: credit["date"],
        "line_items": [
            {
                "_id": item["id"],
                "amount": item["amount"],
                kind.account_field: {"type": "AccountId", "id": item["account_id"]},
                "memo": item["memo"],
                "metadata": item["metadata"],
                "reference_number": item["reference_number"],
                "tags": [{**t, "_id": t["id"]} for t in item["tags"]],
            }
            for item in credit["line_items"]
        ],
        "allocations": [
            {"_id": a["id"], "amount": a["amount"], kind.document_id: a["document_id"]}
            for a in credit["allocations"]
        ],
        "tags": [{**t, "_id": t["id"]} for t in credit["tags"]],
        "memo": credit["memo"],
        "metadata": credit["metadata"],
        "reference_number": credit["reference_number"],
    }


# --------------------------------------------------------------------------- operations


def _credit_not_found(kind: CreditKind, credit_id: str) -> NotFound:
    param = f"{kind.counterparty}CreditId"
    return NotFound(
        Problem(
            f"{kind.label.capitalize()} not found: no {kind.label} {credit_id} in this business.",
            {"location": "path", "pointer": f"/{param}", "keyword": "exists"},
        )
    )


def _find_credit(business: Record, kind: CreditKind, call: Call) -> Record:
    credit_id = call.path[f"{kind.counterparty}CreditId"]
    credit = business[kind.collection].get(credit_id)
    if credit is None:
        raise _credit_not_found(kind, credit_id)
    return credit  # type: ignore[no-any-return]


def create(store: Store, kind: CreditKind, call: Call) -> Reply:
    """POST: 201 with a new credit, or 200 after updating the live credit with this external_id."""
    with store.transaction():
        business = find_business(store, call)
        params = call.body
        index = business["index"][f"{kind.collection[:-1]}_external_ids"]
        existing_id = index.get(params["external_id"]) if params.get("external_id") else None
        now = store.now()
        if existing_id is None:
            credit = compose(store, business, kind, params, credit_id=store.ids.new(), created_at=now)
            store_credit(business, kind, credit, None)
            return Reply(201, {"data": render_credit(business, kind, credit)})
        existing = business[kind.collection][existing_id]
        credit = compose(
            store, business, kind, params, credit_id=existing_id,
            created_at=existing["created_at"], replacing=existing,
        )
        credit["updated_at"] = now
        store_credit(business, kind, credit, existing)
        return Reply(200, {"data": render_credit(business, kind, credit)})


def fetch(store: Store, kind: CreditKind, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        credit = _find_credit(business, kind, call)
        return Reply(200, {"data": render_credit(business, kind, credit)})


def update(store: Store, kind: CreditKind, call: Call) -> Reply:
    """PATCH: present fields replace, arrays whole, null clears; every rule re-checked."""
    with store.transaction():
        business = find_business(store, call)
        existing = _find_credit(business, kind, call)
        if existing["deleted_at"] is not None:
            raise BadRequest(
                Problem(
                    f"{kind.label} {existing['id']} was deleted at {existing['deleted_at']}; a "
                    "deleted credit cannot be updated. Create a new one instead.",
                    {"location": "path", "pointer": f"/{kind.counterparty}CreditId",
                     "keyword": "deleted"},
                )
            )
        params = as_params(kind, existing)
        changes = dict(call.body)
        if kind.counterparty_id in changes or kind.counterparty_external_id in changes:
            params.pop(kind.counterparty_id, None)
        for key, value in changes.items():
            params[key] = [] if key == "tags" and value is None else value
        external_id = params.get("external_id")
        holder = business["index"][f"{kind.collection[:-1]}_external_ids"].get(external_id)
        if external_id is not None and holder not in (None, existing["id"]):
            raise BadRequest(
                Problem(
                    f"external_id {external_id!r} is already used by live {kind.label} {holder}; "
                    "choose another, or delete that credit first.",
                    {"location": "body", "pointer": "/external_id", "keyword": "unique"},
                )
            )
        credit = compose(
            store, business, kind, params, credit_id=existing["id"],
            created_at=existing["created_at"], replacing=existing,
        )
        credit["updated_at"] = store.now()
        store_credit(business, kind, credit, existing)
        return Reply(200, {"data": render_credit(business, kind, credit)})


def delete(store: Store, kind: CreditKind, call: Call) -> Reply:
    """Soft delete: set deleted_at once, give the allocated balances back, free the external_id."""
    with store.transaction():
        business = find_business(store, call)
        credit = _find_credit(business, kind, call)
        if credit["deleted_at"] is None:
            now = store.now()
            soft_delete(business, kind, credit, now)
        return Reply(200, {"data": render_credit(business, kind, credit)})


def soft_delete(business: Record, kind: CreditKind, credit: Record, when: str) -> None:
    _move_balances(business, kind, credit, +1)
    index = business["index"][f"{kind.collection[:-1]}_external_ids"]
    if credit["external_id"] is not None and index.get(credit["external_id"]) == credit["id"]:
        del index[credit["external_id"]]
    credit["deleted_at"] = when
    credit["updated_at"] = when


# --------------------------------------------------------------------------- listing


def list_credits(store: Store, kind: CreditKind, call: Call) -> Reply:
    """GET list: filters, then keyset pagination over (sort key, id)."""
    query = call.query
    sort_by = query.get("sort_by", "created_at")
    descending = query.get("sort_order", "ASC") == "DESC"
    limit = query.get("limit", 100)
    after = _decode_cursor(query.get("cursor"), sort_by, descending)
    with store.transaction():
        business = find_business(store, call)
        matches = _filter(kind, business[kind.collection].values(), query)
        field = "created_at" if sort_by == "created_at" else "date"

        def key(credit: Record) -> tuple[str, str]:
            return (sortable_time(credit[field]), credit["id"])

        matches.sort(key=key, reverse=descending)
        if after is not None:
            matches = [c for c in matches if (key(c) < after if descending else key(c) > after)]
        page = matches[:limit]
        has_more = len(matches) > limit
        pagination: Record = {
            "cursor": _encode_cursor(key(page[-1]), sort_by, descending) if has_more else None,
            "has_more": has_more,
        }
        if query.get("show_total_count"):
            pagination["total_count"] = len(
                _filter(kind, business[kind.collection].values(), query)
            )
        data = [render_credit(business, kind, c) for c in page]
    return Reply(200, {"data": data, "meta": {"pagination": pagination}})


def _filter(kind: CreditKind, credits: Any, query: Mapping[str, Any]) -> list[Record]:
    start, end = _date_bounds(kind, query)
    counterparty = query.get(kind.counterparty_id)
    memo = query.get("memo")
    memo_contains = (query.get("memo_contains") or "").casefold()
    reference = query.get("reference_number")
    references = (
        {r.strip() for r in query["reference_numbers"].split(",") if r.strip()}
        if query.get("reference_numbers") is not None
        else None
    )
    include_deleted = query.get("include_deleted", False)
    out = []
    for credit in credits:
        if credit["deleted_at"] is not None and not include_deleted:
            continue
        if counterparty is not None and credit["counterparty_id"] != counterparty:
            continue
        when = sortable_time(credit["date"])
        if (start is not None and when < start) or (end is not None and when >= end):
            continue
        if memo is not None and credit["memo"] != memo:
            continue
        if memo_contains and memo_contains not in (credit["memo"] or "").casefold():
            continue
        if reference is not None and credit["reference_number"] != reference:
            continue
        if references is not None and credit["reference_number"] not in references:
            continue
        out.append(credit)
    return out


def _date_bounds(kind: CreditKind, query: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Inclusive start and exclusive end as sortable strings; a bare end date covers its day."""
    start = end = None
    raw_start = query.get(f"{kind.date_field}_start")
    raw_end = query.get(f"{kind.date_field}_end")
    if raw_start is not None:
        day = parse_date(raw_start)
        moment = parse_date_time(raw_start)
        start = sortable_time(day.isoformat() + "T00:00:00Z" if day else format_time(moment))  # type: ignore[arg-type]
    if raw_end is not None:
        day = parse_date(raw_end)
        if day is not None:
            end = sortable_time((day + timedelta(days=1)).isoformat() + "T00:00:00Z")
        else:
            moment = parse_date_time(raw_end)
            end = sortable_time(format_time(moment + timedelta(microseconds=1)))  # type: ignore[operator]
    if start is not None and end is not None and start >= end:
        raise BadRequest(
            Problem(
                f"{kind.date_field}_start is after {kind.date_field}_end; swap them.",
                {"location": "query", "pointer": f"/{kind.date_field}_start", "keyword": "range"},
            )
        )
    return start, end


def _encode_cursor(key: tuple[str, str], sort_by: str, descending: bool) -> str:
    raw = orjson.dumps([key[0], key[1], sort_by, "DESC" if descending else "ASC"])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None, sort_by: str, descending: bool) -> tuple[str, str] | None:
    if not cursor:  # absent or empty: the first page
        return None
    meta = {"location": "query", "pointer": "/cursor", "keyword": "cursor"}
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, credit_id, cursor_sort, cursor_order = orjson.loads(raw)
        if not (isinstance(stamp, str) and isinstance(credit_id, str)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest(
            Problem(
                "cursor is not one this sandbox issued; pass meta.pagination.cursor from the "
                "previous page unchanged, or omit it for the first page.",
                meta,
            )
        ) from None
    if cursor_sort != sort_by or cursor_order != ("DESC" if descending else "ASC"):
        raise BadRequest(
            Problem(
                f"cursor was issued for sort_by={cursor_sort}&sort_order={cursor_order}; keep "
                "sort_by and sort_order the same while paging.",
                meta,
            )
        )
    return stamp, credit_id


def behaviours(store: Store) -> dict[str, Behaviour]:
    """Behaviours by operationId for both kinds."""
    table: dict[str, Behaviour] = {}
    for kind in KINDS:
        for suffix, action in (
            ("post", create), ("get", list_credits), ("get_one", fetch),
            ("patch", update), ("delete", delete),
        ):
            table[f"{kind.operation_prefix}.{suffix}"] = (
                lambda call, action=action, kind=kind: action(store, kind, call)
            )
    return table
