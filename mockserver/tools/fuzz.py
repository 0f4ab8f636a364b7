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
            "mockserver fuzz needs Schemathesis 4: pip install 'schemathesis>=4,<5' (from a "
            "checkout of this project, pip install '.[fuzz]' does the same)",
            file=sys.stderr,
        )
        return 2
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
