"""``mockserver fuzz``: the project's Schemathesis suite against a running sandbox or any URL."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..config import FUZZ_CONFIG

#: The check that needs a target which refuses unknown credentials.
AUTH_CHECK = "ignored_auth"


def fuzz_config(token: str, client_id: str, client_secret: str) -> str:
    """``schemathesis.toml`` with credentials for the document's two security schemes.

    The shipped file holds no credentials (so that it works without any environment variable);
    these sections give Schemathesis the bearer token for ``BearerAuth`` operations and the
    client for ``BasicAuth`` (``POST /oauth2/token``). JSON strings are TOML basic strings.
    """
    return (
        FUZZ_CONFIG.read_text(encoding="utf-8")
        + "\n# Added by `mockserver fuzz` (--token, --client).\n"
        + f"[auth.openapi.BearerAuth]\nbearer = {json.dumps(token)}\n\n"
        + f"[auth.openapi.BasicAuth]\nusername = {json.dumps(client_id)}\n"
        + f"password = {json.dumps(client_secret)}\n"
    )


def fuzz_command(
    url: str, max_examples: int, extra: Sequence[str] = (), config_file: Path = FUZZ_CONFIG
) -> list[str]:
    """The ``schemathesis run`` command line, with the project's configuration and all checks."""
    schema_url = url.rstrip("/") + "/openapi.json"
    return [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file", str(config_file),
        "run", schema_url, "--checks", "all", "--max-examples", str(max_examples), *extra,
    ]  # fmt: skip


def accepts_any_token(url: str) -> bool:
    """Whether the target answers ``/whoami`` for a token nobody configured (a default serve).

    Raises ``OSError`` when the target cannot be reached.
    """
    import httpx

    probe = f"mockserver-fuzz-probe-{uuid.uuid4().hex}"
    try:
        response = httpx.get(
            url.rstrip("/") + "/whoami", headers={"Authorization": f"Bearer {probe}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        raise OSError(f"cannot reach {url}: {exc}") from None
    return response.status_code < 400


def run_fuzz(
    url: str,
    *,
    token: str,
    client_id: str,
    client_secret: str,
    max_examples: int,
    extra: Sequence[str] = (),
) -> int:
    """Run Schemathesis; its exit code (non-zero when it found a failure) is ours."""
    if importlib.util.find_spec("schemathesis") is None:
        print(
            "mockserver fuzz needs Schemathesis 4.1 or later: pip install "
            "'schemathesis>=4.1,<5' (from a checkout of this project, pip install '.[fuzz]' "
            "does the same)",
            file=sys.stderr,
        )
        return 2
    try:
        document = served_document(url)
    except OSError as exc:
        print(f"mockserver fuzz: {exc}; start the sandbox first", file=sys.stderr)
        return 2
    if not is_layer_document(document):
        return _fuzz_other_document(
            url, document, token, client_id, client_secret, max_examples, extra
        )
    try:
        open_target = accepts_any_token(url)
    except OSError as exc:
        print(f"mockserver fuzz: {exc}; start the sandbox first", file=sys.stderr)
        return 2
    extra = list(extra)
    if open_target:
        print(
            f"mockserver fuzz: {url} accepts any bearer token (a default `mockserver serve`), so "
            f"the invalid-authentication check ({AUTH_CHECK}) cannot pass and is skipped. To "
            f"include it, start the target with exactly the fuzz credentials: mockserver serve "
            f"--token '{token}=*' --client {client_id}:{client_secret}",
            file=sys.stderr,
        )
        extra = ["--exclude-checks", AUTH_CHECK, *extra]
    with tempfile.TemporaryDirectory(prefix="mockserver-fuzz-") as directory:
        config_file = Path(directory) / "schemathesis.toml"
        config_file.write_text(fuzz_config(token, client_id, client_secret), encoding="utf-8")
        # Nothing else to read from the environment; keep the user's own variables as they are.
        return subprocess.call(
            fuzz_command(url, max_examples, extra, config_file), env=dict(os.environ)
        )


def served_document(url: str) -> dict[str, object]:
    """The document the target serves at ``/openapi.json``; ``OSError`` when unreachable."""
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/openapi.json", timeout=10)
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OSError(f"cannot read {url.rstrip('/')}/openapi.json: {exc}") from None
    return document if isinstance(document, dict) else {}


def is_layer_document(document: dict[str, object]) -> bool:
    """Layer's own document (the project's Schemathesis configuration is written for it)."""
    return document.get("x-sandbox-error-style") == "layer"


def other_document_config(document: dict[str, object], token: str, client_id: str,
                          client_secret: str) -> str:  # fmt: skip
    """Schemathesis configuration for any other document: credentials for each of its
    security schemes (the sandbox accepts any non-empty ones by default)."""
    components = document.get("components")
    schemes = components.get("securitySchemes", {}) if isinstance(components, dict) else {}
    lines = ["# Written by `mockserver fuzz` for the document the target serves.", ""]
    for name, scheme in schemes.items() if isinstance(schemes, dict) else []:
        if not isinstance(scheme, dict):
            continue
        kind, http = scheme.get("type"), str(scheme.get("scheme", "")).lower()
        section = f"[auth.openapi.{json.dumps(str(name))}]"
        if kind == "apiKey":
            lines += [section, f"api_key = {json.dumps(token)}", ""]
        elif kind == "http" and http == "basic":
            lines += [section, f"username = {json.dumps(client_id)}",
                      f"password = {json.dumps(client_secret)}", ""]  # fmt: skip
        elif kind in ("http", "oauth2", "openIdConnect"):
            lines += [section, f"bearer = {json.dumps(token)}", ""]
    return "\n".join(lines)


def _fuzz_other_document(
    url: str,
    document: dict[str, object],
    token: str,
    client_id: str,
    client_secret: str,
    max_examples: int,
    extra: Sequence[str],
) -> int:
    # A sandbox accepts any credentials unless started with a token map, so the
    # invalid-authentication check cannot pass against a default serve; and statuses the
    # engine answers for requests the document has no room for (401, 404, 406, 422) are
    # listed in the README rather than documented by the user's document.
    info = document.get("info")
    title = info.get("title", "a document") if isinstance(info, dict) else "a document"
    print(
        f"mockserver fuzz: {url} serves {title!r}; skipping {AUTH_CHECK} (the sandbox "
        "accepts any credentials by default)",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="mockserver-fuzz-") as directory:
        config_file = Path(directory) / "schemathesis.toml"
        config_file.write_text(
            other_document_config(document, token, client_id, client_secret), encoding="utf-8"
        )
        command = fuzz_command(
            url, max_examples, ["--exclude-checks", AUTH_CHECK, *extra], config_file
        )
        return subprocess.call(command, env=dict(os.environ))
