"""The sandbox's one error hierarchy and the one writer of Layer's error envelope.

Every error the sandbox answers with is raised as a subclass of ``SandboxError``; class
attributes carry the HTTP status, Layer's ``error_enum`` and the ``type`` category. The body
is built in exactly one place, ``error_body``.

    SandboxError
    ├── BadRequest              400 SpecifiedBadRequest   (schema violations, business rules)
    ├── Unauthenticated         401 Unauthenticated
    ├── NotFound                404 SpecifiedIdNotFound
    ├── MethodNotAllowed        405 MethodNotAllowed      (+ Allow header)
    ├── NotAcceptable           406 NotAcceptable         (Accept admits no documented type)
    ├── PayloadTooLarge         413 PayloadTooLarge
    ├── UnsupportedMediaType    415 UnsupportedMediaType
    ├── RateLimited             429 RateLimited           (+ Retry-After header)
    ├── ServerError             500 InternalServerError   (forced by a test: Prefer, fault rule)
    │   └── ContractViolation   500 InternalServerError   (the sandbox itself broke the contract)
    ├── ServiceUnavailable      503 ServiceUnavailable    (forced by a test; + Retry-After)
    ├── BadGateway              502 BadGateway            (proxy: upstream unreachable)
    └── GatewayTimeout          504 GatewayTimeout        (proxy: upstream too slow)

``SpecError``, ``FixtureError`` and ``StateFileError`` are start-up failures (bad spec, bad
fixture, unusable state file); they never reach a client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: a sentence for a person, and machine-readable meta."""

    description: str
    meta: Mapping[str, Any] = field(default_factory=dict)


class SandboxError(Exception):
    """Base of every error answered to a client."""

    status: ClassVar[int] = 500
    error_enum: ClassVar[str | None] = None
    type: ClassVar[str] = "Error"

    def __init__(
        self,
        problems: str | Problem | Iterable[Problem],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__("; ".join(p.description for p in self.problems))


class BadRequest(SandboxError):
    status = 400
    error_enum = "SpecifiedBadRequest"
    type = "BadRequest"


class Unauthenticated(SandboxError):
    status = 401
    error_enum = "Unauthenticated"
    type = "Authentication"


class NotFound(SandboxError):
    status = 404
    error_enum = "SpecifiedIdNotFound"
    type = "NotFound"


class MethodNotAllowed(SandboxError):
    status = 405
    error_enum = "MethodNotAllowed"
    type = "MethodNotAllowed"

    def __init__(self, method: str, path: str, allowed: Iterable[str]) -> None:
        allow = sorted(allowed)
        super().__init__(
            Problem(
                f"{method} is not allowed on {path}; use one of: {', '.join(allow)}.",
                {"allowed_methods": allow},
            ),
            headers={"Allow": ", ".join(allow)},
        )


class NotAcceptable(SandboxError):
    status = 406
    error_enum = "NotAcceptable"
    type = "NotAcceptable"


class PayloadTooLarge(SandboxError):
    status = 413
    error_enum = "PayloadTooLarge"
    type = "PayloadTooLarge"


class UnsupportedMediaType(SandboxError):
    status = 415
    error_enum = "UnsupportedMediaType"
    type = "UnsupportedMediaType"


class RateLimited(SandboxError):
    status = 429
    error_enum = "RateLimited"
    type = "RateLimited"


class ServerError(SandboxError):
    """A 500 a test asked for; the sandbox itself is fine."""

    status = 500
    error_enum = "InternalServerError"
    type = "ServerError"


class ContractViolation(ServerError):
    """The sandbox's own response broke its OpenAPI document (strict mode)."""

    type = "SandboxContractViolation"


class ServiceUnavailable(SandboxError):
    status = 503
    error_enum = "ServiceUnavailable"
    type = "ServiceUnavailable"


class BadGateway(SandboxError):
    """``mockserver proxy``: the upstream refused the connection or broke off its answer."""

    status = 502
    error_enum = "BadGateway"
    type = "BadGateway"


class GatewayTimeout(SandboxError):
    """``mockserver proxy``: the upstream did not answer within ``--upstream-timeout``."""

    status = 504
    error_enum = "GatewayTimeout"
    type = "GatewayTimeout"


def error_class_for(status: int) -> type[SandboxError] | None:
    """The error class answering with ``status``, found by walking the hierarchy."""
    pending: list[type[SandboxError]] = [SandboxError]
    while pending:
        cls = pending.pop(0)
        if cls.status == status and cls is not SandboxError:
            return cls
        pending.extend(cls.__subclasses__())
    return None


class SpecError(Exception):
    """The OpenAPI document cannot be served as written; names the JSON Pointer."""


class FixtureError(Exception):
    """A fixture record is invalid; names the file, the record and the JSON Pointer.

    ``pointer``: the field to fix, as a JSON Pointer into the record, when there is one.
    """

    def __init__(self, message: str, pointer: str | None = None) -> None:
        super().__init__(message)
        self.pointer = pointer


class StateFileError(Exception):
    """The ``--state-file`` cannot be read or is not a sandbox state file; names the file."""


def error_body(exc: SandboxError) -> dict[str, Any]:
    """Layer's error envelope for ``exc``: one entry per problem, never a ``data`` key."""
    entries = []
    for problem in exc.problems:
        entry: dict[str, Any] = {"type": exc.type, "description": problem.description}
        if exc.error_enum is not None:
            entry["error_enum"] = exc.error_enum
        if problem.meta:
            entry["meta"] = dict(problem.meta)
        entries.append(entry)
    return {"errors": entries}
