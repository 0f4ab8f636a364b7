"""The request journal: what each call asked and got, capped so memory stays flat."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_CAP = 1000


@dataclass(frozen=True)
class Entry:
    """One request as the sandbox saw it."""

    seq: int
    method: str
    path: str
    query: str
    operation_id: str | None
    business_id: str | None
    status: int
    request_body: Any
    response_body: Any
    #: The request broke the contract (routing, auth, parameters, body): not a business rule.
    off_contract: bool
    #: The sandbox's own response broke the contract (reported as a 500 in strict mode).
    contract_violation: bool

    @property
    def errors(self) -> list[Mapping[str, Any]]:
        body = self.response_body
        return list(body.get("errors", [])) if isinstance(body, dict) else []

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    """The last ``cap`` entries, oldest dropped first; safe to read from another thread."""

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self._entries: deque[Entry] = deque(maxlen=cap)
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def cap(self) -> int:
        return self._entries.maxlen or 0

    def record(self, **fields: Any) -> Entry:
        with self._lock:
            self._seq += 1
            entry = Entry(seq=self._seq, **fields)
            self._entries.append(entry)
            return entry

    def entries(
        self,
        *,
        operation_id: str | None = None,
        status: int | None = None,
        business_id: str | None = None,
        off_contract: bool | None = None,
        since: int = 0,
    ) -> list[Entry]:
        """Entries in order, filtered; ``since`` keeps those with a larger ``seq``."""
        with self._lock:
            snapshot: Iterable[Entry] = list(self._entries)
        return [
            e
            for e in snapshot
            if e.seq > since
            and (operation_id is None or e.operation_id == operation_id)
            and (status is None or e.status == status)
            and (business_id is None or e.business_id == business_id)
            and (off_contract is None or e.off_contract == off_contract)
        ]

    @property
    def last_seq(self) -> int:
        return self._seq

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
