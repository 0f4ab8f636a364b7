"""Test controls under ``/_sandbox``: snapshot and restore, seeding, journal, clock, ids, faults."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

import orjson

from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.schemas import parse_date_time
from ..engine.spec import Operation
from ..engine.store import Record, Store, format_time
from ..errors import BadRequest, FixtureError, NotFound, Problem
from ..layer.control import state_view
from ..layer.fixtures import (
    delete_record,
    find_record,
    list_records,
    record_defaults,
    record_violations,
    seed_record,
    update_record,
)
from .faults import Scenarios
from .journal import Journal

SNAPSHOT_FORMAT = "layer-sandbox-snapshot/1"
#: What ``POST /_sandbox/clock`` ``advance`` takes, as in the plugin's ``advance_time``.
ADVANCE_UNITS = ("days", "hours", "minutes", "seconds")
MAX_ADVANCE = timedelta(days=3650)


def snapshot_document(store: Store) -> dict[str, Any]:
    """The whole state as the JSON document ``restore`` takes back."""
    return {"format": SNAPSHOT_FORMAT, **orjson.loads(store.snapshot())}


def restore_document(store: Store, document: Mapping[str, Any]) -> None:
    """Load a snapshot, as ``GET /_sandbox/snapshot`` answered it (``{"data": ...}``) or its
    ``data`` alone; one the sandbox cannot read leaves the state as it was (400)."""
    if set(document) == {"data"} and isinstance(document["data"], Mapping):
        document = document["data"]
    previous = store.snapshot()
    store.restore(
        orjson.dumps(
            {"businesses": document["businesses"], "resources": document.get("resources") or {}}
        )
    )
    try:
        state_view(store)  # renders every record: proves the snapshot is readable
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        store.restore(previous)
        raise BadRequest(
            Problem(
                f"the snapshot cannot be read ({type(exc).__name__}: {exc}); pass what "
                "GET /_sandbox/snapshot answered, unchanged.",
                {"location": "body", "pointer": "/businesses", "keyword": "snapshot"},
            )
        ) from None


def _raise_violations(violations: list[tuple[str, str]]) -> None:
    """Every schema violation of a record, each with its pointer, as one 400."""
    if violations:
        raise BadRequest(
            [
                Problem(
                    f"body {pointer or '/'}: {message}",
                    {"location": "body", "pointer": pointer, "keyword": "record"},
                )
                for pointer, message in violations
            ]
        )


def _record_error(exc: FixtureError, keyword: str = "record") -> BadRequest:
    where = (
        {"location": "path", "pointer": "/id"}
        if keyword == "referenced"
        else {"location": "body", "pointer": exc.pointer or ""}
    )
    return BadRequest(Problem(f"{exc}.", {**where, "keyword": keyword}))


def _no_record(call: Call) -> NotFound:
    collection, record_id = call.path["collection"], call.path["id"]
    return NotFound(
        Problem(
            f"no {collection} record {record_id}; GET /_sandbox/records/{collection} lists them.",
            {"location": "path", "pointer": "/id", "keyword": "exists"},
        )
    )


def check_rule(rule: Mapping[str, Any], operations: Mapping[str, Operation]) -> None:
    """A scenario must name a public operation and only statuses it documents as errors."""
    operation_id = rule.get("operation_id", "*")
    if operation_id != "*" and operation_id not in operations:
        raise BadRequest(
            Problem(
                f"operation_id {operation_id!r} is not an operation of the contract; use one of: "
                f"*, {', '.join(sorted(operations))}.",
                {"location": "body", "pointer": "/operation_id", "keyword": "enum"},
            )
        )
    targets = operations.values() if operation_id == "*" else [operations[operation_id]]
    for status in [rule.get("status", 503), *rule.get("statuses", [])]:
        missing = [op.operation_id for op in targets if str(status) not in op.responses]
        if missing:
            raise BadRequest(
                Problem(
                    f"status {status} is not documented for {', '.join(missing)}; a forced "
                    "answer must be one the contract declares.",
                    {"location": "body", "pointer": "/status", "keyword": "documented"},
                )
            )


def behaviours(
    store: Store,
    journal: Journal,
    scenarios: Scenarios,
    schema_document: Mapping[str, Any],
    operations: Mapping[str, Operation],
) -> dict[str, Behaviour]:
    """Behaviours by operationId; ``operations`` are the public ones faults may target."""

    def snapshot(call: Call) -> Reply:
        return Reply(200, {"data": snapshot_document(store)})

    def restore(call: Call) -> Reply:
        restore_document(store, call.body)
        return Reply(200, {"data": {"done": True}})

    def seed(call: Call) -> Reply:
        collection = call.path["collection"]
        first_business = next(iter(store.businesses), None)
        record = record_defaults(store, collection, call.body, schema_document, first_business)
        _raise_violations(record_violations(collection, record, schema_document))
        try:
            stored = seed_record(store, collection, record, schema_document)
        except FixtureError as exc:
            raise _record_error(exc) from None
        return Reply(201, {"data": stored})

    def _record(call: Call) -> Record:
        record = find_record(store, call.path["collection"], call.path["id"])
        if record is None:
            raise _no_record(call)
        return record

    def records_list(call: Call) -> Reply:
        records = list_records(store, call.path["collection"], call.query.get("business_id"))
        return Reply(200, {"data": records})

    def records_get(call: Call) -> Reply:
        return Reply(200, {"data": _record(call)})

    def records_patch(call: Call) -> Reply:
        collection, record_id = call.path["collection"], call.path["id"]
        merged = {**_record(call), **call.body}
        _raise_violations(record_violations(collection, merged, schema_document))
        try:
            record = update_record(store, collection, record_id, call.body, schema_document)
        except KeyError:
            raise _no_record(call) from None
        except FixtureError as exc:
            raise _record_error(exc) from None
        return Reply(200, {"data": record})

    def records_delete(call: Call) -> Reply:
        try:
            record = delete_record(store, call.path["collection"], call.path["id"])
        except KeyError:
            raise _no_record(call) from None
        except FixtureError as exc:
            raise _record_error(exc, keyword="referenced") from None
        return Reply(200, {"data": record})

    def journal_list(call: Call) -> Reply:
        entries = journal.entries(
            operation_id=call.query.get("operation_id"),
            status=call.query.get("status"),
            business_id=call.query.get("business_id"),
            off_contract=call.query.get("off_contract"),
            since=call.query.get("after_seq", 0),
        )
        limit = call.query.get("limit")
        if limit is not None:
            entries = entries[:limit]
        return Reply(200, {"data": [e.as_dict() for e in entries]})

    def journal_clear(call: Call) -> Reply:
        return Reply(200, {"data": {"cleared": journal.clear()}})

    def clock_view() -> Reply:
        return Reply(
            200, {"data": {"now": format_time(store.clock.now()), "frozen": store.clock.frozen}}
        )

    def clock_change(call: Call) -> Reply:
        body = call.body
        action = body["action"]
        if action == "freeze":
            at = parse_date_time(body["at"]) if "at" in body else None
            store.clock.freeze(at)
        elif action == "advance":
            given = {unit: body[unit] for unit in ADVANCE_UNITS if unit in body}
            if not given:
                raise BadRequest(
                    Problem(
                        "advance needs how far to move the clock forward: `seconds`, `minutes`, "
                        "`hours` or `days` (they add up).",
                        {"location": "body", "pointer": "/seconds", "keyword": "required"},
                    )
                )
            delta = timedelta(**given)
            if delta > MAX_ADVANCE:
                raise BadRequest(
                    Problem(
                        f"advance moves the clock by at most {MAX_ADVANCE.days} days at once; "
                        f"this asks for {delta}.",
                        {"location": "body", "pointer": "", "keyword": "maximum"},
                    )
                )
            store.clock.advance(delta)
        else:
            store.clock.real()
        return clock_view()

    def ids(call: Call) -> Reply:
        seed = cast(int | None, call.body["seed"])
        store.ids.reseed(seed)
        return Reply(200, {"data": {"seed": seed}})

    def faults_list(call: Call) -> Reply:
        return Reply(200, {"data": [rule.as_dict() for rule in scenarios.rules()]})

    def faults_add(call: Call) -> Reply:
        check_rule(call.body, operations)
        rule = scenarios.add(call.body)
        return Reply(201, {"data": rule.as_dict()})

    def faults_clear(call: Call) -> Reply:
        return Reply(200, {"data": {"cleared": scenarios.clear()}})

    return {
        "sandbox.snapshot.get": snapshot,
        "sandbox.restore": restore,
        "sandbox.records.post": seed,
        "sandbox.records.get": records_list,
        "sandbox.records.get_one": records_get,
        "sandbox.records.patch": records_patch,
        "sandbox.records.delete": records_delete,
        "sandbox.journal.get": journal_list,
        "sandbox.journal.delete": journal_clear,
        "sandbox.clock.get": lambda call: clock_view(),
        "sandbox.clock.post": clock_change,
        "sandbox.ids.post": ids,
        "sandbox.faults.get": faults_list,
        "sandbox.faults.post": faults_add,
        "sandbox.faults.delete": faults_clear,
    }
