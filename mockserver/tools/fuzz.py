"""``mockserver fuzz``: the project's Schemathesis suite against a running sandbox or any URL."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence

from ..config import FUZZ_CONFIG


def fuzz_command(url: str, max_examples: int, extra: Sequence[str] = ()) -> list[str]:
    """The ``schemathesis run`` command line, with the project's configuration and all checks."""
    schema_url = url.rstrip("/") + "/openapi.json"
    return [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file", str(FUZZ_CONFIG),
        "run", schema_url, "--checks", "all", "--max-examples", str(max_examples), *extra,
    ]  # fmt: skip


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
            "mockserver fuzz needs Schemathesis: pip install 'layer-credits-sandbox[fuzz]'",
            file=sys.stderr,
        )
        return 2
    env = {
        **os.environ,
        "LAYER_SANDBOX_TOKEN": token,
        "LAYER_SANDBOX_CLIENT_ID": client_id,
        "LAYER_SANDBOX_CLIENT_SECRET": client_secret,
    }
    return subprocess.call(fuzz_command(url, max_examples, extra), env=env)
