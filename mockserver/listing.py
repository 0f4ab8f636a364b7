"""Listing credits: filters (CONTRACT.md 4.10) and keyset pagination with opaque cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson

from .dispatch import Call, Reply, find_business
from .errors import BadRequest, Problem
from .kinds import CreditKind
from .render import render_credit
from .schemas import is_uuid, parse_date, parse_date_time
from .store import Record, Store, format_time, sortable_time


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
