"""Forced responses: per request (the ``Prefer`` header) and scenario faults configured ahead.

A forced answer is decided before any behaviour runs, so it never changes stored state.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import BadRequest, Problem

FAULTS = ("close", "reset", "truncate")
_PREFER_KEYS = ("code", "delay", "fault", "example", "dynamic")
MAX_DELAY_MS = 30_000


@dataclass(frozen=True)
class Forcing:
    """What to do instead of (or before) the normal answer."""

    status: int | None = None
    delay_ms: float = 0.0
    fault: str | None = None
    source: str = "Prefer header"
    #: Answers built from the document: the named example, or data generated from the schema.
    example: str | None = None
    dynamic: bool = False
    #: Preferences of the ``Prefer`` header that are applied (``Preference-Applied``) and
    #: those ignored because the sandbox does not know them (RFC 7240 section 2).
    applied: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    def combine(self, other: Forcing | None) -> Forcing:
        """This forcing with ``other``'s failure filled in where this one has none."""
        if other is None:
            return self
        failing = self if (self.status or self.fault) else other
        return replace(
            failing,
            delay_ms=max(self.delay_ms, other.delay_ms),
            example=self.example,
            dynamic=self.dynamic,
            applied=self.applied,
            ignored=self.ignored,
        )

    @property
    def preference_applied(self) -> dict[str, str]:
        """The ``Preference-Applied`` header for the preferences this answer honours."""
        return {"Preference-Applied": ", ".join(self.applied)} if self.applied else {}


def parse_prefer(header: str | None) -> Forcing | None:
    """``Prefer: code=503, delay=200, fault=close`` as a ``Forcing``.

    Preferences the sandbox does not know (``return=minimal``, ``respond-async``...) are
    ignored, as RFC 7240 asks of a server, and listed in ``ignored``; a known one with a value
    it cannot apply is a 400. Parameters (after ``;``) are read as preferences of their own.
    """
    if not header:
        return None
    values: dict[str, str] = {}
    applied: list[str] = []
    ignored: list[str] = []
    for token in header.replace(";", ",").split(","):
        token = token.strip()
        if not token:
            continue
        key, sep, value = token.partition("=")
        key = key.strip().lower()
        if key not in _PREFER_KEYS:
            ignored.append(token)
            continue
        if not sep:
            raise bad_prefer(
                f"Prefer {key} needs a value: code=<status>, delay=<milliseconds> or "
                f"fault={'|'.join(FAULTS)}."
            )
        values[key] = value.strip().strip('"')
        applied.append(f"{key}={values[key]}")
    status = delay = None
    if "code" in values:
        if not values["code"].isdigit():
            raise bad_prefer(f"Prefer code={values['code']!r} must be an HTTP status number.")
        status = int(values["code"])
    if "delay" in values:
        try:
            delay = float(values["delay"])
        except ValueError:
            delay = -1
        if not 0 <= delay <= MAX_DELAY_MS:
            raise bad_prefer(
                f"Prefer delay={values['delay']!r} must be milliseconds from 0 to {MAX_DELAY_MS}."
            )
    fault = values.get("fault")
    if fault is not None and fault not in FAULTS:
        raise bad_prefer(f"Prefer fault={fault!r} is not known; use one of: {', '.join(FAULTS)}.")
    dynamic = values.get("dynamic", "false").lower()
    if dynamic not in ("true", "false"):
        raise bad_prefer(f"Prefer dynamic={values['dynamic']!r} must be true or false.")
    return Forcing(
        status=status,
        delay_ms=delay or 0.0,
        fault=fault,
        example=values.get("example") or None,
        dynamic=dynamic == "true",
        applied=tuple(applied),
        ignored=tuple(ignored),
    )


def bad_prefer(description: str) -> BadRequest:
    """A 400 pointing at the ``Prefer`` header."""
    return BadRequest(
        Problem(description, {"location": "header", "pointer": "/prefer", "keyword": "prefer"})
    )


@dataclass
class Scenario:
    """A fault rule for one operationId (or ``*``), reproducible from its seed."""

    id: int
    operation_id: str = "*"
    fail_next: int = 0
    error_rate: float = 0.0
    status: int = 503
    statuses: list[int] = field(default_factory=list)
    fault: str | None = None
    latency_ms: int = 0
    latency_max_ms: int | None = None
    seed: int | None = None
    calls: int = 0
    failures: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation_id": self.operation_id,
            "fail_next": self.fail_next,
            "error_rate": self.error_rate,
            "status": self.status,
            "statuses": list(self.statuses),
            "fault": self.fault,
            "latency_ms": self.latency_ms,
            "latency_max_ms": self.latency_max_ms,
            "seed": self.seed,
            "calls": self.calls,
            "failures": self.failures,
        }

    def decide(self) -> Forcing:
        self.calls += 1
        delay = float(self.latency_ms)
        if self.latency_max_ms is not None and self.latency_max_ms > self.latency_ms:
            delay = self._random.uniform(self.latency_ms, self.latency_max_ms)
        failing = False
        if self.fail_next > 0:
            self.fail_next -= 1
            failing = True
        elif self.error_rate and self._random.random() < self.error_rate:
            failing = True
        if not failing:
            return Forcing(delay_ms=delay, source=f"scenario {self.id}")
        self.failures += 1
        status = self._random.choice(self.statuses) if self.statuses else self.status
        return Forcing(
            status=None if self.fault else status,
            delay_ms=delay,
            fault=self.fault,
            source=f"scenario {self.id}",
        )


class Scenarios:
    """The configured fault rules, consulted on every public request."""

    def __init__(self) -> None:
        self._rules: list[Scenario] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, spec: Mapping[str, Any]) -> Scenario:
        """Add a rule from its (already schema-validated) JSON form."""
        with self._lock:
            seed = spec.get("seed")
            rule = Scenario(
                id=self._next_id,
                operation_id=spec.get("operation_id", "*"),
                fail_next=spec.get("fail_next", 0),
                error_rate=spec.get("error_rate", 0.0),
                status=spec.get("status", 503),
                statuses=list(spec.get("statuses", [])),
                fault=spec.get("fault"),
                latency_ms=spec.get("latency_ms", 0),
                latency_max_ms=spec.get("latency_max_ms"),
                seed=seed,
                _random=random.Random(seed),
            )
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def rules(self) -> list[Scenario]:
        with self._lock:
            return list(self._rules)

    def clear(self) -> int:
        with self._lock:
            count = len(self._rules)
            self._rules.clear()
            return count

    @property
    def active(self) -> bool:
        """Whether any rule is configured (a request may then be failed or delayed)."""
        return bool(self._rules)

    def decide(self, operation_id: str) -> Forcing | None:
        """The combined forcing of every rule for ``operation_id``; None when none applies."""
        if not self._rules:
            return None
        with self._lock:
            result: Forcing | None = None
            for rule in self._rules:
                if rule.operation_id in ("*", operation_id):
                    decided = rule.decide()
                    result = decided if result is None else result.combine(decided)
            return result
