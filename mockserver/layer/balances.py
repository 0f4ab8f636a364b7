"""The one ledger of invoice and bill balances.

Payments and credit allocations change a document's balance only through ``hold``; its
``outstanding_balance`` and ``status`` are always derived here by ``settle``, never set by hand,
so they agree whichever endpoint (payments, credits, voiding, updates) changed them.
"""

from __future__ import annotations

from ..engine.store import Record
from ..errors import Problem

#: The status of a document nothing has been paid or credited on, by collection.
OPEN_STATUS = {"invoices": "SENT", "bills": "RECEIVED"}


def outstanding_balance(document: Record) -> int:
    """``total_amount - payments allocated - live credit allocations``; 0 once voided."""
    if document.get("voided_at"):
        return 0
    return int(document["total_amount"] - document["paid_amount"] - document["credited_amount"])


def derived_status(document: Record, collection: str) -> str:
    """``VOIDED``, ``PAID`` (balance 0), ``PARTIALLY_PAID``, or the open status."""
    if document.get("voided_at"):
        return "VOIDED"
    if outstanding_balance(document) == 0:
        return "PAID"
    if document["paid_amount"] or document["credited_amount"]:
        return "PARTIALLY_PAID"
    return OPEN_STATUS[collection]


def settle(document: Record, collection: str) -> None:
    """Write the derived ``outstanding_balance`` and ``status`` onto the stored document."""
    document["outstanding_balance"] = outstanding_balance(document)
    document["status"] = derived_status(document, collection)


def hold(document: Record, collection: str, *, paid: int = 0, credited: int = 0) -> None:
    """Move what payments (``paid``) and credits (``credited``) hold on ``document``, in cents
    (negative gives an amount back), then settle it. Callers check with ``takes`` first."""
    document["paid_amount"] += paid
    document["credited_amount"] += credited
    settle(document, collection)


def held(document: Record) -> int:
    """What payments and live credit allocations hold on ``document``."""
    return int(document["paid_amount"] + document["credited_amount"])


def takes(document: Record, label: str, amount: int, *, given_back: int = 0) -> str | None:
    """Why ``document`` cannot take ``amount`` more cents of payment or credit, or None.

    ``given_back``: what the change being checked releases first (a credit's old allocations).
    """
    if document.get("voided_at"):
        return (
            f"{label} {document['id']} was voided at {document['voided_at']}; a voided {label} "
            "takes no payments or credit allocations."
        )
    available = outstanding_balance(document) + given_back
    if amount > available:
        return (
            f"{label} {document['id']} has {available} cents outstanding; applying {amount} "
            f"cents would overpay it. Apply at most {available} cents."
        )
    return None


def body_problem(pointer: str, description: str, keyword: str) -> Problem:
    return Problem(description, {"location": "body", "pointer": pointer, "keyword": keyword})
