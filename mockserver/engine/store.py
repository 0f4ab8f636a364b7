"""The in-memory state of the sandbox: businesses and their records, with no HTTP in it.

State is plain JSON-able data, so a reset is one decode of the pristine state built from the
fixtures at start-up, and a snapshot is one encode.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

Record = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """A change worth telling subscribers about, e.g. ``CustomerCredit.created`` (no I/O here).

    Behaviours ``emit`` events inside their transaction; whoever delivers them (webhooks, the
    pytest plugin's capture) drains the store's outbox with ``take_events`` after answering.
    """

    type: str  # "<Entity>.<created|updated|archived>"
    business_id: str
    entity_id: str
    entity_external_id: str | None
    at: str  # the sandbox clock's time of the change


#: Collections of supporting records every business holds, keyed by record id.
RECORD_COLLECTIONS = (
    "customers",
    "vendors",
    "invoices",
    "bills",
    "ledger_accounts",
    "invoice_payments",
    "bill_payments",
    "tag_dimensions",
)
#: Credit collections, keyed by credit id, in creation order.
CREDIT_COLLECTIONS = ("customer_credits", "vendor_credits")


def format_time(moment: datetime) -> str:
    """UTC ISO 8601 with ``Z``; microseconds only when there are some."""
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # isoformat is strftime's text here, at a fraction of the cost
        return moment.isoformat()[:-6] + "Z"  # drop "+00:00"
    # strftime's %Y does not pad years below 1000 on every platform (glibc writes "122").
    text = f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S")
    return text + (f".{moment.microsecond:06d}Z" if moment.microsecond else "Z")


def sortable_time(stamp: str) -> str:
    """A ``format_time`` string padded so that string order is time order."""
    return stamp if len(stamp) > 20 else stamp[:19] + ".000000Z"


class Clock:
    """The time every timestamp the sandbox writes comes from: real, shifted, or frozen."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return datetime.now(UTC) + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self, at: datetime | None = None) -> None:
        """Stop time at ``at`` (default: now); it moves only when advanced."""
        self._frozen = (at or self.now()).astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move time forward (frozen or not) by ``delta``."""
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta

    def real(self) -> None:
        """Back to the wall clock."""
        self._frozen = None
        self._offset = timedelta(0)


class IdFactory:
    """Random version-4 UUIDs; reproducible when given a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self.reseed(seed)

    @property
    def seed(self) -> int | None:
        return self._seed

    def restart(self) -> None:
        """Start the sequence again: a seeded factory then hands out the same ids once more."""
        if self._random is not None:
            self._random.seed(self._seed)

    def reseed(self, seed: int | None) -> None:
        """Start a new sequence from ``seed`` (None: random ids from now on)."""
        self._seed = seed
        self._random = random.Random(seed) if seed is not None else None

    def new(self) -> str:
        return _uuid4_text((self._random or _ID_BITS).getrandbits(128))


def random_uuid() -> str:
    """``str(uuid.uuid4())``, from a generator seeded by the system once (a create makes
    several ids and announces an event with one more; asking the kernel each time was a
    twentieth of a create). Ids need to be unique, not secret."""
    return _uuid4_text(_ID_BITS.getrandbits(128))


def _uuid4_text(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, without building the ``UUID``."""
    text = "%032x" % (bits & _UUID_KEPT | _UUID_V4)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


#: The generator behind ``random_uuid``: its own, so that a test seeding ``random`` (as
#: pytest-randomly does before each test) never makes the same ids come again; seeded anew
#: in a forked child, which would otherwise make the parent's ids.
_ID_BITS = random.Random()
os.register_at_fork(after_in_child=_ID_BITS.seed)
#: The bits of a random 128-bit number kept in a version 4 UUID, and the ones it sets: the
#: version (4) and the RFC 4122 variant (binary 10).
_UUID_KEPT = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_V4 = (0x4 << 76) | (0x2 << 62)


#: Supporting collection -> (field unique per business, the business index of its values).
UNIQUE_FIELDS = {
    "customers": ("external_id", "customer_external_ids"),
    "vendors": ("external_id", "vendor_external_ids"),
    "ledger_accounts": ("stable_name", "account_stable_names"),
}


def new_business(record: Record) -> Record:
    """An empty business holding ``record``'s fields and empty collections."""
    business: Record = {"business": dict(record)}
    for name in (*RECORD_COLLECTIONS, *CREDIT_COLLECTIONS):
        business[name] = {}
    # Indexes kept beside the data they index, so that they survive snapshot and reset.
    business["index"] = {
        "customer_external_ids": {},
        "vendor_external_ids": {},
        "account_stable_names": {},
        "tag_dimension_keys": {},
        "customer_credit_external_ids": {},
        "vendor_credit_external_ids": {},
        "invoice_external_ids": {},
        "bill_external_ids": {},
        "invoice_payment_external_ids": {},
        "bill_payment_external_ids": {},
    }
    return business


class Store:
    """All businesses, guarded by one lock so that every change is atomic."""

    def __init__(self, clock: Clock | None = None, ids: IdFactory | None = None) -> None:
        self.clock = clock or Clock()
        self.ids = ids or IdFactory()
        self.lock = threading.RLock()
        self.businesses: dict[str, Record] = {}
        #: Records of inferred resources: "<resource> <scope>" -> record id -> record, in
        #: creation order (engine/resources.py); any document's state lives here.
        self.resources: dict[str, dict[str, Record]] = {}
        self._pristine = self.snapshot()
        self._outbox: list[Event] = []
        self._quiet = False

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Hold the lock and emit no events: fixtures and seeded records are not changes."""
        with self.lock:
            before, self._quiet = self._quiet, True
            try:
                yield
            finally:
                self._quiet = before

    def emit(
        self, entity: str, action: str, business_id: str, entity_id: str, external_id: str | None
    ) -> None:
        """Record that ``entity`` ``entity_id`` was created, updated or archived."""
        with self.lock:
            if self._quiet:
                return
            self._outbox.append(
                Event(f"{entity}.{action}", business_id, entity_id, external_id, self.now())
            )

    @property
    def has_events(self) -> bool:
        """Whether events wait to be taken (read without the lock: a hint, as after any read)."""
        return bool(self._outbox)

    def take_events(self) -> list[Event]:
        """The events emitted since the last call, oldest first."""
        with self.lock:
            events, self._outbox = self._outbox, []
            return events

    def transaction(self) -> AbstractContextManager[Any]:
        """Hold the lock; callers check everything before changing anything."""
        return self.lock  # the lock itself: a generator-based context manager costs 1-2 us

    def now(self) -> str:
        return format_time(self.clock.now())

    def business(self, business_id: str) -> Record | None:
        return self.businesses.get(business_id)

    def add_business(self, record: Record) -> Record:
        with self.lock:
            business = new_business(record)
            self.businesses[record["id"]] = business
            return business

    def add_record(self, collection: str, record: Record) -> None:
        """Store a supporting record in its business and update the indexes."""
        with self.lock:
            business = self.businesses[record["business_id"]]
            business[collection][record["id"]] = record
            if collection in UNIQUE_FIELDS:
                field, index = UNIQUE_FIELDS[collection]
                if record.get(field):
                    business["index"][index][record[field]] = record["id"]

    def mark_pristine(self) -> None:
        """Remember the current state as the one ``reset`` returns to."""
        self._pristine = self.snapshot()

    def reset(self) -> None:
        """Back to the pristine state, by decoding it afresh (no shared mutable data).

        A seeded id sequence starts again too, so the same requests after a reset get the same
        ids; the clock is a test setting and is left as it is.
        """
        with self.lock:
            self.restore(self._pristine)
            self.ids.restart()
            self._outbox.clear()  # changes undone by the reset are not announced

    def snapshot(self) -> bytes:
        """Everything stored, as JSON: ``{"businesses": {...}, "resources": {...}}``."""
        with self.lock:
            return orjson.dumps({"businesses": self.businesses, "resources": self.resources})

    def restore(self, snapshot: bytes) -> None:
        with self.lock:
            state = orjson.loads(snapshot)
            self.businesses = state["businesses"]
            self.resources = state.get("resources") or {}
            self._outbox.clear()
