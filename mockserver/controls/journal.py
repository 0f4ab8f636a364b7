"""The request journal: what each call asked and got, capped so memory stays flat."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

DEFAULT_CAP = 1000
#: Headers whose credentials the journal never keeps: only the scheme stays.
REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization"})
REDACTED = "[redacted]"
#: Most of an undecodable request body the journal keeps, as text.
RAW_BODY_CHARS = 4096


#: A header's name or value, as the server read it (bytes) or as a caller gave it.
Text = str | bytes


def _redacted(value: str) -> str:
    scheme, _, credentials = value.strip().partition(" ")
    return f"{scheme} {REDACTED}" if credentials else REDACTED


def request_headers(pairs: Iterable[tuple[Text, Text]]) -> dict[str, str]:
    """Header pairs as an entry gives them: by lower-case name, repeats joined with ", ", and
    credentials redacted (``Authorization: Bearer abc`` reads ``Bearer [redacted]``)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = (raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name).lower()
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        if name in REDACTED_HEADERS:
            value = _redacted(value)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def request_body(raw: bytes) -> Any:
    """A body the sandbox did not accept, as a test wants to read it: the JSON value when it is
    JSON (whatever was wrong with it), else its first 4 KiB as text; None when empty."""
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
        orjson.dumps(value)  # the journal keeps it encoded: nested deeper than orjson writes?
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return raw[:RAW_BODY_CHARS].decode("utf-8", "replace")
    return value


class Entry:
    """One request as the sandbox saw it.

    The bodies are kept as compact JSON and decoded on access: one object each, instead of a
    tree of dicts and lists that every full garbage collection walks. Profiled with 1,000
    journaled 100-credit list pages, those trees made gen-2 collections pause for 330 ms.
    """

    __slots__ = (
        "_headers",
        "_proxy_json",
        "_request_json",
        "_response_json",
        "_violations_json",
        "business_id",
        "contract_violation",
        "fault",
        "ignored_preferences",
        "method",
        "off_contract",
        "operation_id",
        "path",
        "query",
        "seq",
        "status",
    )

    def __init__(
        self,
        seq: int,
        method: str,
        path: str,
        query: str,
        operation_id: str | None,
        business_id: str | None,
        status: int | None,
        request_body: Any,
        response_body: Any,
        off_contract: bool,
        contract_violation: bool,
        response_json: bytes | None = None,
        fault: str | None = None,
        request_headers: Mapping[str, str] | tuple[tuple[Text, Text], ...] | None = None,
        ignored_preferences: tuple[str, ...] = (),
        violations: tuple[Mapping[str, Any], ...] = (),
        proxy: Mapping[str, Any] | None = None,
    ) -> None:
        self.seq = seq
        self.method = method
        self.path = path
        self.query = query
        self.operation_id = operation_id
        self.business_id = business_id
        self.status = status
        self._request_json = encode_json(request_body)
        #: ``response_json``: the body already encoded, when the caller has it (same JSON).
        self._response_json = (
            response_json if response_json is not None else encode_json(response_body)
        )
        #: The request broke the contract (routing, auth, parameters, body): not a business rule.
        self.off_contract = off_contract
        #: The sandbox's own response broke the contract (reported as a 500 in strict mode).
        self.contract_violation = contract_violation
        #: A connection fault (``close``, ``reset``, ``truncate``) cut the answer; no status.
        self.fault = fault
        #: The request's header pairs as the server read them (or a mapping's items);
        #: credentials are redacted whenever the entry is read (``request_headers``).
        self._headers = (
            request_headers
            if isinstance(request_headers, tuple)
            else tuple((request_headers or {}).items())
        )
        #: ``Prefer`` preferences the sandbox does not know, and so ignored (RFC 7240).
        self.ignored_preferences = tuple(ignored_preferences)
        #: What broke the contract, each marked ``"in": "request"`` or ``"response"`` with
        #: its pointer and keyword (the validation proxy records them; ``serve`` answers them).
        self._violations_json = encode_json(list(violations)) if violations else None
        #: ``mockserver proxy``: the upstream exchange (redacted headers, timing); else None.
        self._proxy_json = encode_json(proxy)

    @property
    def request_body(self) -> Any:
        return None if self._request_json is None else orjson.loads(self._request_json)

    @property
    def request_headers(self) -> dict[str, str]:
        """The request's headers by lower-case name, ``Authorization`` redacted."""
        return request_headers(self._headers)

    @property
    def response_body(self) -> Any:
        return None if self._response_json is None else orjson.loads(self._response_json)

    @property
    def violations(self) -> list[dict[str, Any]]:
        return [] if self._violations_json is None else orjson.loads(self._violations_json)

    @property
    def proxy(self) -> dict[str, Any] | None:
        return None if self._proxy_json is None else orjson.loads(self._proxy_json)

    @property
    def errors(self) -> list[Mapping[str, Any]]:
        body = self.response_body
        return list(body.get("errors", [])) if isinstance(body, dict) else []

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "operation_id": self.operation_id,
            "business_id": self.business_id,
            "status": self.status,
            "request_headers": self.request_headers,
            "request_body": self.request_body,
            "response_body": self.response_body,
            "off_contract": self.off_contract,
            "contract_violation": self.contract_violation,
            "fault": self.fault,
            "ignored_preferences": list(self.ignored_preferences),
            "violations": self.violations,
            "proxy": self.proxy,
        }

    def __repr__(self) -> str:
        return f"Entry({self.as_dict()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self.row() == other.row()

    def __hash__(self) -> int:
        return hash(self.row())

    def row(self) -> tuple[Any, ...]:
        """The entry as a tuple of atoms (strings, numbers, bytes, None)."""
        return (
            self.seq,
            self.method,
            self.path,
            self.query,
            self.operation_id,
            self.business_id,
            self.status,
            self._request_json,
            self._response_json,
            self.off_contract,
            self.contract_violation,
            self.fault,
            self._headers,
            self.ignored_preferences,
            self._violations_json,
            self._proxy_json,
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Entry:
        entry = cls.__new__(cls)
        (
            entry.seq,
            entry.method,
            entry.path,
            entry.query,
            entry.operation_id,
            entry.business_id,
            entry.status,
            entry._request_json,
            entry._response_json,
            entry.off_contract,
            entry.contract_violation,
            entry.fault,
            entry._headers,
            entry.ignored_preferences,
            entry._violations_json,
            entry._proxy_json,
        ) = row
        return entry


def encode_json(body: Any) -> bytes | None:
    """``body`` as the journal keeps it: compact JSON (any integer, anything else as text)."""
    if body is None:
        return None
    try:
        return orjson.dumps(body, default=str)
    except TypeError:  # an integer beyond 64 bits: the standard library writes any integer
        return json.dumps(body, ensure_ascii=False, default=str).encode()


class Journal:
    """The last ``cap`` entries, oldest dropped first; safe to read from another thread.

    Entries are kept as tuples of atoms, which the garbage collector stops tracking: a request
    then leaves nothing behind for it to walk, and full collections (which walk the whole store,
    100,000 credits or more) stay rare while the sandbox only answers reads.
    """

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.cap = cap
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=cap)
        self._lock = threading.Lock()
        self._seq = 0
        self._listeners: list[Callable[[Entry], None]] = []

    def subscribe(self, listener: Callable[[Entry], None]) -> None:
        """Call ``listener`` with every entry as it is recorded (in order, under the lock)."""
        self._listeners.append(listener)

    def record(self, **fields: Any) -> Entry:
        """Journal a call described by ``Entry``'s fields (all but ``seq``)."""
        with self._lock:
            self._seq += 1
            entry = Entry(seq=self._seq, **fields)
            self._entries.append(entry.row())
            for listener in self._listeners:
                listener(entry)
            return entry

    def record_answer(
        self,
        method: str,
        path: str,
        query: str,
        operation_id: str | None,
        business_id: str | None,
        status: int,
        request_json: bytes | None,
        response_json: bytes | None,
        off_contract: bool,
        contract_violation: bool,
        request_headers: tuple[tuple[Text, Text], ...],
        ignored_preferences: tuple[str, ...],
    ) -> None:
        """``record`` for an answer the sandbox sent (no fault, violations or proxy exchange):
        what every served request journals, without the ``Entry`` that ``record`` builds
        first (an eighth of a Petstore fetch). The bodies come encoded (``encode_json``, or
        the JSON text as sent)."""
        with self._lock:
            self._seq += 1
            row = (
                self._seq,
                method,
                path,
                query,
                operation_id,
                business_id,
                status,
                request_json,
                response_json,
                off_contract,
                contract_violation,
                None,  # fault
                request_headers,
                ignored_preferences,
                None,  # violations
                None,  # proxy
            )
            self._entries.append(row)
            if self._listeners:
                entry = Entry.from_row(row)
                for listener in self._listeners:
                    listener(entry)

    def entries(
        self,
        *,
        operation_id: str | None = None,
        status: int | None = None,
        business_id: str | None = None,
        off_contract: bool | None = None,
        since: int = 0,
        until: int | None = None,
    ) -> list[Entry]:
        """Entries in order, filtered; ``since < seq <= until`` (``until``: no upper bound).

        Read ``last_seq`` first and pass it as ``until`` to take a window that a request
        journaled meanwhile cannot slip past.
        """
        last = self._seq if until is None else until
        with self._lock:
            rows = [row for row in self._entries if since < row[0] <= last]
        snapshot: Iterable[Entry] = map(Entry.from_row, rows)
        return [
            e
            for e in snapshot
            if (operation_id is None or e.operation_id == operation_id)
            and (status is None or e.status == status)
            and (business_id is None or e.business_id == business_id)
            and (off_contract is None or e.off_contract == off_contract)
        ]

    @property
    def last_seq(self) -> int:
        return self._seq

    def clear(self) -> int:
        """Drop every entry; how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count
