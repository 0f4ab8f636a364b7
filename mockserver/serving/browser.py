"""What browsers get besides the API: the inspector page, and CORS for pages on other origins.

``entry(sandbox)`` is the app's ASGI entry: the sandbox's own, wrapped by the inspector's assets
(``inspector/``) and, unless switched off, by CORS (``cors.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from .cors import Cors, check_origin, exposed_headers
from .inspector import Inspector

if TYPE_CHECKING:
    from .app import Sandbox


def entry(sandbox: Sandbox, inner: ASGIApp | None = None) -> ASGIApp:
    """``inner``: what answers in place of ``sandbox.asgi`` (``mockserver proxy``'s entry)."""
    from .app import CONTROL_PREFIX

    app: ASGIApp = Inspector(inner or sandbox.asgi, CONTROL_PREFIX)
    config = sandbox.config
    if not config.cors:
        return app
    return Cors(
        app,
        sandbox.router,
        origins=[check_origin(origin) for origin in config.cors_origins],
        exposed=exposed_headers([sandbox.spec.document, sandbox.control_spec.document]),
        # Served beside the router (app.Sandbox.asgi): the two documents.
        extra_paths={
            "/openapi.json": ("GET", "HEAD"),
            f"{CONTROL_PREFIX}/openapi.json": ("GET", "HEAD"),
        },
    )
