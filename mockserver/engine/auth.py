"""Bearer and Basic authentication, the token endpoint and ``whoami`` (the document's
"Authentication")."""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hmac
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import Problem, Unauthenticated
from .dispatch import Behaviour, Call, Reply
from .spec import HTTP_METHODS, Operation, SecurityScheme
from .store import IdFactory

_CLIENT_NAMESPACE = uuid.UUID("0c7d3d0a-5f1e-4b8e-9a43-7b0d8f1e2c55")
TOKEN_LIFETIME_SECONDS = 3600
#: Issued tokens remembered; the oldest are forgotten beyond this, so memory stays flat.
ISSUED_TOKENS_CAP = 10_000
#: The security scheme of the control API (openapi/sandbox.yaml) when a control token is set.
CONTROL_SCHEME = "SandboxControlToken"


class Authenticator:
    """Checks credentials against the operation's security schemes and the token map."""

    def __init__(
        self,
        tokens: Mapping[str, frozenset[str]],
        clients: Mapping[str, str],
        ids: IdFactory,
        control_token: str | None = None,
    ) -> None:
        self.tokens = dict(tokens)
        self.clients = dict(clients)
        self.control_token = control_token
        # access token -> client id that asked for it, oldest first
        self.issued: OrderedDict[str, str] = OrderedDict()
        self._ids = ids
        # With a token map, isolation is the point: a token anyone could mint (no --client
        # configured) may not see any business; tokens of configured clients see every one.
        self._issued_businesses: frozenset[str] | None = (
            frozenset() if self.tokens and not self.clients else None
        )

    def authenticate(
        self,
        op: Operation,
        authorization: str | None,
        api_key: Callable[[str, str], str | None] | None = None,
    ) -> tuple[str | None, frozenset[str] | None]:
        """The bearer token (or Basic client id, or API key) and the businesses it may use
        (None: any). ``api_key(location, name)`` reads an API key from the request.

        Any one of the operation's security alternatives suffices; each needs all its schemes.
        """
        if not op.security or () in op.security:
            return None, None
        if CONTROL_SCHEME in op.scheme_names:
            self.check_control(authorization)
            return None, None
        rejected: list[Unauthenticated] = []  # credentials given, but not good ones
        for alternative in op.security:
            try:
                identity: tuple[str | None, frozenset[str] | None] = (None, None)
                for name in alternative:
                    found = self._check(op.schemes[name], authorization, api_key)
                    if identity[0] is None:
                        identity = found
                return identity
            except _Missing as exc:
                if len(op.security) == 1:
                    raise exc from None
            except Unauthenticated as exc:
                rejected.append(exc)
        if rejected:
            raise rejected[0]
        raise self._missing_one([op.schemes[n] for n in sorted(op.scheme_names)], authorization)

    def _check(
        self,
        scheme: SecurityScheme,
        authorization: str | None,
        api_key: Callable[[str, str], str | None] | None,
    ) -> tuple[str | None, frozenset[str] | None]:
        kind = scheme.kind
        if kind == "apiKey":
            value = api_key(scheme.key_location, scheme.key_name) if api_key else None
            if not value:
                raise _unauthenticated(
                    f"the request has no API key; send it in the {_key_place(scheme)}.",
                    _challenges([scheme]),
                )
            return value, None
        scheme_word, credentials = _split_authorization(authorization)
        if kind in ("bearer", "oauth2", "openIdConnect"):
            if scheme_word == "bearer" and credentials:
                malformed = bearer_token_problem(credentials)
                if malformed:
                    raise _unauthenticated(
                        f"{malformed}; send Authorization: Bearer <token>.", _challenges([scheme])
                    )
                businesses = self.tokens.get(credentials)
                if businesses is None and credentials in self.issued:
                    return credentials, self._issued_businesses
                if self.tokens and businesses is None:
                    raise _unauthenticated(
                        "the bearer token is not one this sandbox knows.", _challenges([scheme])
                    )
                return credentials, None if businesses is None or "*" in businesses else businesses
        elif kind == "basic":
            if scheme_word == "basic" and credentials:
                client = _basic_credentials(credentials)
                if client is None:
                    raise _unauthenticated(
                        "HTTP Basic credentials must be base64 of client_id:secret.",
                        _challenges([scheme]),
                    )
                if self.clients and self.clients.get(client[0]) != client[1]:
                    raise _unauthenticated(
                        "the client id and secret are not ones this sandbox knows.",
                        _challenges([scheme]),
                    )
                return client[0], None
        elif kind.startswith("http:") and scheme_word == kind[5:] and credentials:
            return credentials, None
        raise self._missing_one([scheme], authorization)

    @staticmethod
    def _missing_one(schemes: list[SecurityScheme], authorization: str | None) -> Unauthenticated:
        wanted = " or ".join(sorted({_wanted(s) for s in schemes}))
        if all(s.kind == "apiKey" for s in schemes):
            sent = "the request has no API key"
        else:
            word, credentials = _split_authorization(authorization)
            kinds = frozenset(
                "bearer" if s.kind in ("oauth2", "openIdConnect") else s.kind for s in schemes
            )
            sent = _what_was_sent(word, credentials, kinds)
        missing = _unauthenticated(f"{sent}; send {wanted}.", _challenges(schemes))
        return _Missing(missing.problems, headers=missing.headers)

    def check_control(self, authorization: str | None) -> None:
        """Raise a 401 unless the control token is unset or ``authorization`` carries it."""
        if self.control_token is None:
            return
        scheme, credentials = _split_authorization(authorization)
        if scheme != "bearer" or not hmac.compare_digest(
            credentials.encode(), self.control_token.encode()
        ):
            raise _unauthenticated(
                "the control API needs Authorization: Bearer <control token>, the token the "
                "sandbox was started with (--control-token or MOCKSERVER_CONTROL_TOKEN)."
            )

    def issue(self, client_id: str) -> str:
        token = f"sandbox-{self._ids.new()}"
        self.issued[token] = client_id
        while len(self.issued) > ISSUED_TOKENS_CAP:
            self.issued.popitem(last=False)
        return token

    def client_of(self, token: str) -> str:
        return self.issued.get(token, "sandbox-client")


#: RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@functools.lru_cache(maxsize=256)  # the same few tokens, request after request
def bearer_token_problem(token: str) -> str | None:
    """What makes ``token`` not a bearer token by RFC 6750's syntax; None when it is one."""
    if _B64TOKEN.fullmatch(token):
        return None
    if "=" in token.rstrip("="):
        return "the bearer token has '=' before its end; RFC 6750 allows '=' only as padding"
    bad = next(c for c in token if not _B64TOKEN.fullmatch(c) and c != "=")
    return (
        f"the bearer token contains {bad!r}, which RFC 6750 does not allow in a token (letters, "
        "digits and - . _ ~ + / then optional = padding, no spaces)"
    )


def _what_was_sent(scheme: str, credentials: str, kinds: frozenset[str]) -> str:
    """Why the Authorization header (if any) does not authenticate for an operation."""
    if not scheme:
        return "the request has no Authorization header"
    if scheme == "basic" and "basic" not in kinds:
        return (
            "this operation takes a bearer token, not HTTP Basic credentials "
            "(POST /oauth2/token exchanges client credentials for a token)"
        )
    if scheme == "bearer" and "bearer" not in kinds:
        return "this operation takes HTTP Basic client credentials, not a bearer token"
    if not credentials:
        return f"the Authorization header names the {scheme!r} scheme but carries no credentials"
    return f"the Authorization scheme {scheme!r} is not accepted here"


class _Missing(Unauthenticated):
    """No usable credentials for a scheme (as opposed to credentials that were refused)."""


def _unauthenticated(description: str, challenges: str = "") -> Unauthenticated:
    return Unauthenticated(
        Problem(
            f"Unauthenticated: {description}",
            {"location": "header", "pointer": "/authorization", "keyword": "security"},
        ),
        headers={"WWW-Authenticate": challenges} if challenges else None,
    )


def _wanted(scheme: SecurityScheme) -> str:
    if scheme.kind == "basic":
        return "Authorization: Basic <base64>"
    if scheme.kind == "apiKey":
        return f"an API key in the {_key_place(scheme)}"
    if scheme.kind.startswith("http:"):
        return f"Authorization: {scheme.kind[5:].title()} <credentials>"
    return "Authorization: Bearer <token>"


def _key_place(scheme: SecurityScheme) -> str:
    place = {"header": "header", "query": "query parameter", "cookie": "cookie"}
    return f"{scheme.key_name} {place.get(scheme.key_location, scheme.key_location)}"


def _challenges(schemes: list[SecurityScheme]) -> str:
    """``WWW-Authenticate``: one challenge per scheme (RFC 9110 section 11.6.1)."""
    out = []
    for scheme in schemes:
        if scheme.kind == "basic":
            out.append('Basic realm="sandbox"')
        elif scheme.kind == "apiKey":
            out.append(f'ApiKey realm="sandbox", {scheme.key_location}="{scheme.key_name}"')
        elif scheme.kind.startswith("http:"):
            out.append(f'{scheme.kind[5:].title()} realm="sandbox"')
        else:
            out.append('Bearer realm="sandbox"')
    return ", ".join(dict.fromkeys(out))


@functools.lru_cache(maxsize=256)  # a client sends the same header again and again
def _split_authorization(header: str | None) -> tuple[str, str]:
    """``Authorization`` as (scheme in lower case, credentials); empty strings when absent."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    return scheme.lower(), credentials.strip()


@functools.lru_cache(maxsize=256)
def _basic_credentials(credentials: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep and client_id else None


def behaviours(auth: Authenticator) -> dict[str, Behaviour]:
    def token(call: Call) -> Reply:
        client_id = call.body.get("client_id") or call.token or "sandbox-client"
        return Reply(
            200,
            {
                "access_token": auth.issue(client_id),
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECONDS,
            },
        )

    def whoami(call: Call) -> Reply:
        token = call.token or ""
        return Reply(
            200,
            {
                "data": {
                    "type": "whoami",
                    "clientName": auth.client_of(token),
                    "clientId": str(uuid.uuid5(_CLIENT_NAMESPACE, token)),
                }
            },
        )

    return {"oauth2.token.post": token, "whoami.get": whoami}


def secure_control_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The control API's document as served with a control token: the token is its security.

    Every operation gets a 401 answer if it lacks one, so the contract check accepts it.
    """
    secured = copy.deepcopy(dict(document))
    secured["security"] = [{CONTROL_SCHEME: []}]
    components = secured.setdefault("components", {})
    components.setdefault("securitySchemes", {}).setdefault(
        CONTROL_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "The control token the sandbox was started with (--control-token).",
        },
    )
    unauthorised: dict[str, Any] = (
        {"$ref": "#/components/responses/ControlError"}
        if "ControlError" in (components.get("responses") or {})
        else {
            "description": "The control token is missing or wrong.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    )
    for item in (secured.get("paths") or {}).values():
        for method in HTTP_METHODS:
            if isinstance(item, dict) and isinstance(item.get(method), dict):
                item[method].setdefault("responses", {}).setdefault("401", unauthorised)
    return secured
