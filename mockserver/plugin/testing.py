"""The test-facing sandbox: a session harness and the per-test handle tests call ``layer_sandbox``.

``SandboxHarness`` owns one sandbox for a whole run, served over a socket (``BackgroundServer``)
or called in-process (``ASGITransport``). ``LayerSandbox`` is one test's view of it: clients,
state, the requests this test made, seeding, and assertions on what was called. Nothing here
depends on pytest; the pytest plugin only wires these to fixtures and options.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx

from ..config import Config
from ..controls.coverage import ContractCoverage
from ..controls.inferred import records_of, resource_table
from ..controls.journal import Entry
from ..controls.ratelimit import RateLimiter
from ..controls.testcontrol import restore_document, snapshot_document
from ..engine.resources import resource_violations
from ..engine.schemas import parse_date_time
from ..engine.store import Record
from ..engine.validation import check_response
from ..errors import ContractViolation, FixtureError, SandboxError, error_body
from ..layer.control import state_view
from ..layer.fixtures import record_defaults, seed_record
from ..serving.app import Sandbox, create_app
from ..serving.server import BackgroundServer
from ..serving.transport import ASGITransport

MODES = ("socket", "inprocess")
#: The bearer token clients get when the config binds none (any non-empty token is accepted).
DEFAULT_TOKEN = "layer-sandbox-token"
#: Base URL in in-process mode: only clients from ``client()`` (or ``transport``) reach it.
INPROCESS_URL = "http://layer-sandbox.test"
#: Values the seed helpers fill in when a field is left out (ids and nullable fields aside).
_ESCAPE_HINT = (
    "Sending such requests on purpose? Wrap them in `with layer_sandbox.expect_off_contract():`, "
    "mark the test `@pytest.mark.layer_sandbox(contract_failures=False)`, or turn the check off "
    "with --layer-sandbox-no-contract-failures."
)


class _SharedTransport(httpx.BaseTransport):
    """The harness's one transport, lent to every client: closing a client must not close it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass


class SandboxHarness:
    """One sandbox for a whole test run; ``begin_test()`` resets it and returns a fresh handle."""

    def __init__(self, config: Config | None = None, *, mode: str = "socket") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.config = config or Config()
        self.mode = mode
        self.app = create_app(self.config)
        self.sandbox: Sandbox = self.app.state.sandbox
        self.token = usable_token(self.config)
        self.coverage = ContractCoverage.for_spec(self.sandbox.spec)
        self.operations = self.sandbox.spec.by_id
        #: The event types the document declares (``WebhookEventType``), for helpful errors.
        self.event_types: list[str] = list(
            self.sandbox.spec.document.get("components", {})
            .get("schemas", {})
            .get("WebhookEventType", {})
            .get("enum", [])
        )
        self.default_business_id: str | None = next(iter(self.sandbox.store.businesses), None)
        self.server: BackgroundServer | None = None
        self.url = INPROCESS_URL
        self._transport: httpx.BaseTransport | None = None
        self._counted_seq = self.sandbox.journal.last_seq

    @property
    def transport(self) -> httpx.BaseTransport:
        """A transport reaching the sandbox, for clients built by hand."""
        if self._transport is None:
            raise RuntimeError("the sandbox harness is not started; call start() first")
        return _SharedTransport(self._transport)

    def start(self) -> SandboxHarness:
        if self._transport is not None:
            return self
        if self.mode == "socket":
            self.server = BackgroundServer(self.app).start()
            self.url = self.server.url
            self._transport = httpx.HTTPTransport()  # one keep-alive pool for every test
        else:
            self._transport = ASGITransport(self.app)
        return self

    def close(self) -> None:
        self.count_requests()
        self.sandbox.webhooks.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> SandboxHarness:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` pointed at the sandbox with a valid bearer token."""
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        kwargs.setdefault("base_url", self.url)
        return httpx.Client(transport=self.transport, headers=headers, **kwargs)

    def reset(self) -> None:
        """Fixture state, seeded ids from the start, real clock, no faults, no issued tokens."""
        sandbox = self.sandbox
        sandbox.store.reset()
        sandbox.store.ids.reseed(self.config.seed)  # a test may have reseeded it
        sandbox.store.clock.real()
        sandbox.scenarios.clear()
        sandbox.auth.issued.clear()
        sandbox.limiter = RateLimiter(self.config.rate_limit)
        sandbox.webhooks.reset()

    def count_requests(self) -> None:
        """Add the requests made since the last count to the contract coverage."""
        journal = self.sandbox.journal
        end = journal.last_seq
        entries = journal.entries(since=self._counted_seq, until=end)
        first = entries[0].seq if entries else end + 1
        self.coverage.uncounted += first - self._counted_seq - 1
        self.coverage.record(entries)
        self._counted_seq = end

    def begin_test(self, *, contract_failures: bool = True) -> LayerSandbox:
        self.count_requests()
        self.reset()
        return LayerSandbox(self, contract_failures=contract_failures)

    def end_test(self, handle: LayerSandbox) -> str | None:
        """Close ``handle``'s clients; its contract problems not reported yet, as one message.

        The test's requests are counted for coverage by the next ``begin_test`` or ``close``.
        """
        handle.close()
        return handle.contract_problems()


def usable_token(config: Config) -> str:
    """A bearer token the sandbox accepts for every business: any one when none is configured."""
    if not config.tokens:
        return DEFAULT_TOKEN
    for token, businesses in config.tokens.items():
        if "*" in businesses:
            return token
    return next(iter(config.tokens))


class LayerSandbox:
    """One test's sandbox: reset to its fixtures when the test starts.

    ``url``, ``token`` and ``client()`` reach it; ``state`` reads it; ``requests`` is what this
    test asked and got; ``add_customer()`` and friends seed it; ``assert_called()`` checks calls.
    """

    def __init__(self, harness: SandboxHarness, *, contract_failures: bool = True) -> None:
        self.harness = harness
        self.url = harness.url
        self.token = harness.token
        self.mode = harness.mode
        #: The first fixture business (Acme Hardware LLC with the built-in fixtures).
        self.business_id = harness.default_business_id
        #: Whether off-contract requests and contract violations fail this test.
        self.contract_failures = contract_failures
        self._journal = harness.sandbox.journal
        self._start_seq = self._journal.last_seq
        self._checked_seq = self._start_seq
        self._expected: list[tuple[int, int]] = []
        self._clients: list[httpx.Client] = []
        self._event_start = harness.sandbox.webhooks.last_seq

    @property
    def sandbox(self) -> Sandbox:
        return self.harness.sandbox

    @property
    def transport(self) -> httpx.BaseTransport:
        return self.harness.transport

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` pointed at the sandbox and authorised; closed after the test."""
        client = self.harness.client(**kwargs)
        self._clients.append(client)
        return client

    @property
    def state(self) -> dict[str, Any]:
        """Every collection as ``GET /_sandbox/state`` shows it, as of now (a copy)."""
        return state_view(self.harness.sandbox.store)

    @property
    def requests(self) -> list[Entry]:
        """The journal entries of the requests this test made, oldest first."""
        return self._journal.entries(since=self._start_seq)

    def reset(self) -> None:
        """Back to the fixtures; ``requests`` still lists what the test made before."""
        self.harness.reset()

    def seed(
        self, collection: str, record: Mapping[str, Any] | None = None, **fields: Any
    ) -> Record:
        """Add a record to ``collection``, validated exactly like a fixture record.

        ``id`` and ``business_id`` (the first business) may be left out, and so may fields the
        record schema allows to be null; invalid records raise ``FixtureError`` naming the field.
        The record lasts until the next reset.
        """
        __tracebackhide__ = True
        sandbox = self.harness.sandbox
        full = self._defaults(collection, {**(record or {}), **fields})
        try:
            stored = seed_record(sandbox.store, collection, full, sandbox.control_spec.document)
        except FixtureError as exc:  # the message says it all; the loader's frames do not help
            raise FixtureError(str(exc)) from None
        return dict(stored)

    # -- test controls (the same as the /_sandbox endpoints; undone by the next test's reset)

    def freeze_time(self, at: datetime | str | None = None) -> None:
        """Stop the sandbox's clock at ``at`` (default now); timestamps it writes use it."""
        when = parse_date_time(at) if isinstance(at, str) else at
        if isinstance(at, str) and when is None:
            raise ValueError(f"{at!r} is not an RFC 3339 date-time such as 2024-06-01T12:00:00Z")
        self.harness.sandbox.store.clock.freeze(when)

    def advance_time(self, seconds: float = 0, **delta: float) -> None:
        """Move the clock forward: ``advance_time(90)`` or ``advance_time(days=1)``."""
        self.harness.sandbox.store.clock.advance(timedelta(seconds=seconds, **delta))

    def real_time(self) -> None:
        self.harness.sandbox.store.clock.real()

    def seed_ids(self, seed: int | None) -> None:
        """Generated ids follow ``seed`` from now on (None: random)."""
        self.harness.sandbox.store.ids.reseed(seed)

    def fail_next(self, operation_id: str = "*", times: int = 1, status: int = 503) -> None:
        """The next ``times`` calls of ``operation_id`` answer ``status`` and change nothing."""
        self.add_fault(operation_id=operation_id, fail_next=times, status=status)

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """A scenario fault rule, as for ``POST /_sandbox/faults`` (error_rate, latency_ms...)."""
        __tracebackhide__ = True
        try:
            return self.harness.sandbox.add_fault(rule).as_dict()
        except SandboxError as exc:
            raise ValueError(str(exc)) from None

    def clear_faults(self) -> None:
        self.harness.sandbox.scenarios.clear()

    def snapshot(self) -> dict[str, Any]:
        """The whole state, as ``GET /_sandbox/snapshot`` gives it."""
        return snapshot_document(self.harness.sandbox.store)

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        restore_document(self.harness.sandbox.store, snapshot)

    def add_record(
        self, resource: str, scope: Mapping[str, str] | None = None, **fields: Any
    ) -> Record:
        """Seed a record of a resource the engine inferred from the document (any document:
        ``add_record("pets", name="Rex")``); the id and other server-owned fields the record
        lacks come from the document. ``scope``: the path parameters it lives under."""
        __tracebackhide__ = True
        resources = self.harness.sandbox.resources
        table = resource_table(resources)
        if resource not in table:
            raise ValueError(
                f"no resource {resource!r} was inferred from the document; known: "
                f"{', '.join(sorted(table)) or 'none'}"
            )
        found = table[resource]
        record = resources.new_record(found, fields, scope or {})
        problems = resource_violations(found, record)
        if problems:
            raise ValueError(f"{resource} record: {'; '.join(problems)}")
        return resources.seed_record(found, record, scope or {})

    def records(self, resource: str) -> list[Record]:
        """Every stored record of an inferred resource (any scope)."""
        return [entry["record"] for entry in records_of(self.harness.sandbox.resources, resource)]

    def add_customer(self, **fields: Any) -> Record:
        __tracebackhide__ = True
        return self.seed("customers", **fields)

    def add_vendor(self, **fields: Any) -> Record:
        __tracebackhide__ = True
        return self.seed("vendors", **fields)

    def add_invoice(self, **fields: Any) -> Record:
        """An invoice (``line_items``, or ``total_amount`` for one SALES line); ``sent_at``
        defaults to now. Its balance and status are derived, as over HTTP."""
        __tracebackhide__ = True
        return self.seed("invoices", **fields)

    def add_bill(self, **fields: Any) -> Record:
        """A bill (``line_items``, or ``total_amount`` for one line); ``received_at`` defaults
        to now. Its balance and status are derived, as over HTTP."""
        __tracebackhide__ = True
        return self.seed("bills", **fields)

    def add_invoice_payment(self, **fields: Any) -> Record:
        """A payment (``amount``, ``method``, ``allocations``); ``at`` defaults to now. Its
        allocations lower the invoices' balances, as over HTTP."""
        __tracebackhide__ = True
        return self.seed("invoice_payments", **fields)

    def add_bill_payment(self, **fields: Any) -> Record:
        """A bill payment (``amount``, ``method``, ``allocations`` adding up to ``amount``);
        ``at`` defaults to now."""
        __tracebackhide__ = True
        return self.seed("bill_payments", **fields)

    def add_ledger_account(self, **fields: Any) -> Record:
        __tracebackhide__ = True
        return self.seed("ledger_accounts", **fields)

    def add_tag_dimension(self, **fields: Any) -> Record:
        """A tag dimension (``key``; ``strictness`` defaults to NON_BALANCING) with its
        ``defined_values`` (``[{"value": ...}]``; a value without ``id`` gets the id tags with
        it show). Tags with its key then name its ids."""
        __tracebackhide__ = True
        return self.seed("tag_dimensions", **fields)

    def _defaults(self, collection: str, given: dict[str, Any]) -> dict[str, Any]:
        sandbox = self.harness.sandbox
        return record_defaults(
            sandbox.store, collection, given, sandbox.control_spec.document, self.business_id
        )

    # -- webhook events (captured in-process: no subscriber URL needed)

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """The webhook event bodies this test's changes produced, oldest first.

        Exactly what a subscriber receives (``WebhookEvent`` in the document); ``type`` keeps
        one event type, e.g. ``"CustomerCredit.created"``.
        """
        __tracebackhide__ = True
        if type is not None:
            self._check_event_type(type)
        hooks = self.harness.sandbox.webhooks
        hooks.collect()  # a change answered a moment ago may not be handed over yet
        return hooks.events(since=self._event_start, type=type)

    def assert_event(self, type: str, **expected: Any) -> dict[str, Any]:
        """The first event of ``type`` whose fields equal ``expected``; else fail, listing all.

        ``expected`` names body fields (``business_id``, ``business_external_id``, ``id``) or
        ``data`` fields (``entity_id``, ``entity_external_id``).
        """
        __tracebackhide__ = True
        unknown = sorted(set(expected) - _EVENT_FIELDS)
        if unknown:
            raise ValueError(
                f"assert_event() cannot match on {', '.join(unknown)}; use any of "
                f"{', '.join(sorted(_EVENT_FIELDS))}."
            )
        seen = self.events()
        self._check_event_type(type)
        for event in seen:
            if event["type"] == type and all(
                _event_field(event, key) == value for key, value in expected.items()
            ):
                return event
        wanted = type + "".join(f" {key}={value!r}" for key, value in expected.items())
        if not seen:
            raise AssertionError(f"expected an event {wanted}, but this test emitted no events.")
        lines = [f"expected an event {wanted}, but none of the {len(seen)} emitted matches:"]
        for i, event in enumerate(seen, 1):
            marker = "  <-- " if event["type"] == type else "      "
            lines.append(f"{marker}{i}. {describe_event(event)}")
        raise AssertionError("\n".join(lines))

    def _check_event_type(self, type: str) -> None:
        __tracebackhide__ = True
        known = self.harness.event_types
        if not known or type in known:
            return
        close = difflib.get_close_matches(type, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"{type!r} is not an event type of the contract.{hint} Known: {', '.join(known)}."
        )

    def calls(self, operation_id: str, *, status: int | None = None) -> list[Entry]:
        """This test's requests to ``operation_id`` (optionally with ``status``)."""
        __tracebackhide__ = True
        self._check_operation(operation_id)
        return [
            e
            for e in self.requests
            if e.operation_id == operation_id and (status is None or e.status == status)
        ]

    def assert_called(
        self, operation_id: str, times: int | None = None, status: int | None = None
    ) -> list[Entry]:
        """Fail unless this test called ``operation_id`` (``times`` times, with ``status``)."""
        __tracebackhide__ = True
        matching = self.calls(operation_id, status=status)
        if (times is None and matching) or (times is not None and len(matching) == times):
            return matching
        expected = "at least once" if times is None else f"{times} time(s)"
        raise AssertionError(
            f"expected {operation_id} to be called {expected}"
            + (f" with status {status}" if status is not None else "")
            + f", but it was called {len(matching)} time(s)"
            + (f" with status {status}" if status is not None else "")
            + ".\n"
            + self._calls_diff(operation_id)
        )

    def assert_not_called(self, operation_id: str, status: int | None = None) -> None:
        """Fail if this test called ``operation_id`` (with ``status``, when given)."""
        __tracebackhide__ = True
        matching = self.calls(operation_id, status=status)
        if matching:
            raise AssertionError(
                f"expected {operation_id} not to be called"
                + (f" with status {status}" if status is not None else "")
                + f", but it was called {len(matching)} time(s).\n"
                + self._calls_diff(operation_id)
            )

    def _check_operation(self, operation_id: str) -> None:
        __tracebackhide__ = True
        known = self.harness.operations
        if operation_id in known:
            return
        close = difflib.get_close_matches(operation_id, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"{operation_id!r} is not an operationId of the contract.{hint} "
            f"Known: {', '.join(known)}."
        )

    def _calls_diff(self, operation_id: str) -> str:
        entries = self.requests
        if not entries:
            return "This test made no requests to the sandbox."
        lines = [f"Requests this test made ({len(entries)}):"]
        for i, entry in enumerate(entries, 1):
            marker = "  <-- " if entry.operation_id == operation_id else "      "
            lines.append(f"{marker}{i}. {describe(entry)}")
        by_status = Counter(_outcome(e) for e in entries if e.operation_id == operation_id)
        if by_status:
            counts = ", ".join(f"{s} x{n}" for s, n in sorted(by_status.items()))
            lines.append(f"Calls to {operation_id} by status: {counts}.")
        return "\n".join(lines)

    def expect_off_contract(self) -> _ExpectOffContract:
        """A ``with`` block whose off-contract requests are expected: they do not fail the test.

        At least one request in the block must be off-contract, else the block fails.
        """
        return _ExpectOffContract(self)

    def contract_problems(self) -> str | None:
        """Off-contract requests and contract violations not reported yet, as one message."""
        end = self._journal.last_seq
        entries = self._journal.entries(since=self._checked_seq, until=end)
        self._checked_seq = end
        failing = [
            e
            for e in entries
            if e.contract_violation
            or (e.off_contract and not any(a < e.seq <= b for a, b in self._expected))
        ]
        if not failing:
            return None
        lines = [f"layer_sandbox: {len(failing)} request(s) in this test broke the contract:"]
        for i, entry in enumerate(failing, 1):
            what = (
                "the sandbox's response broke the contract"
                if entry.contract_violation
                else "the request is off-contract"
            )
            lines.append(f"{i}. {describe(entry)}: {what}")
            lines.extend(f"   - {problem}" for problem in self._problems(entry))
        if any(e.off_contract and not e.contract_violation for e in failing):
            lines.append(_ESCAPE_HINT)
        return "\n".join(lines)

    def _problems(self, entry: Entry) -> list[str]:
        errors = entry.errors
        op = self.harness.operations.get(entry.operation_id or "")
        if entry.contract_violation and entry.status not in (None, 500) and op is not None:
            # Lenient mode sent the off-contract body itself; find out again what is wrong.
            try:
                check_response(op, entry.status, entry.response_body)
            except ContractViolation as exc:
                errors = error_body(exc)["errors"]
        return [_problem_line(error) for error in errors] or ["(no error details recorded)"]

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


class _ExpectOffContract:
    def __init__(self, handle: LayerSandbox) -> None:
        self._handle = handle
        self._start = 0

    def __enter__(self) -> None:
        self._start = self._handle._journal.last_seq

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        journal = self._handle._journal
        end = journal.last_seq
        self._handle._expected.append((self._start, end))
        if exc_type is not None:
            return
        inside = journal.entries(since=self._start, until=end)
        if not any(e.off_contract for e in inside):
            raise AssertionError(
                "expected an off-contract request inside expect_off_contract(), but "
                + (
                    f"the {len(inside)} request(s) made in it were on contract:\n"
                    + "\n".join(f"  {describe(e)}" for e in inside)
                    if inside
                    else "no request was made in it."
                )
            )


_EVENT_FIELDS = frozenset(
    {"id", "business_id", "business_external_id", "entity_id", "entity_external_id"}
)


def _event_field(event: Mapping[str, Any], key: str) -> Any:
    return event["data"].get(key) if key.startswith("entity_") else event.get(key)


def describe_event(event: Mapping[str, Any]) -> str:
    """``CustomerCredit.created entity_id=... entity_external_id=...``: one event on one line."""
    data = event["data"]
    return (
        f"{event['type']} entity_id={data['entity_id']!r} "
        f"entity_external_id={data['entity_external_id']!r} business_id={event['business_id']!r}"
    )


def describe(entry: Entry) -> str:
    """``POST /v1/... -> 400 (operationId)``: one journal entry on one line."""
    target = entry.path + (f"?{entry.query}" if entry.query else "")
    return f"{entry.method} {target} -> {_outcome(entry)}" + (
        f" ({entry.operation_id})" if entry.operation_id else " (no operation matched)"
    )


def _outcome(entry: Entry) -> str:
    """The status answered, or the connection fault that cut the answer."""
    return str(entry.status) if entry.fault is None else f"fault={entry.fault}"


def _problem_line(error: Mapping[str, Any]) -> str:
    meta = error.get("meta") or {}
    details = ", ".join(
        f"{key} {meta[key] if meta[key] != '' else '/'}"
        for key in ("location", "pointer", "keyword")
        if key in meta
    )
    return str(error.get("description", error)) + (f" [{details}]" if details else "")
