"""Webhooks: subscriptions, event bodies, Standard Webhooks signatures, delivery and retries.

Behaviours ``emit`` events into the store's outbox; after each answer the app calls
``Webhooks.collect``, which turns them into bodies, checks each against the document's
``WebhookEvent`` schema, keeps them for ``/_sandbox/events`` and the pytest plugin, and queues
one delivery per subscription. Each subscription has its own worker thread, so a slow or dead
subscriber delays nobody else and never the API. Retries fall due on the sandbox clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.spec import component_validator
from ..engine.store import Event, Store, format_time, random_uuid

if TYPE_CHECKING:
    import httpx  # imported by the first delivery worker: 40 ms of start-up otherwise
from ..errors import BadRequest, NotFound, Problem, SpecError

log = logging.getLogger("mockserver.webhooks")

#: Sandbox-clock seconds from a failed attempt to the next one: attempt 2 comes 5 s after
#: attempt 1 failed, attempt 3 five minutes after attempt 2, ... (Svix's published schedule).
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)
#: Attempts per event and subscriber, the first included; then the sandbox gives up.
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
#: The schema in the public document every event body is checked against before it is sent.
EVENT_SCHEMA = "WebhookEvent"
SECRET_PREFIX = "whsec_"
#: How often a worker with retries pending looks at the clock (it may be advanced directly).
_POLL_SECONDS = 0.05
_USER_AGENT = "layer-credits-sandbox-webhooks/1"


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` and 24 random bytes in base64, as Standard Webhooks."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of ``secret``: its base64 part after ``whsec_``, decoded."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError(
            f"secret {secret!r} is not whsec_ followed by base64 (e.g. whsec_"
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw); leave it out to have one generated."
        )
    return key


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def event_body(event: Event, business_external_id: str | None) -> dict[str, Any]:
    """The JSON body subscribers receive for ``event`` (the ``WebhookEvent`` schema)."""
    entity, _, operation = event.type.partition(".")
    return {
        "id": f"{entity}_{operation}_{random_uuid()}",
        "type": event.type,
        "business_id": event.business_id,
        "business_external_id": business_external_id,
        "data": {"entity_id": event.entity_id, "entity_external_id": event.entity_external_id},
    }


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    secret: str
    #: ``config`` (``--webhook``, kept across test resets) or ``api`` (the control API).
    source: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "secret": self.secret,
            "source": self.source,
            "created_at": self.created_at,
        }


@dataclass
class _Pending:
    seq: int  # the event's place in change order
    event_id: str
    event_type: str
    body: bytes
    attempt: int = 1
    due: datetime | None = None  # None: now


@dataclass
class _Capture:
    seq: int
    body: dict[str, Any]


class Webhooks:
    """Subscriptions, the events emitted so far, and the journal of delivery attempts."""

    def __init__(
        self,
        store: Store,
        document: Mapping[str, Any],
        *,
        targets: Iterable[tuple[str, str | None]] = (),
        timeout: float = 15.0,
        journal_cap: int = 1000,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self._document = document
        self._has_schema = EVENT_SCHEMA in (document.get("components") or {}).get("schemas", {})
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._events: deque[_Capture] = deque(maxlen=journal_cap)
        self._deliveries: deque[dict[str, Any]] = deque(maxlen=journal_cap)
        self._event_seq = 0
        self._delivery_seq = 0
        for url, secret in targets:
            self.subscribe(url, secret, source="config")

    # -- subscriptions

    def subscribe(
        self, url: str, secret: str | None = None, *, source: str = "api"
    ) -> Subscription:
        """Add a subscriber; raises ``ValueError`` for a secret that is not ``whsec_<base64>``."""
        if secret is not None:
            secret_key(secret)
        subscription = Subscription(
            id=str(uuid.uuid4()),
            url=url,
            secret=secret or generate_secret(),
            source=source,
            created_at=self.store.now(),
        )
        with self._lock:
            self._lanes[subscription.id] = _Lane(self, subscription)
        return subscription

    def unsubscribe(self, subscription_id: str) -> Subscription | None:
        """Remove a subscriber; its pending deliveries are dropped."""
        with self._lock:
            lane = self._lanes.pop(subscription_id, None)
        if lane is None:
            return None
        lane.close()
        return lane.subscription

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return [lane.subscription for lane in self._lanes.values()]

    # -- events

    def collect(self) -> list[dict[str, Any]]:
        """Take the store's new events; keep their bodies and queue them for every subscriber."""
        with self._lock:
            events = self.store.take_events()
            bodies = []
            for event in events:
                business = self.store.business(event.business_id) or {}
                body = event_body(event, business.get("business", {}).get("external_id"))
                self._event_seq += 1
                self._events.append(_Capture(self._event_seq, body))
                bodies.append(body)
                # Checked for those it is sent to (the control API checks what it answers).
                problems = self._violations(body) if self._lanes else ""
                for lane in self._lanes.values():
                    if problems:  # a sandbox bug: say so where the user looks, send nothing
                        self._journal_locked(
                            lane.subscription,
                            body["id"],
                            body["type"],
                            attempt=0,
                            status=None,
                            error=f"not sent: the body breaks {EVENT_SCHEMA}: {problems}",
                            duration_ms=0.0,
                            next_attempt_at=None,
                        )
                        continue
                    lane.enqueue(
                        _Pending(self._event_seq, body["id"], body["type"], orjson.dumps(body))
                    )
            return bodies

    def _violations(self, body: dict[str, Any]) -> str:
        if not self._has_schema:  # a document that describes no events: nothing to check
            return ""
        try:
            validator = component_validator(self._document, EVENT_SCHEMA)
        except SpecError as exc:
            return str(exc)
        if validator.is_valid(body):
            return ""
        problems = "; ".join(str(v) for v in validator.violations(body))
        log.error("webhook event %s breaks %s: %s", body.get("id"), EVENT_SCHEMA, problems)
        return problems

    @property
    def last_seq(self) -> int:
        """The number of the newest event kept (0 before any)."""
        with self._lock:
            return self._event_seq

    def events(self, since: int = 0, type: str | None = None) -> list[dict[str, Any]]:
        """Event bodies numbered after ``since``, oldest first, optionally of one ``type``."""
        with self._lock:
            return [
                c.body
                for c in self._events
                if c.seq > since and (type is None or c.body["type"] == type)
            ]

    # -- deliveries

    def deliveries(
        self, event_id: str | None = None, subscription_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every delivery attempt journaled (the newest ``journal_cap``), oldest first."""
        with self._lock:
            return [
                dict(d)
                for d in self._deliveries
                if (event_id is None or d["event_id"] == event_id)
                and (subscription_id is None or d["subscription_id"] == subscription_id)
            ]

    def _journal(self, subscription: Subscription, item: _Pending, **outcome: Any) -> None:
        with self._lock:
            self._journal_locked(subscription, item.event_id, item.event_type, **outcome)

    def _journal_locked(
        self,
        subscription: Subscription,
        event_id: str,
        event_type: str,
        *,
        attempt: int,
        status: int | None,
        error: str | None,
        duration_ms: float,
        next_attempt_at: datetime | None,
    ) -> None:
        self._delivery_seq += 1
        self._deliveries.append(
            {
                "seq": self._delivery_seq,
                "event_id": event_id,
                "event_type": event_type,
                "subscription_id": subscription.id,
                "url": subscription.url,
                "attempt": attempt,
                "status": status,
                "error": error,
                "duration_ms": round(duration_ms, 3),
                "at": self.store.now(),
                "next_attempt_at": format_time(next_attempt_at) if next_attempt_at else None,
            }
        )

    def wake(self) -> None:
        """Tell the workers the clock may have moved, so that due retries go out now."""
        if not self._lanes:  # no subscriber (read without the lock: a hint, as after any read)
            return
        with self._lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            lane.wake()

    def reset(self) -> None:
        """Between tests: subscribers added through the API go, the configured ones stay (same
        ids and secrets) with nothing pending; the events and deliveries journals are emptied."""
        with self._lock:
            dropped = [
                lane for lane in self._lanes.values() if lane.subscription.source != "config"
            ]
            for lane in dropped:
                del self._lanes[lane.subscription.id]
            kept = list(self._lanes.values())
            self._events.clear()
            self._deliveries.clear()
            self.store.take_events()
        for lane in dropped:
            lane.close()
        for lane in kept:
            lane.drop_pending()

    def close(self) -> None:
        """Stop every worker (pending deliveries are dropped)."""
        with self._lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            lane.close()


class _Lane:
    """One subscriber's queue and the worker thread that delivers it, started on first use."""

    def __init__(self, hooks: Webhooks, subscription: Subscription) -> None:
        self.hooks = hooks
        self.subscription = subscription
        self._pending: list[_Pending] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None

    def enqueue(self, item: _Pending) -> None:
        with self._ready:
            if self._closed:
                return
            self._pending.append(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"webhooks-{self.subscription.id[:8]}", daemon=True
                )
                self._thread.start()
            self._ready.notify()

    def wake(self) -> None:
        with self._ready:
            self._ready.notify()

    def drop_pending(self) -> None:
        with self._ready:
            self._pending.clear()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._pending.clear()
            self._ready.notify()

    def _next_due(self) -> _Pending | None:
        now = self.hooks.store.clock.now()
        due = [p for p in self._pending if p.due is None or p.due <= now]
        if not due:
            return None
        item = min(due, key=lambda p: p.seq)  # change order, retries included
        self._pending.remove(item)
        return item

    def _run(self) -> None:
        import httpx

        self._client = httpx.Client(timeout=self.hooks.timeout, follow_redirects=False)
        try:
            while True:
                with self._ready:
                    item = None
                    while not self._closed:
                        item = self._next_due()
                        if item is not None:
                            break
                        # Retries wait on the sandbox clock, which may be moved at any time.
                        self._ready.wait(_POLL_SECONDS if self._pending else None)
                    if item is None:
                        return
                self._attempt(item)
        finally:
            self._client.close()

    def _attempt(self, item: _Pending) -> None:
        import httpx

        assert self._client is not None
        subscription = self.subscription
        timestamp = int(time.time())  # real time: verifiers compare it with their own clock
        headers = {
            "content-type": "application/json",
            "user-agent": _USER_AGENT,
            "webhook-id": item.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(subscription.secret, item.event_id, timestamp, item.body),
        }
        status: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            response = self._client.post(subscription.url, content=item.body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"answered {status}; only a 2xx counts as delivered"
        except httpx.TimeoutException:
            error = f"no answer within {self.hooks.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = (time.perf_counter() - started) * 1000
        attempt = item.attempt
        next_at = None
        if error is not None and attempt < MAX_ATTEMPTS:
            next_at = self.hooks.store.clock.now() + timedelta(seconds=RETRY_DELAYS[attempt - 1])
        with self._ready:
            if self._closed:
                next_at = None
        self.hooks._journal(
            subscription,
            item,
            attempt=attempt,
            status=status,
            error=error,
            duration_ms=duration_ms,
            next_attempt_at=next_at,
        )
        if next_at is not None:
            with self._ready:
                if not self._closed:
                    item.attempt += 1
                    item.due = next_at
                    self._pending.append(item)


def behaviours(hooks: Webhooks) -> dict[str, Behaviour]:
    """The ``/_sandbox/webhooks`` and ``/_sandbox/events`` control operations."""

    def subscriptions(call: Call) -> Reply:
        return Reply(200, {"data": [s.as_dict() for s in hooks.subscriptions()]})

    def subscribe(call: Call) -> Reply:
        try:
            subscription = hooks.subscribe(call.body["url"], call.body.get("secret"))
        except ValueError as exc:
            raise BadRequest(
                Problem(str(exc), {"location": "body", "pointer": "/secret", "keyword": "base64"})
            ) from None
        return Reply(201, {"data": subscription.as_dict()})

    def unsubscribe(call: Call) -> Reply:
        subscription_id = call.path["subscriptionId"]
        removed = hooks.unsubscribe(subscription_id)
        if removed is None:
            raise NotFound(
                Problem(
                    f"no webhook subscription {subscription_id}; GET /_sandbox/webhooks lists "
                    "them.",
                    {"location": "path", "pointer": "/subscriptionId", "keyword": "exists"},
                )
            )
        return Reply(200, {"data": removed.as_dict()})

    def deliveries(call: Call) -> Reply:
        found = hooks.deliveries(call.query.get("event_id"), call.query.get("subscription_id"))
        return Reply(200, {"data": found})

    def events(call: Call) -> Reply:
        hooks.collect()
        return Reply(200, {"data": hooks.events(type=call.query.get("type"))})

    return {
        "sandbox.webhooks.get": subscriptions,
        "sandbox.webhooks.post": subscribe,
        "sandbox.webhooks.delete": unsubscribe,
        "sandbox.webhooks.deliveries.get": deliveries,
        "sandbox.events.get": events,
    }
