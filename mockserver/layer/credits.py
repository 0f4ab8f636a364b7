"""The credit rules (the document's descriptions and the README's decisions), one
implementation for customer and vendor credits.

Every function takes a ``CreditKind`` naming what differs between the two kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import orjson

from ..engine.dispatch import Behaviour, Call, Reply, find_business, find_record
from ..engine.schemas import parse_date_time
from ..engine.store import UNIQUE_FIELDS, IdFactory, Record, Store, format_time
from ..errors import BadRequest, NotFound, Problem
from .balances import hold, takes
from .kinds import KINDS, CreditKind
from .listing import index_credit, list_credits
from .render import render_credit
from .tags import stored_tags

METADATA_LIMIT = 1024  # bytes of compact JSON (the published pages say 1 KB and 10 KB; README)


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
    ids: IdFactory,
    business: Record,
    kind: CreditKind,
    params: Mapping[str, Any],
    *,
    credit_id: str,
    created_at: str,
    replacing: Record | None = None,
) -> Record:
    """Check ``params`` (create-request shape) against every rule and build the stored credit.

    New child ids (line items, allocations, tags) come from ``ids``. Raises
    ``NotFound``/``BadRequest`` listing every problem; changes nothing. ``replacing`` is
    the live credit being updated, whose allocations are given back before balances are checked.
    """
    findings = _Findings()
    current = replacing["counterparty_id"] if replacing is not None else None
    counterparty_id = _resolve_counterparty(business, kind, params, findings, current)
    line_items = []
    for i, item in enumerate(params["line_items"]):
        account_id = _resolve_account(business, kind, item[kind.account_field], i, findings)
        _check_metadata(item.get("metadata"), f"/line_items/{i}/metadata", findings)
        line_items.append(
            {
                "id": item.get("_id") or ids.new(),
                "account_id": account_id,
                # JSON Schema counts 1e3 and 1000.0 as integers: store cents as int all the same.
                "amount": int(item["amount"]),
                "memo": item.get("memo"),
                "metadata": item.get("metadata"),
                "reference_number": item.get("reference_number"),
                "tags": stored_tags(ids, item.get("tags")),
            }
        )
    _check_metadata(params.get("metadata"), "/metadata", findings)
    allocations = _allocations(
        ids, business, kind, params, counterparty_id, line_items, replacing, findings
    )
    findings.raise_any()
    date = params.get(kind.date_field)
    return {
        "id": credit_id,
        "external_id": params.get("external_id"),
        "counterparty_id": counterparty_id,
        # The date defaults to the credit's creation time (README, "Times").
        "date": format_time(parse_date_time(date)) if date else created_at,  # type: ignore[arg-type]
        "line_items": line_items,
        "allocations": allocations,
        "tags": stored_tags(ids, params.get("tags")),
        "memo": params.get("memo"),
        "metadata": params.get("metadata"),
        "reference_number": params.get("reference_number"),
        "created_at": created_at,
        "updated_at": created_at,
        "deleted_at": None,
    }


def _canonical_id(value: Any) -> Any:
    """A UUID as stored: lower case (UUIDs are case-insensitive on input, RFC 9562)."""
    return value.lower() if isinstance(value, str) else value


def _resolve_counterparty(
    business: Record,
    kind: CreditKind,
    params: Mapping[str, Any],
    findings: _Findings,
    current: str | None = None,
) -> str:
    records = business[kind.counterparties]
    by_id = _canonical_id(params.get(kind.counterparty_id))
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
        _, index = UNIQUE_FIELDS[kind.counterparties]
        found_by_external = business["index"][index].get(by_external)
        if found_by_external is None:
            findings.not_found(
                f"/{kind.counterparty_external_id}",
                f"{kind.counterparty_external_id} {by_external!r} names no {kind.counterparty} "
                "of this business.",
            )
    found = found_by_id or found_by_external
    if found and records[found].get("status") == "ARCHIVED" and found != current:
        findings.bad(
            f"/{kind.counterparty_id if found_by_id else kind.counterparty_external_id}",
            f"{kind.counterparty} {found} is archived; a new credit for an archived "
            f"{kind.counterparty} is refused. Set its status back to ACTIVE first.",
            "archived",
        )
    if found_by_id and found_by_external and found_by_id != found_by_external:
        findings.bad(
            f"/{kind.counterparty_external_id}",
            f"{kind.counterparty_id} and {kind.counterparty_external_id} name different "
            f"{kind.counterparties}; give one of them, or two naming the same {kind.counterparty}.",
            "consistent",
        )
    return found_by_id or found_by_external or ""


def _resolve_account(
    business: Record, kind: CreditKind, identifier: Mapping[str, Any], i: int, findings: _Findings
) -> str:
    pointer = f"/line_items/{i}/{kind.account_field}"
    if identifier["type"] == "AccountId":
        if _canonical_id(identifier["id"]) in business["ledger_accounts"]:
            return str(_canonical_id(identifier["id"]))
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
            given_back[held["document_id"]] = (
                given_back.get(held["document_id"], 0) + held["amount"]
            )
    used: dict[str, int] = {}
    allocated = 0
    out = []
    for i, allocation in enumerate(params.get("allocations") or ()):
        pointer = f"/allocations/{i}"
        document_id = _canonical_id(allocation[kind.document_id])
        amount = int(allocation["amount"])
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
            reason = takes(
                document,
                kind.document,
                used[document_id],
                given_back=given_back.get(document_id, 0),
            )
            if reason is not None:
                findings.bad(f"{pointer}/amount", reason, "outstandingBalance")
        out.append(
            {"id": allocation.get("_id") or ids.new(), "document_id": document_id, "amount": amount}
        )
    return out


def _move_balances(business: Record, kind: CreditKind, credit: Record, sign: int) -> None:
    """Apply (-1) or give back (+1) the credit's allocations through the one balance ledger."""
    documents = business[kind.documents]
    for allocation in credit["allocations"]:
        hold(
            documents[allocation["document_id"]],
            kind.documents,
            credited=-sign * allocation["amount"],
        )


def store_credit(
    business: Record, kind: CreditKind, credit: Record, replacing: Record | None
) -> None:
    """Commit ``credit`` (checked by ``compose``): balances, external-id index, the record."""
    index = business["index"][kind.external_id_index]
    if replacing is not None:
        if replacing["deleted_at"] is None:
            _move_balances(business, kind, replacing, +1)
        if replacing["external_id"] is not None:
            index.pop(replacing["external_id"], None)
    if credit["deleted_at"] is None:
        _move_balances(business, kind, credit, -1)
        if credit["external_id"] is not None:
            index[credit["external_id"]] = credit["id"]
    index_credit(business, kind, credit, replacing)
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


def _find_credit(business: Record, kind: CreditKind, call: Call) -> Record:
    return find_record(business, kind.collection, kind.label, kind.path_param, call)


def create(store: Store, kind: CreditKind, call: Call) -> Reply:
    """POST: 201 with a new credit, or 200 after updating the live credit with this external_id."""
    with store.transaction():
        business = find_business(store, call)
        params = call.body
        index = business["index"][kind.external_id_index]
        existing_id = index.get(params["external_id"]) if params.get("external_id") else None
        if existing_id is None:
            credit = compose(
                store.ids, business, kind, params, credit_id=store.ids.new(), created_at=store.now()
            )
            store_credit(business, kind, credit, None)
            _announce(store, business, kind, credit, "created")
            return Reply(201, {"data": render_credit(business, kind, credit)})
        return _replace(store, business, kind, business[kind.collection][existing_id], params)


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
                    {
                        "location": "path",
                        "pointer": f"/{kind.path_param}",
                        "keyword": "deleted",
                    },
                )
            )
        params = as_params(kind, existing)
        changes = dict(call.body)
        if kind.counterparty_id in changes or kind.counterparty_external_id in changes:
            params.pop(kind.counterparty_id, None)
        for key, value in changes.items():
            params[key] = [] if key == "tags" and value is None else value
        external_id = params.get("external_id")
        holder = business["index"][kind.external_id_index].get(external_id)
        if external_id is not None and holder not in (None, existing["id"]):
            raise BadRequest(
                Problem(
                    f"external_id {external_id!r} is already used by live {kind.label} {holder}; "
                    "choose another, or delete that credit first.",
                    {"location": "body", "pointer": "/external_id", "keyword": "unique"},
                )
            )
        try:
            return _replace(store, business, kind, existing, params)
        except (BadRequest, NotFound) as exc:
            raise type(exc)([_about_stored(p, changes) for p in exc.problems]) from None


def _about_stored(problem: Problem, changes: Mapping[str, Any]) -> Problem:
    """A problem with a stored value the PATCH did not send, said as such.

    Lowering ``line_items`` can leave a stored allocation too large: its pointer
    (``/allocations/0/amount``) is not in the request, so the answer says that the stored value
    no longer fits, points at the whole body, and keeps the stored value's place in
    ``meta.stored_pointer``.
    """
    pointer = str(problem.meta.get("pointer", ""))
    field = pointer.split("/")[1] if pointer.count("/") >= 1 else ""
    if not field or field in changes:
        return problem
    return Problem(
        f"The credit's stored {field} (not in this PATCH; {pointer} of the credit) no longer "
        f"fit after this update: {problem.description} Send `{field}` in the same PATCH with "
        "values that fit, or change the update so that the stored ones still do.",
        {**problem.meta, "pointer": "", "stored_pointer": pointer},
    )


def _replace(
    store: Store, business: Record, kind: CreditKind, existing: Record, params: Mapping[str, Any]
) -> Reply:
    """Replace a live credit by ``params`` (checked in full), keeping its id and creation time."""
    credit = compose(
        store.ids,
        business,
        kind,
        params,
        credit_id=existing["id"],
        created_at=existing["created_at"],
        replacing=existing,
    )
    credit["updated_at"] = store.now()
    store_credit(business, kind, credit, existing)
    _announce(store, business, kind, credit, "updated")
    return Reply(200, {"data": render_credit(business, kind, credit)})


def delete(store: Store, kind: CreditKind, call: Call) -> Reply:
    """Soft delete: set deleted_at once, give the allocated balances back, free the external_id."""
    with store.transaction():
        business = find_business(store, call)
        credit = _find_credit(business, kind, call)
        if credit["deleted_at"] is None:
            soft_delete(business, kind, credit, store.now())
            _announce(store, business, kind, credit, "archived")  # not again on a repeat
        return Reply(200, {"data": render_credit(business, kind, credit)})


def _announce(
    store: Store, business: Record, kind: CreditKind, credit: Record, action: str
) -> None:
    """An event for webhooks; only public operations announce (fixtures and seeding do not)."""
    store.emit(kind.entity, action, business["business"]["id"], credit["id"], credit["external_id"])


def soft_delete(business: Record, kind: CreditKind, credit: Record, when: str) -> None:
    _move_balances(business, kind, credit, +1)
    index = business["index"][kind.external_id_index]
    if credit["external_id"] is not None and index.get(credit["external_id"]) == credit["id"]:
        del index[credit["external_id"]]
    credit["deleted_at"] = when
    credit["updated_at"] = when


def behaviours(store: Store) -> dict[str, Behaviour]:
    """Behaviours by operationId for both kinds."""
    table: dict[str, Behaviour] = {}
    for kind in KINDS:
        for suffix, action in (
            ("post", create),
            ("get", list_credits),
            ("get_one", fetch),
            ("patch", update),
            ("delete", delete),
        ):
            table[f"{kind.operation_prefix}.{suffix}"] = partial(action, store, kind)
    return table
