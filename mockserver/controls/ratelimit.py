"""The token bucket behind the ``X-RateLimit-*`` headers and, when enforced, 429 answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from math import ceil
from time import time as wall_clock


class RateLimiter:
    """A bucket of ``limit`` requests refilled at ``limit`` per second (Layer's sandbox default)."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._tokens = float(limit)
        self._last = clock()
        self._lock = threading.Lock()
        self._headers: dict[str, str] = {}
        self._key: tuple[int, int, int] | None = None

    def take(self) -> tuple[bool, Mapping[str, str]]:
        """Take one request from the bucket: whether it was allowed, and the headers to send."""
        limit = self.limit
        with self._lock:
            now = self._clock()
            tokens = self._tokens + (now - self._last) * limit
            if tokens > limit:
                tokens = limit
            self._last = now
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._tokens = tokens
            remaining = int(tokens)
            reset = ceil(wall_clock() + (limit - tokens) / limit)
            retry = 0 if allowed else max(1, ceil((1 - tokens) / limit))
            key = (remaining, reset, retry)
            if key == self._key:
                # Unchanged since the last answer (under load: "0" remaining, the same second),
                # so the same headers serve again: callers never change the mapping.
                return allowed, self._headers
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(reset),
            }
            if retry:
                headers["Retry-After"] = str(retry)
            self._key, self._headers = key, headers
            return allowed, headers
