"""``create_app(config)``: the Starlette app and the request pipeline every call goes through.

route -> rate limit -> security -> parameters + body (all violations at once) -> behaviour
(by operationId) -> response contract check -> JSON out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import threading
from collections.abc import AsyncIterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import BUILTIN_FIXTURES, BUILTIN_SPEC, Config
from ..controls import coverage, drift, health, inferred, persistence, testcontrol, webhooks
from ..controls.faults import Forcing, Scenario, Scenarios, bad_prefer, parse_prefer
from ..controls.journal import Journal, encode_json
from ..controls.journal import request_body as journal_request_body
from ..controls.ratelimit import RateLimiter
from ..engine import auth
from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.limits import check_request_head, query_items
from ..engine.resources import RESOURCES_FILE, Resources, infer, load_resource_fixtures
from ..engine.responses import (
    choose_media_type,
    error_reply,
    example_reply,
    in_media_type,
    is_json,
    success_status,
)
from ..engine.routing import Router
from ..engine.schemas import judged_json
from ..engine.spec import (
    JSON,
    Operation,
    Spec,
    compile_spec,
    component_validator,
    load_spec,
    read_document,
)
from ..engine.store import IdFactory, Store
from ..engine.validation import (
    check_response,
    media_type_of,
    parse_body,
    parse_parameters,
    problem,
    raise_if,
)
from ..errors import (
    BadRequest,
    ContractViolation,
    MethodNotAllowed,
    PayloadTooLarge,
    Problem,
    RateLimited,
    SandboxError,
    SpecError,
    error_body,
    error_class_for,
)
from ..layer import control, counterparties, credits, documents, ledger, payments, tags
from ..layer.fixtures import load_fixtures
from ..tools.lint import document_errors
from . import browser, workers
from .protocols import header_lines

log = logging.getLogger("mockserver")
#: Requests under this prefix drive the sandbox; they are not part of Layer's contract.
CONTROL_PREFIX = "/_sandbox"
JSON_TYPE = "application/json"


class Sandbox:
    """One running sandbox: compiled contract, store, behaviours; no I/O beyond start-up."""

    def __init__(self, config: Config, *, lint_in_background: bool = False) -> None:
        self.config = config
        # The project's own documents load strictly; a user's is served with what is
        # understood, each finding logged once with its pointer (unless --strict-spec).
        strict = config.strict_spec or Path(config.spec) == BUILTIN_SPEC
        self.spec: Spec = load_spec(config.spec, strict=strict)
        self.control_spec: Spec = (
            compile_spec(
                auth.secure_control_document(read_document(config.control_spec)),
                source=str(config.control_spec),
            )
            if config.control_token is not None
            else load_spec(config.control_spec)
        )
        for finding in self.spec.findings:
            log.warning("%s: not understood, served without it: %s", self.spec.source, finding)
        #: Documents to lint once serving has started (``create_app(lint_in_background)``).
        self.lint_later: list[Spec] = []
        for spec, spec_strict in ((self.spec, strict), (self.control_spec, True)):
            if spec_strict or not lint_in_background:
                _lint(spec, spec_strict)
            elif (cached := document_errors(spec.document, cached_only=True)) is not None:
                _log_errors(spec, cached)  # known from an earlier start: no thread needed
            else:  # only logged: start-up need not wait for it
                self.lint_later.append(spec)
        #: Layer's envelope for errors (its own document asks for it); else the document's.
        self.layer_errors = self.spec.extension("error-style") == "layer"
        self.reject_unknown_query = self.spec.extension("unknown-query") == "reject"
        self.store = Store(ids=IdFactory(config.seed))
        self.state_file = (
            persistence.StateFile(config.state_file, self.store) if config.state_file else None
        )
        self.auth = auth.Authenticator(
            config.tokens, config.clients, self.store.ids, config.control_token
        )
        self.limiter = RateLimiter(config.rate_limit)
        self.journal = Journal(config.journal_cap)
        self.scenarios = Scenarios()
        self.webhooks = webhooks.Webhooks(
            self.store,
            self.spec.document,
            targets=config.webhooks,
            timeout=config.webhook_timeout,
            journal_cap=config.journal_cap,
        )
        layer_behaviours: dict[str, Behaviour] = {
            **credits.behaviours(self.store),
            **counterparties.behaviours(self.store),
            **documents.behaviours(self.store),
            **payments.behaviours(self.store),
            **ledger.behaviours(self.store),
            **tags.behaviours(self.store),
            **auth.behaviours(self.auth),
        }
        # Resolution per operation: a bound behaviour (x-sandbox-behaviour, else the
        # operationId), then an inferred resource action, then the document's own answer.
        self.behaviours: dict[str, Behaviour] = {}
        for op in self.spec.operations:
            name = op.raw.get("x-sandbox-behaviour", op.operation_id)
            if name in layer_behaviours:
                self.behaviours[op.operation_id] = layer_behaviours[name]
        unbound = [op for op in self.spec.operations if op.operation_id not in self.behaviours]
        self.resources = Resources(self.store, infer(unbound), seed=config.seed or 0)
        self.behaviours.update(self.resources.behaviours())
        self.behaviours.update(
            {
                **control.behaviours(self.store),
                **persistence.behaviours(self.state_file),
                **webhooks.behaviours(self.webhooks),
                **inferred.behaviours(self.resources),
                **health.behaviours(self.spec, self.control_spec, self.store, self.journal),
                **coverage.behaviours(self.journal, self.spec),
                **drift.behaviours(self.journal),
                **testcontrol.behaviours(
                    self.store,
                    self.journal,
                    self.scenarios,
                    self.control_spec.document,
                    self.spec.by_id,
                ),
            }
        )
        uses_layer = any(op.operation_id in layer_behaviours for op in self.spec.operations)
        if Path(config.fixtures) != BUILTIN_FIXTURES:  # before load_fixtures marks it pristine
            load_resource_fixtures(self.resources, Path(config.fixtures) / RESOURCES_FILE)
        if uses_layer or Path(config.fixtures) != BUILTIN_FIXTURES:
            load_fixtures(self.store, config.fixtures, self.control_spec.document)
        self.loaded_state = self.state_file is not None and self.state_file.load()
        self.router = Router(
            self.spec.operations, [self.spec.base_path] if self.spec.base_path else []
        )
        self.router.add_operations(self.control_spec.operations)
        for i, rule in enumerate(config.faults):
            try:
                self.add_fault(rule)
            except BadRequest as exc:
                raise SpecError(f"fault rule {i} ({dict(rule)}): {exc}") from None
        missing = [
            op.operation_id
            for op in self.control_spec.operations
            if op.operation_id not in self.behaviours
        ]
        if missing:
            raise SpecError(
                f"{config.control_spec}: the sandbox has no behaviour for control operation(s) "
                f"{', '.join(missing)}"
            )

    @cached_property
    def spec_json(self) -> bytes:
        """The served document as JSON, encoded on its first request (megabytes for a big one:
        neither start-up time nor memory until asked for)."""
        return orjson.dumps(self.spec.document, option=orjson.OPT_NON_STR_KEYS)

    @cached_property
    def control_spec_json(self) -> bytes:
        return orjson.dumps(self.control_spec.document)

    def add_fault(self, rule: Mapping[str, Any]) -> Scenario:
        """Add a scenario fault rule, checked as ``POST /_sandbox/faults`` checks it."""
        violations = component_validator(self.control_spec.document, "ScenarioRule").violations(
            rule
        )
        raise_if([problem("body", v) for v in violations])
        testcontrol.check_rule(rule, self.spec.by_id)
        return self.scenarios.add(rule)

    def describe(self) -> str:
        businesses = len(self.store.businesses)
        validators = self.spec.validator_count + self.control_spec.validator_count
        operations = len(self.spec.operations) + len(self.control_spec.operations)
        source = str(self.config.fixtures)
        if self.loaded_state:
            source = f"the state file {self.config.state_file}"
        return (
            f"{operations} operations, {validators} validators from {self.spec.source}; "
            f"{businesses} businesses from {source}"
        )

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = _Request(scope, receive)
        if scope["path"] == "/openapi.json":
            response = self._document(request, self.spec_json, control=False)
        elif scope["path"] == f"{CONTROL_PREFIX}/openapi.json":
            response = self._document(request, self.control_spec_json, control=True)
        else:
            response = await self.endpoint(request)
        try:
            await response(scope, receive, send)
        finally:
            self.answered()  # webhooks go out only once the answer has been sent

    @staticmethod
    def answers_directly(target: bytes) -> bool:
        """Whether a request for ``target`` (the request line's, query included) is one
        ``endpoint`` answers, so that ``answer_now`` may: not the two documents nor the
        inspector's pages (``asgi`` and ``browser.entry`` serve those), nor the control API,
        which stays on the ASGI way with them."""
        return target.startswith(b"/") and not target.startswith(_NOT_ENDPOINT)

    def answer_now(self, scope: Scope, body: bytes) -> Response | None:
        """The answer to a public request whose body has been read, computed at once, without
        the ASGI stack. The served fast path (protocols.py) calls it for requests that cannot
        have to wait (no ``Prefer``, no fault scenario, no CORS) and writes the response
        itself: its ``lines``, when it has them, are its headers as the lines of an HTTP/1.1
        head. None if the answer would have to wait after all: nothing was answered or
        recorded, and the request goes the ASGI way. ``answered()`` must follow once the
        answer is sent."""
        if self.scenarios.active:
            return None
        request = _Request(scope, _nothing_to_receive)
        request.held = body
        running = self.endpoint(request)
        try:
            running.send(None)
        except StopIteration as done:
            response: Response = done.value
        else:  # it waited: only before the call is journaled or any behaviour runs
            running.close()
            return None
        return response

    def answered(self) -> None:
        """After an answer is sent: webhooks go out (the clock may have moved)."""
        if self.store.has_events:  # most answers change nothing
            self.webhooks.collect()
        self.webhooks.wake()

    async def endpoint(self, request: Request) -> Response:
        op: Operation | None = None
        call: Call | None = None
        forcing: Forcing | None = None
        document_error = False  # an error the engine answers that the document does not list
        raw_body = b""
        allowed, headers = self.limiter.take()
        scope = request.scope
        method: str = scope["method"]
        path = scope["raw_path"].decode("latin-1")
        if "?" in path:  # ASGI's raw_path has no query, but not every server keeps to that
            path = path.split("?", 1)[0]
        public = not path.startswith(CONTROL_PREFIX)
        try:
            self._check_head(scope)
            op, path_params = self.router.match(method, path)
            # The control API drives tests; throttling it is not part of Layer's contract.
            if not allowed and self.config.enforce_rate_limit and public:
                raise RateLimited(
                    "Rate limit exceeded: slow down and retry after the Retry-After seconds."
                )
            # Most calls carry no Prefer header and meet no fault rule: no coroutine for them.
            if public and (self.scenarios.active or "prefer" in request.headers):
                forcing = await self._forcing(op, request)
                if (
                    forcing is not None
                    and forcing.status is not None
                    and not self._answers_from_document(op, forcing.status)
                ):
                    raise _forced_error(op, forcing)
                if forcing is not None and forcing.fault is not None:
                    self.journal.record(
                        method=method,
                        path=unquote(path),
                        query=scope["query_string"].decode("utf-8", "replace"),
                        operation_id=op.operation_id,
                        business_id=path_params.get("businessId"),
                        status=None,  # no complete answer goes out
                        request_body=None,  # not read
                        response_body=None,
                        off_contract=False,
                        contract_violation=False,
                        fault=forcing.fault,
                        request_headers=tuple(scope["headers"]),
                        ignored_preferences=forcing.ignored,
                    )
                    return _FaultResponse(forcing.fault, headers)
            held = getattr(request, "held", None)  # the direct path read it already
            raw_body = held if held is not None else await self._read_body(request, op)
            call = self.parse(op, path_params, request, raw_body)
            behaviour = self.behaviours.get(op.operation_id)
            accept = request.headers.get("accept")
            if accept and not self.layer_errors and public:  # without Accept, never a 406
                choose_media_type(op.response_for(op.success_status), accept)
            if behaviour is not None:
                reply = behaviour(call)
                if not self.layer_errors and public:
                    reply = in_media_type(op, reply, accept)
            else:
                reply = example_reply(
                    op,
                    forcing.status if forcing and forcing.status else success_status(op),
                    accept,
                    example=forcing.example if forcing else None,
                    dynamic=forcing.dynamic if forcing else False,
                    seed=self.config.seed or 0,
                )
        except SandboxError as exc:
            if public and not self.layer_errors:
                reply = error_reply(op, exc, request.headers.get("accept"))
                # Not checked where the document has no room for it (an undocumented status,
                # or one documented without a body): the violations are still listed.
                declared = op.response_for(reply.status) if op is not None else None
                document_error = declared is None or reply.media_type not in declared.media_types
            else:
                reply = Reply(exc.status, error_body(exc), exc.headers)
        except Exception:  # a sandbox bug must still answer in Layer's envelope, not a trace
            log.exception("unexpected error handling %s %s", request.method, request.url.path)
            reply = Reply(500, _BUG_BODY)
        violation = False
        if op is not None and reply.status != 500 and not document_error:
            reply, violation = self._checked(op, reply)
        content = _encoded(reply)  # once, for both uses
        if public:
            self.journal.record_answer(
                method,
                unquote(path),
                # Not request.url: building a URL costs more than the rest of the journal.
                scope["query_string"].decode("utf-8", "replace"),
                op.operation_id if op else None,
                call.path.get("businessId") if call else None,
                reply.status,
                call.body_json
                if call is not None and call.body_json is not None
                else encode_json(call.body if call else journal_request_body(raw_body)),
                content if is_json(reply.media_type) else encode_json(reply.body),
                # Rejected before any behaviour ran, for a reason other than the rate limit or
                # a response the test forced.
                call is None and forcing is None and 400 <= reply.status < 500
                and reply.status != 429,
                violation,
                tuple(scope["headers"]),
                forcing.ignored if forcing else (),
            )  # fmt: skip
        if forcing is not None and forcing.applied:
            headers = {**headers, **forcing.preference_applied}
        return _json_response(reply, headers, content)

    async def _forcing(self, op: Operation, request: Request) -> Forcing | None:
        """The Prefer header and scenario faults for this call, after any delay they ask for."""
        forcing = parse_prefer(request.headers.get("prefer"))
        scenario = self.scenarios.decide(op.operation_id)
        forcing = forcing.combine(scenario) if forcing is not None else scenario
        if forcing is None:
            return None
        if forcing.delay_ms:
            await asyncio.sleep(forcing.delay_ms / 1000)
        return forcing

    def _answers_from_document(self, op: Operation, status: int) -> bool:
        """Whether a forced success ``status`` is the answer of an operation served from the
        document (examples or generated data) rather than a forced error."""
        return (
            op.operation_id not in self.behaviours
            and status < 400
            and op.response_for(status) is not None
        )

    def parse(
        self, op: Operation, path_params: Mapping[str, str], request: Request, raw_body: bytes
    ) -> Call:
        """Security, parameters and body checked against ``op``: a ``Call``, or a 4xx raised."""
        problems: list[Problem] = []
        query = query_items(request.scope["query_string"], problems)

        def api_key(location: str, name: str) -> str | None:
            if location == "header":
                return request.headers.get(name.lower())
            if location == "query":
                return next((v for k, v in query if k == name), None)
            return request.cookies.get(name)

        token, businesses = self.auth.authenticate(
            op, request.headers.get("authorization"), api_key
        )
        params = parse_parameters(
            op,
            path_params,
            query,
            request.headers,
            problems,
            reject_unknown_query=self.reject_unknown_query,
        )
        content_type = request.headers.get("content-type")
        body = parse_body(op, content_type, raw_body, problems)
        # A NUL character is valid JSON Schema text: only Layer's document refuses it, in
        # JSON bodies and parameters.
        if problems and not self.layer_errors:
            problems = [p for p in problems if p.meta.get("keyword") != "nul"]
        elif problems and not str(content_type).startswith("application/json"):
            problems = [
                p
                for p in problems
                if p.meta.get("keyword") != "nul" or p.meta.get("location") != "body"
            ]
        raise_if(problems)
        # parse_body decoded a JSON body from this text: the journal keeps it as it is.
        sent_json = body is not None and media_type_of(content_type) == JSON
        return Call(
            operation_id=op.operation_id,
            path={name: params[name] for name in op.path_names} if op.path_names else {},
            query={name: params[name] for name in op.query_order if name in params}
            if op.query_order
            else {},
            body=body,
            token=token,
            token_businesses=businesses,
            body_json=raw_body if sent_json else None,
        )

    async def _read_body(self, request: Request, op: Operation) -> bytes:
        """The body, never read past the limit: 413 beyond it where ``op`` takes a body."""
        limit = self.config.max_body_bytes
        headers = request.headers
        if "content-length" not in headers and "transfer-encoding" not in headers:
            return b""  # HTTP/1.1 sends no body without either: nothing to wait for
        declared = headers.get("content-length", "").lstrip("0") or "0"
        # isascii: "²" is a digit to str.isdigit but not to int(); 18 digits fit any limit.
        over = declared.isascii() and declared.isdigit() and int(declared[:19]) > limit
        if not over:
            chunks = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    over = True
                    break
                chunks.append(chunk)
            else:
                return b"".join(chunks)
        if op.body is None:  # parse_body answers that no body is taken, whatever its size
            return _UNREAD_BODY
        raise _too_large(limit)

    def _checked(self, op: Operation, reply: Reply) -> tuple[Reply, bool]:
        """The reply to send, and whether the one the behaviour built broke the contract."""
        if reply.checked:  # by the behaviour, against the same schema
            return reply, False
        try:
            check_response(op, reply.status, reply.body, reply.media_type)
        except ContractViolation as exc:
            log.error("contract violation: %s", exc)
            if self.config.strict:
                return Reply(exc.status, error_body(exc)), True
            return reply, True
        return reply, False

    def _check_head(self, scope: Scope) -> None:
        """Refuse an overlong URL or header block before anything else reads them."""
        check_request_head(
            scope["raw_path"],
            scope["query_string"],
            scope["headers"],
            self.config.max_url_bytes,
            self.config.max_header_bytes,
        )

    def _document(self, request: Request, document: bytes, *, control: bool) -> Response:
        _, headers = self.limiter.take()
        try:
            self._check_head(request.scope)
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(request.method, request.url.path, ["GET"])
            if control:
                self.auth.check_control(request.headers.get("authorization"))
        except SandboxError as exc:
            return _json_response(Reply(exc.status, error_body(exc), exc.headers), headers)
        return Response(document, media_type=JSON_TYPE, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Start-up is done in ``__init__`` (but for a deferred lint, started here, as the
        server begins to listen); shutdown writes the state file, if there is one."""
        for spec in self.lint_later:
            threading.Thread(target=_lint, args=(spec, False), daemon=True).start()
        self.lint_later = []
        yield
        self.webhooks.close()
        self.save_state()

    def save_state(self) -> None:
        if self.state_file is None:
            return
        try:
            size = self.state_file.save()
        except OSError as exc:
            log.error("could not write the state file %s: %s", self.state_file.path, exc)
        else:
            log.info("saved the state to %s (%d bytes)", self.state_file.path, size)


class _IndexedHeaders(Headers):
    """Starlette's ``Headers`` with a dict index: one hash per lookup instead of a scan that
    lower-cases and encodes the name each time (five lookups a request: 5% of a fetch)."""

    def __init__(self, scope: Scope) -> None:
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        if not isinstance(raw, list):  # as Headers(scope=...) would, but without the copy
            raw = scope["headers"] = list(raw)
        super().__init__(raw=raw)
        # Names as sent (ASGI's are lower case); the first of repeated headers wins, as in
        # Headers. Values are decoded when asked for: most are never read.
        self._index: dict[bytes, bytes] = dict(raw[::-1])

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return str(value)

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self._index.get(key.lower().encode("latin-1"))
        except UnicodeEncodeError:  # a name no request can send (as bytes, it is latin-1)
            return default
        return default if value is None else value.decode("latin-1")


#: Request targets ``endpoint`` does not answer directly (``Sandbox.answers_directly``).
_NOT_ENDPOINT = (CONTROL_PREFIX.encode("ascii"), b"/openapi.json")


async def _nothing_to_receive() -> Message:
    """The ``receive`` of a request whose body is ``held``: nothing more will come."""
    return {"type": "http.disconnect"}


class _Request(Request):
    #: The whole body, when the protocol read it before the request was made (the direct path).
    held: bytes | None = None
    _indexed: _IndexedHeaders | None = None

    @property
    def headers(self) -> Headers:
        indexed = self._indexed
        if indexed is None:
            indexed = self._indexed = _IndexedHeaders(self.scope)
        return indexed


_BUG_BODY = {
    "errors": [
        {
            "type": "SandboxError",
            "description": "The sandbox failed unexpectedly; this is a bug in the sandbox, "
            "not in the request.",
            "error_enum": "InternalServerError",
        }
    ]
}


def _forced_error(op: Operation, forcing: Forcing) -> SandboxError:
    status = forcing.status
    documented = sorted(s for s in op.responses if s.isdigit() and int(s) >= 400)
    error_class = error_class_for(status) if status and str(status) in documented else None
    if error_class is None:
        return bad_prefer(
            f"{forcing.source} asks for status {status}, which {op.operation_id} does not "
            f"document as an error; force one of: {', '.join(documented)}."
        )
    retry = {"Retry-After": "1"} if status in (429, 503) else {}
    return error_class(
        Problem(
            f"Forced by the {forcing.source} (code={status}); nothing was changed. Retry after "
            "Retry-After seconds."
            if retry
            else f"Forced by the {forcing.source} (code={status}); nothing was changed.",
            {"forced": True},
        ),
        headers={**retry, **forcing.preference_applied},
    )


class _FaultResponse(Response):
    """A broken answer on purpose: the connection closed, reset, or the body cut short."""

    def __init__(self, fault: str, headers: Mapping[str, str]) -> None:
        super().__init__(b"", headers=headers)
        self.fault = fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn's receive is a method of its per-request cycle, which holds the transport;
        # ASGI offers no portable way to drop a connection without answering.
        cycle = getattr(receive, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:  # in-process (no socket): fail the call as a dropped connection
            raise ConnectionResetError(f"the sandbox dropped the connection (fault={self.fault})")
        if self.fault == "truncate":
            body = b'{"data": {"note": "this body is cut short on purpose by fault=truncate"}}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
        if self.fault == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:  # linger 0: close sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
        cycle.disconnected = True  # type: ignore[union-attr]  # so uvicorn sends no 500 for us


#: Stands in for a body over the limit sent to an operation that takes none.
_UNREAD_BODY = b"(a body over the size limit, not read)"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        Problem(
            f"The request body is larger than {limit} bytes; send a smaller body.",
            {"location": "body", "pointer": "", "keyword": "maxBytes", "limit": limit},
        )
    )


def _encoded(reply: Reply) -> bytes | None:
    """The reply's body as bytes: JSON through orjson, text as UTF-8."""
    body = reply.body
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str) and not is_json(reply.media_type):
        return body.encode("utf-8")
    judged = judged_json(body)  # a list page just checked item by item: its items' JSON
    if judged is not None:
        return judged
    try:
        return orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits (JSON has no limit; orjson has)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _json_response(
    reply: Reply, rate_headers: Mapping[str, str], content: bytes | None = None
) -> Response:
    """``content``: ``reply.body`` already encoded, when the caller has it."""
    if content is None:
        content = _encoded(reply) or b""
    if not reply.headers and reply.media_type == JSON_TYPE:
        # Most answers: the X-RateLimit-* headers (encoded once for as long as the limiter
        # hands out the same mapping), then content-length and content-type, as below.
        return _JSONResponse(content, reply.status, rate_headers, _rate_encoded(rate_headers))
    headers: dict[str, str] = {**rate_headers, **reply.headers}
    if reply.media_type != JSON_TYPE:
        headers["content-type"] = reply.media_type
    return _JSONResponse(content, reply.status, headers)


#: Rate-limit headers encoded (``_rate_encoded``): the mapping, its pairs, and its header
#: lines (``protocols.header_lines``).
_RateHeaders = tuple[Mapping[str, str] | None, tuple[tuple[bytes, bytes], ...], bytes | None]
_last_rate: _RateHeaders = (None, (), b"")


def _rate_encoded(rate_headers: Mapping[str, str]) -> _RateHeaders:
    """``rate_headers`` encoded; the limiter never changes a mapping it handed out, so the
    same one encodes the same way (and is encoded once for as long as it is handed out)."""
    global _last_rate
    last = _last_rate
    if last[0] is not rate_headers:
        raw = tuple((_header_name(k), v.encode("latin-1")) for k, v in rate_headers.items())
        last = _last_rate = (rate_headers, raw, header_lines(raw))
    return last


def _header_name(key: str) -> bytes:
    """A header name as sent: lower-cased and encoded (remembered for the usual few)."""
    name = _HEADER_NAMES.get(key)
    if name is None:
        name = key.lower().encode("latin-1")
        if len(_HEADER_NAMES) < 256:
            _HEADER_NAMES[key] = name
    return name


class _JSONResponse(Response):
    """``Response(content, status, headers, media_type=JSON)``, its headers built in one pass.

    The same bytes Starlette's ``init_headers`` produces (given headers lower-cased, then
    content-length and content-type unless given), for a tenth of the profile's 9% it took.
    """

    media_type = JSON_TYPE
    #: The headers as the lines of an HTTP/1.1 head, when they are the usual ones (the rate
    #: limit's, content-length, content-type): what the direct path writes (protocols.py).
    lines: bytes | None = None

    def __init__(
        self,
        content: bytes,
        status: int,
        headers: Mapping[str, str],
        rate: _RateHeaders | None = None,
    ) -> None:
        """``rate``: ``headers`` already encoded (``_rate_encoded``), naming neither
        content-length nor content-type."""
        self.status_code = status
        self.background = None
        self.body = content
        self._rate = rate
        self._raw: list[tuple[bytes, bytes]] | None = None
        if rate is None:
            raw = [(_header_name(key), value.encode("latin-1")) for key, value in headers.items()]
            if _has_length(status) and not any(name == b"content-length" for name, _ in raw):
                raw.append((b"content-length", str(len(content)).encode("latin-1")))
            if not any(name == b"content-type" for name, _ in raw):
                raw.append((b"content-type", _JSON_TYPE_BYTES))
            self._raw = raw
        elif rate[2] is not None and _has_length(status):
            length = str(len(content)).encode("latin-1")
            self.lines = rate[2] + b"content-length: " + length + _JSON_TYPE_LINE

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """Built when first asked for where the direct path may write ``lines`` instead."""
        raw = self._raw
        if raw is None:
            assert self._rate is not None
            raw = list(self._rate[1])
            if _has_length(self.status_code):
                raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
            raw.append((b"content-type", _JSON_TYPE_BYTES))
            self._raw = raw
        return raw

    @raw_headers.setter
    def raw_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        self._raw = value


_JSON_TYPE_BYTES = JSON_TYPE.encode("latin-1")
_JSON_TYPE_LINE = b"\r\ncontent-type: " + _JSON_TYPE_BYTES + b"\r\n"


def _has_length(status: int) -> bool:
    """Whether an answer of ``status`` carries a content-length (as Starlette decides)."""
    return not (status < 200 or status in (204, 304))


#: Header names as sent (lower-cased, encoded), by the name given: mostly the X-RateLimit ones.
_HEADER_NAMES: dict[str, bytes] = {}


class _SandboxApp(Starlette):
    """Starlette, with HTTP requests handed straight to the sandbox while nothing was added.

    Every request ends at ``Sandbox.asgi`` (the router's default), which answers every error
    itself; Starlette's error and exception middleware and router only pass it along, for 6%
    of the throughput (bench/README.md). Middleware or exception handlers added to the app
    restore the full stack; lifespan events always take it.
    """

    #: The sandbox whose public requests the HTTP protocol may answer directly (``Sandbox.
    #: answer_now``, protocols.py), and the entry ``create_app`` gave the router.
    direct: Sandbox | None = None
    direct_entry: ASGIApp | None = None

    def direct_sandbox(self) -> Sandbox | None:
        """``direct`` while the app is as ``create_app`` made it (nothing added or replaced)."""
        if (
            self.direct is None
            or self.user_middleware
            or self.exception_handlers
            or self.router.default is not self.direct_entry
        ):
            return None
        return self.direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.user_middleware and not self.exception_handlers:
            scope["app"] = self
            scope.setdefault("router", self.router)
            await self.router.default(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _lint(spec: Spec, strict: bool) -> None:
    """The document's examples and declared-but-missing required properties, which are contract
    bugs too: refused in a strict document, else each logged (cached by content: engine/cache)."""
    errors = document_errors(spec.document)
    if errors and strict:
        raise SpecError(f"{spec.source}: " + "; ".join(str(f) for f in errors))
    _log_errors(spec, errors)


def _log_errors(spec: Spec, errors: list[str]) -> None:
    for error in errors:
        log.warning("%s: %s", spec.source, error)


def create_app(config: Config | None = None, *, lint_in_background: bool = False) -> Starlette:
    """A Starlette app serving the sandbox described by ``config`` (defaults: built-in data).

    ``lint_in_background``: a document that is not strict (a user's, without ``--strict-spec``)
    is checked for examples that break their schemas in a thread started by the app's lifespan
    start-up, its findings logged as they come, rather than before the app exists
    (``mockserver serve``: half of a cold start on a big document)."""
    workers.refuse_several_workers()  # state is per process (serving/workers.py)
    sandbox = Sandbox(config or Config(), lint_in_background=lint_in_background)
    log.info("loaded %s", sandbox.describe())
    app = _SandboxApp(lifespan=sandbox.lifespan)
    # Every request, the two documents included, goes to the sandbox. It is the router's
    # default rather than routes, because a route pattern would not match every possible path
    # (e.g. one with an encoded newline), and a route answers a wrong method itself, in plain
    # text: either way Starlette would answer off-contract.
    app.router.default = browser.entry(sandbox)  # the inspector page and CORS (browser.py)
    app.state.sandbox = sandbox
    app.direct, app.direct_entry = sandbox, app.router.default
    return app
