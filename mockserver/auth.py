"""Bearer and Basic authentication, the token endpoint and ``whoami`` (CONTRACT.md section 5)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping

from .dispatch import Behaviour, Call, Reply
from .errors import Problem, Unauthenticated
from .spec import Operation
from .store import IdFactory

_CLIENT_NAMESPACE = uuid.UUID("0c7d3d0a-5f1e-4b8e-9a43-7b0d8f1e2c55")
TOKEN_LIFETIME_SECONDS = 3600


class Authenticator:
    """Checks credentials against the operation's security schemes and the token map."""

    def __init__(
        self, tokens: Mapping[str, frozenset[str]], clients: Mapping[str, str], ids: IdFactory
    ) -> None:
        self.tokens = dict(tokens)
        self.clients = dict(clients)
        self.issued: dict[str, str] = {}  # access token -> client id that asked for it
        self._ids = ids

    def authenticate(
        self, op: Operation, authorization: str | None
    ) -> tuple[str | None, frozenset[str] | None]:
        """The bearer token (or Basic client id) and the businesses it may use (None: any)."""
        if not op.security:
            return None, None
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        credentials = credentials.strip()
        kinds = set(op.security_kinds.values())
        if "bearer" in kinds and scheme.lower() == "bearer" and credentials:
            if self.tokens and credentials not in self.tokens and credentials not in self.issued:
                raise _unauthenticated("the bearer token is not one this sandbox knows.")
            businesses = self.tokens.get(credentials)
            return credentials, None if businesses is None or "*" in businesses else businesses
        if "basic" in kinds and scheme.lower() == "basic" and credentials:
            client = _basic_credentials(credentials)
            if client is None:
                raise _unauthenticated("HTTP Basic credentials must be base64 of client_id:secret.")
            if self.clients and self.clients.get(client[0]) != client[1]:
                raise _unauthenticated("the client id and secret are not ones this sandbox knows.")
            return client[0], None
        wanted = " or ".join(
            "Authorization: Bearer <token>" if k == "bearer" else "Authorization: Basic <base64>"
            for k in sorted(kinds)
        )
        given = (
            "no Authorization header" if not authorization else "a malformed Authorization header"
        )
        raise _unauthenticated(f"the request has {given}; send {wanted}.")

    def issue(self, client_id: str) -> str:
        token = f"sandbox-{self._ids.new()}"
        self.issued[token] = client_id
        return token

    def client_of(self, token: str) -> str:
        return self.issued.get(token, "sandbox-client")


def _unauthenticated(description: str) -> Unauthenticated:
    return Unauthenticated(
        Problem(
            f"Unauthenticated: {description}",
            {"location": "header", "pointer": "/authorization", "keyword": "security"},
        )
    )


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
