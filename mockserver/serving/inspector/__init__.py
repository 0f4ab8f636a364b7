"""The inspector page at ``/_sandbox/``: static assets beside this module, read once.

The page is plain HTML, CSS and JavaScript with no external reference (it works offline) and
reads the JSON control API (``/_sandbox/journal``, ``state``, ``coverage``, ``drift``,
``health``, ...)
like any client. The assets hold no data, so they are served without the control token; the
page asks for the token when the control API answers 401.
"""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

_HERE = Path(__file__).resolve().parent
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
}
#: Everything the page loads comes from the sandbox itself; no inline script or style.
_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    b"img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


class Inspector:
    """Serves ``{prefix}/`` (the page) and ``{prefix}/inspector/<asset>``; passes the rest on."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.assets: dict[str, tuple[bytes, bytes]] = {}
        for path in sorted(_HERE.iterdir()):
            kind = _TYPES.get(path.suffix)
            if kind is not None:
                self.assets[f"{prefix}/inspector/{path.name}"] = (path.read_bytes(), kind)
        self.assets[f"{prefix}/"] = self.assets[f"{prefix}/inspector/index.html"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == self.prefix:
            await _send(send, 308, [(b"location", f"{self.prefix}/".encode("latin-1"))], b"")
            return
        asset = self.assets.get(path)
        if asset is None:
            await self.app(scope, receive, send)
            return
        body, kind = asset
        headers = [
            (b"content-type", kind),
            (b"cache-control", b"no-cache"),
            (b"x-content-type-options", b"nosniff"),
            (b"content-security-policy", _POLICY),
        ]
        await _send(send, 200, headers, b"" if scope["method"] == "HEAD" else body, len(body))


async def _send(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    length: int | None = None,
) -> None:
    size = str(len(body) if length is None else length).encode("latin-1")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", size)],
        }
    )
    await send({"type": "http.response.body", "body": body})
