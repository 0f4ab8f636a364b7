"""``mockserver drift JOURNAL_OR_URL``: the drift report of a proxy's journal, for people and CI.

Exit status: 0 no violation, 1 drift found, 2 the argument is not a readable journal (a file
that is missing or not a journal, a URL that does not answer), 3 an unexpected failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..controls.drift import drift_report, render_text


class _Unreadable(Exception):
    pass


def read_journal(source: str, control_token: str | None = None) -> list[dict[str, Any]]:
    """The journal entries from a running sandbox or proxy (base URL) or a saved JSON file."""
    if source.startswith(("http://", "https://")):
        import httpx

        url = source.rstrip("/")
        if not url.endswith("/_sandbox/journal"):
            url += "/_sandbox/journal"
        headers = {"Authorization": f"Bearer {control_token}"} if control_token else {}
        try:
            response = httpx.get(url, headers=headers, timeout=30, trust_env=False)
        except httpx.HTTPError as exc:
            raise _Unreadable(f"{url}: {exc}") from None
        if response.status_code != 200:
            raise _Unreadable(f"{url} answered {response.status_code}: {response.text[:200]}")
        try:
            document: Any = response.json()
        except ValueError:
            raise _Unreadable(f"{url}: the answer is not JSON") from None
    else:
        path = Path(source)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise _Unreadable(f"{path}: cannot read it ({exc})") from None
        except ValueError as exc:
            raise _Unreadable(f"{path}: not JSON ({exc})") from None
    entries = document.get("data") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _Unreadable(
            f'{source}: not a journal; give GET /_sandbox/journal\'s answer ({{"data": [...]}})'
        )
    return entries


def run_drift(source: str, *, as_json: bool = False, control_token: str | None = None) -> int:
    try:
        entries = read_journal(source, control_token)
    except _Unreadable as exc:
        print(f"mockserver drift: {exc}", file=sys.stderr)
        return 2
    try:
        report = drift_report(entries)
        if as_json:
            print(json.dumps(report, indent=2))
        else:
            sys.stdout.write(render_text(report))
    except Exception as exc:  # a bug here must still give CI its own status
        print(f"mockserver drift: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    return 1 if report["groups"] else 0
