"""The one frozen ``Config`` of a sandbox, the built-in data paths, and environment variables."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # Installed wheels carry the data inside the package; a checkout keeps it at the top.
    packaged = _PACKAGE / "_data" / name
    return packaged if packaged.is_dir() else _PACKAGE.parent / name


BUILTIN_SPEC = _data_dir("openapi") / "layer-credits.yaml"
BUILTIN_CONTROL_SPEC = _data_dir("openapi") / "sandbox.yaml"
BUILTIN_FIXTURES = _data_dir("fixtures")
FUZZ_CONFIG = (
    _PACKAGE / "_data" / "schemathesis.toml"
    if (_PACKAGE / "_data").is_dir()
    else _PACKAGE.parent / "schemathesis.toml"
)


@dataclass(frozen=True)
class Config:
    """Everything that shapes a sandbox; the CLI and the pytest plugin only build one of these."""

    spec: Path = BUILTIN_SPEC
    control_spec: Path = BUILTIN_CONTROL_SPEC
    fixtures: Path = BUILTIN_FIXTURES
    #: A response that breaks the OpenAPI document becomes a 500 contract violation.
    strict: bool = True
    #: A construct of the document the engine does not support stops start-up (otherwise it
    #: is logged with its pointer and the rest is served). The built-in document is always
    #: loaded strictly.
    strict_spec: bool = False
    #: Largest request body read, in bytes (1 MiB; larger is a 413).
    max_body_bytes: int = 1024 * 1024
    #: Token -> business ids it may use ("*": all). Empty: any non-empty bearer token, any business.
    tokens: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: OAuth client id -> secret for ``POST /oauth2/token``. Empty: any Basic credentials.
    clients: Mapping[str, str] = field(default_factory=dict)
    #: X-RateLimit-* bucket: size and refill per second (the document's "Rate limits").
    rate_limit: int = 100
    #: Answer 429 once the bucket is empty (otherwise the headers are informative only).
    enforce_rate_limit: bool = False
    #: Requests kept in the journal; the oldest are dropped beyond this.
    journal_cap: int = 1000
    #: Seed for generated ids; None gives random UUIDs.
    seed: int | None = None
    #: Scenario fault rules in force from the start (the JSON of ``POST /_sandbox/faults``).
    faults: tuple[Mapping[str, Any], ...] = ()
    #: Longest URL (path and query string) accepted, in bytes; longer is a 400.
    max_url_bytes: int = 8 * 1024
    #: Largest total of request header bytes accepted; more is a 400.
    max_header_bytes: int = 16 * 1024
    #: Bearer token the control API (/_sandbox) requires; None leaves it open.
    control_token: str | None = None
    #: State loaded at start (if the file exists) and written atomically on shutdown and on
    #: ``POST /_sandbox/save``; None keeps state in memory only.
    state_file: Path | None = None
    #: Webhook subscribers from the start, as (URL, secret or None: one is generated).
    webhooks: tuple[tuple[str, str | None], ...] = ()
    #: Seconds a webhook subscriber has to answer an attempt before it counts as failed.
    webhook_timeout: float = 15.0
    #: Answer browsers on other origins (preflights, ``Access-Control-*`` headers).
    cors: bool = True
    #: Origins allowed to call from a browser (``http://localhost:3000``); empty: any origin.
    cors_origins: tuple[str, ...] = ()

    def with_changes(self, **changes: Any) -> Config:
        return replace(self, **changes)


_ENV_PREFIX = "MOCKSERVER_"
#: The distribution this package is installed as.
DISTRIBUTION = "layer-credits-sandbox"


def package_version() -> str:
    """The installed package's version (``0+unknown`` when run from a checkout not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


def parse_tokens(entries: list[str] | tuple[str, ...]) -> dict[str, frozenset[str]]:
    """``TOKEN=BUSINESS_ID[,BUSINESS_ID...]`` (or ``TOKEN=*``) entries as a token map."""
    tokens: dict[str, frozenset[str]] = {}
    for entry in entries:
        token, sep, businesses = entry.partition("=")
        if not sep or not token or not businesses:
            raise ValueError(f"token entry {entry!r} must look like TOKEN=BUSINESS_ID[,...]")
        tokens[token] = tokens.get(token, frozenset()) | frozenset(
            b.strip() for b in businesses.split(",") if b.strip()
        )
    return tokens


def parse_faults(entries: list[str] | tuple[str, ...]) -> tuple[Mapping[str, Any], ...]:
    """Scenario fault rules given as JSON objects (or JSON lists of them)."""
    rules: list[Mapping[str, Any]] = []
    for entry in entries:
        try:
            value = json.loads(entry)
        except ValueError as exc:
            raise ValueError(f"fault rule {entry!r} is not JSON: {exc}") from None
        for rule in value if isinstance(value, list) else [value]:
            if not isinstance(rule, dict):
                raise ValueError(f"fault rule {rule!r} must be a JSON object")
            rules.append(rule)
    return tuple(rules)


def parse_webhooks(entries: list[str] | tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    """``URL[,secret=S]`` entries as (URL, secret or None) subscriptions."""
    out = []
    for entry in entries:
        url, sep, secret = entry.rpartition(",secret=")
        if not sep:
            url, secret = entry, ""
        url = url.strip()
        if not url.startswith(("http://", "https://")) or not url.partition("//")[2]:
            raise ValueError(
                f"webhook entry {entry!r} must look like http(s)://HOST/PATH[,secret=whsec_...]"
            )
        if sep and not secret:
            raise ValueError(
                f"webhook entry {entry!r} has an empty secret; give one or leave "
                "',secret=' out to have one generated"
            )
        out.append((url, secret or None))
    return tuple(out)


def parse_clients(entries: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``CLIENT_ID:SECRET`` entries as a client map."""
    clients = {}
    for entry in entries:
        client_id, sep, secret = entry.partition(":")
        if not sep or not client_id or not secret:
            raise ValueError(f"client entry {entry!r} must look like CLIENT_ID:SECRET")
        clients[client_id] = secret
    return clients


#: Whole-number fields and the smallest value each accepts.
_MINIMUMS = {
    "max_body_bytes": 1,
    "rate_limit": 1,
    "journal_cap": 1,
    "max_url_bytes": 1,
    "max_header_bytes": 1,
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def env_name(field_name: str) -> str:
    """The environment variable that sets ``field_name`` (``max_body_bytes``: ...BODY_BYTES)."""
    return _ENV_PREFIX + field_name.upper()


def parse_bool(name: str, raw: str) -> bool:
    """A yes/no variable; anything else is a ``ValueError`` naming it and the accepted values."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{name}={raw!r} is not a yes/no value; use one of {', '.join(_TRUE)} "
        f"or {', '.join(_FALSE)}"
    )


def parse_int(name: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    """A whole number in range; anything else is a ``ValueError`` naming ``name``."""
    accepted = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not a whole number; use digits only (no units), {accepted}"
        ) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name}={raw!r} is out of range; use a whole number {accepted}")
    return value


def _parse_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 86_400:
        raise ValueError(f"{name}={raw!r} must be a number of seconds above 0 (for example 15)")
    return value


def from_environment(base: Config | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Apply ``MOCKSERVER_<FIELD>`` variables (e.g. ``MOCKSERVER_STRICT=0``) onto ``base``.

    A value that cannot be read is a ``ValueError`` naming the variable and what it accepts.
    """
    base = base or Config()
    env = os.environ if env is None else env
    changes: dict[str, Any] = {}
    for f in fields(Config):
        name = env_name(f.name)
        raw = env.get(name)
        if raw is None and f.name == "webhooks":  # also named after the CLI's --webhook
            raw = env.get(_ENV_PREFIX + "WEBHOOK")
        if raw is None:
            continue
        current = getattr(base, f.name)
        try:
            if isinstance(current, bool):
                changes[f.name] = parse_bool(name, raw)
            elif f.name == "tokens":
                changes[f.name] = parse_tokens(raw.split())
            elif f.name == "clients":
                changes[f.name] = parse_clients(raw.split())
            elif f.name == "seed":
                changes[f.name] = parse_int(name, raw, -(2**63), 2**63 - 1) if raw.strip() else None
            elif f.name == "faults":
                changes[f.name] = parse_faults([raw]) if raw.strip() else ()
            elif f.name == "control_token":
                changes[f.name] = raw or None
            elif f.name == "state_file":
                changes[f.name] = Path(raw) if raw.strip() else None
            elif f.name == "webhooks":
                changes[f.name] = parse_webhooks(raw.split())
            elif f.name == "cors_origins":
                changes[f.name] = tuple(raw.split())
            elif isinstance(current, float):
                changes[f.name] = _parse_seconds(name, raw)
            elif isinstance(current, Path):
                if not raw.strip():
                    raise ValueError(f"{name} is empty; give a path, or unset it for the default")
                changes[f.name] = Path(raw)
            else:
                changes[f.name] = parse_int(name, raw, _MINIMUMS[f.name])
        except ValueError as exc:
            message = str(exc)
            raise ValueError(message if name in message else f"{name}: {message}") from None
    return replace(base, **changes)
