"""Listing credits: filters and keyset pagination with opaque cursors (the list operations'
descriptions in openapi/layer-credits.yaml)."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson

from ..engine.dispatch import Call, Reply, find_business
from ..engine.schemas import is_uuid, parse_date, parse_date_time
from ..engine.store import Record, Store, format_time, sortable_time
from ..errors import BadRequest, Problem
from .kinds import CreditKind
from .render import render_credit


def list_credits(store: Store, kind: CreditKind, call: Call) -> Reply:
    """GET list: keyset pagination over (sort key, id), walking a kept ordering from the cursor.

    Only the credits up to the page's end are looked at (and only the page is rendered), so a
    page costs about the same with 100 credits stored as with 100,000: no sort per request.
    """
    query = call.query
    sort_by = query.get("sort_by", "created_at")
    descending = query.get("sort_order", "ASC") == "DESC"
    limit = query.get("limit", 100)
    after = _decode_cursor(query.get("cursor"), sort_by, descending)
    with store.transaction():
        business = find_business(store, call)
        matches = _matcher(kind, query)
        field = "created_at" if sort_by == "created_at" else "date"
        credits = business[kind.collection]
        order = business["index"].get(_ordering_name(kind, field))
        if order is None or not _covers(order, credits):  # e.g. an old snapshot: sort, keep none
            order = _sorted_keys(credits.values(), field)
        if descending:  # keys below the cursor's, largest first
            stop = len(order) if after is None else bisect_left(order, _key(*after))
            positions: range = range(stop - 1, -1, -1)
        else:  # keys above the cursor's
            positions = range(0 if after is None else bisect_right(order, _key(*after)), len(order))
        page: list[Record] = []
        has_more = False
        for position in positions:
            credit = credits.get(order[position].partition(_SEPARATOR)[2])
            if credit is not None and matches(credit):
                if len(page) == limit:
                    has_more = True
                    break
                page.append(credit)
        pagination: Record = {
            "cursor": _encode_cursor(
                (sortable_time(page[-1][field]), page[-1]["id"]), sort_by, descending
            )
            if has_more
            else None,
            "has_more": has_more,
        }
        if query.get("show_total_count"):
            pagination["total_count"] = sum(1 for c in credits.values() if matches(c))
        shared: dict[tuple[str, str], Record] = {}
        data = [render_credit(business, kind, c, shared) for c in page]
    return Reply(200, {"data": data, "meta": {"pagination": pagination}})


#: Credit fields a list can be sorted by (``sort_by=created_at``, ``sent_at``/``received_at``).
_SORT_FIELDS = ("created_at", "date")


def _ordering_name(kind: CreditKind, field: str) -> str:
    return f"{kind.collection}_by_{field}"


#: Between the sortable time and the id in an ordering key. No stamp is a prefix of another
#: (each ends at its only "Z" or its offset), so keys sort exactly as (time, id) pairs do. One
#: string per credit rather than a pair: strings are not tracked by the garbage collector, and
#: 100,000 credits would otherwise add 200,000 lists to every full collection.
_SEPARATOR = " "


def _key(stamp: str, credit_id: str) -> str:
    return f"{stamp}{_SEPARATOR}{credit_id}"


def _credit_key(credit: Record, field: str) -> str:
    return _key(sortable_time(credit[field]), credit["id"])


def _sorted_keys(credits: Iterable[Record], field: str) -> list[str]:
    return sorted(_credit_key(c, field) for c in credits)


def _covers(order: list[str], credits: Mapping[str, Record]) -> bool:
    """A cheap consistency check: one key per credit, and the ends name stored credits."""
    if len(order) != len(credits):
        return False
    if not order:
        return True
    first, last = order[0], order[-1]
    return (
        isinstance(first, str)
        and isinstance(last, str)
        and first.partition(_SEPARATOR)[2] in credits
        and last.partition(_SEPARATOR)[2] in credits
    )


def index_credit(
    business: Record, kind: CreditKind, credit: Record, replacing: Record | None
) -> None:
    """Keep the list orderings of ``kind`` in step with ``credit``, about to be stored.

    Each ordering holds the key (sortable time, id) of every credit of the kind, sorted, in the
    business index beside the external ids (so snapshots and resets carry it): a list walks it
    from the cursor instead of sorting every credit on every request.
    """
    index = business["index"]
    credits = business[kind.collection]
    for field in _SORT_FIELDS:
        name = _ordering_name(kind, field)
        order: list[str] | None = index.get(name)
        if order is None or not _covers(order, credits):
            order = index[name] = _sorted_keys(credits.values(), field)
        if replacing is not None and replacing["id"] in credits:
            if replacing[field] == credit[field] and replacing["id"] == credit["id"]:
                continue
            old = _credit_key(replacing, field)
            at = bisect_left(order, old)
            if at < len(order) and order[at] == old:
                del order[at]
        insort(order, _credit_key(credit, field))


def _matcher(kind: CreditKind, query: Mapping[str, Any]) -> Callable[[Record], bool]:
    """Whether a credit passes the list filters; raises 400 for an empty date range."""
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

    def matches(credit: Record) -> bool:
        if credit["deleted_at"] is not None and not include_deleted:
            return False
        if counterparty is not None and credit["counterparty_id"] != counterparty:
            return False
        if start is not None or end is not None:
            when = sortable_time(credit["date"])
            if (start is not None and when < start) or (end is not None and when >= end):
                return False
        if memo is not None and credit["memo"] != memo:
            return False
        if memo_contains and memo_contains not in (credit["memo"] or "").casefold():
            return False
        if reference is not None and credit["reference_number"] != reference:
            return False
        return references is None or credit["reference_number"] in references

    return matches


def _date_bounds(kind: CreditKind, query: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Inclusive start and exclusive end as sortable strings; a bare end date covers its day."""
    raw_start = query.get(f"{kind.date_field}_start")
    raw_end = query.get(f"{kind.date_field}_end")
    start = None if raw_start is None else _bound(raw_start, end=False)
    end = None if raw_end is None else _bound(raw_end, end=True)
    if start is not None and end is not None and start >= end:
        raise BadRequest(
            Problem(
                f"{kind.date_field}_start is after {kind.date_field}_end; swap them.",
                {"location": "query", "pointer": f"/{kind.date_field}_start", "keyword": "range"},
            )
        )
    return start, end


def _bound(raw: str, *, end: bool) -> str:
    # The schema admits only a date or a date-time here, so one of the parses succeeds.
    day = parse_date(raw)
    if day is not None:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        step = timedelta(days=1)
    else:
        moment = cast(datetime, parse_date_time(raw))
        step = timedelta(microseconds=1)
    if not end:
        return sortable_time(format_time(moment))
    try:
        return sortable_time(format_time(moment + step))
    except OverflowError:  # the end of year 9999: nothing can be later
        return "9999-12-31T23:59:59.999999Z~"


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
        if not (
            isinstance(stamp, str)
            and isinstance(credit_id, str)
            and parse_date_time(stamp) is not None
            and is_uuid(credit_id)
        ):
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
