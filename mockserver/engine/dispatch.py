"""What a behaviour receives (``Call``) and returns (``Reply``); the business and record lookups
they share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFound, Problem
from .store import Record, Store


# Call and Reply are values: made once and never changed. They are not frozen dataclasses
# only because a request makes three of them, and a frozen one costs twice the time to make
# (4% of a fetch's instructions, bench/README.md).
@dataclass(slots=True)
class Call:
    """A request that passed the contract checks: coerced parameters and decoded body."""

    operation_id: str
    path: Mapping[str, Any]
    query: Mapping[str, Any]
    body: Any
    token: str | None = None
    #: Business ids the bearer token may use; None means any business.
    token_businesses: frozenset[str] | None = None
    #: The body's JSON text as sent, when ``body`` was decoded from it (the journal keeps it).
    body_json: bytes | None = None


@dataclass(slots=True)
class Reply:
    status: int
    body: Any  # a JSON value; for other media types, the text or bytes to send
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = "application/json"
    #: The behaviour checked ``body`` against the document's schema for this status and
    #: media type already (and it fits): the sandbox need not check it a second time.
    checked: bool = field(default=False, compare=False)


Behaviour = Callable[[Call], Reply]


def find_business(store: Store, call: Call) -> Record:
    """The business named in the path, or the 404 Layer gives for an unknown business.

    A token bound to other businesses gets exactly the same 404, so it learns nothing.
    """
    business_id = call.path["businessId"]
    business = store.business(business_id)
    allowed = call.token_businesses
    if business is None or (allowed is not None and business_id not in allowed):
        raise NotFound(
            Problem(
                f"Business not found: no business {business_id} is visible to this token.",
                {"location": "path", "pointer": "/businessId", "keyword": "exists"},
            )
        )
    return business


def find_record(business: Record, collection: str, label: str, param: str, call: Call) -> Record:
    """The record of ``business[collection]`` whose id is the path parameter ``param``, or the 404
    naming it as a ``label`` (``Invoice not found: no invoice … in this business.``)."""
    record_id = call.path[param]
    record = business[collection].get(record_id)
    if record is None:
        raise NotFound(
            Problem(
                f"{label.capitalize()} not found: no {label} {record_id} in this business.",
                {"location": "path", "pointer": f"/{param}", "keyword": "exists"},
            )
        )
    return record  # type: ignore[no-any-return]
