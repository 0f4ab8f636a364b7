"""``BackgroundServer``: serve an ASGI app with uvicorn in a background thread on a free port."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from starlette.types import ASGIApp

from .protocols import uvicorn_options

if TYPE_CHECKING:
    import uvicorn


class BackgroundServer:
    """A uvicorn server in a daemon thread, bound before start so the port is known at once.

    Usable as a context manager (``with BackgroundServer(create_app()) as server: server.url``)
    in pytest fixtures, scripts and other test runners alike. ``port=0`` picks a free port.
    ``http`` picks uvicorn's HTTP implementation: ``"auto"`` (httptools if installed, else
    h11), ``"h11"`` or ``"httptools"``. ``lifespan``: uvicorn's setting (``"off"``: the app's
    start-up and shutdown events are not run; ``"on"`` for an app that must close something,
    e.g. the validation proxy's upstream connections).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
        log_level: str = "warning",
        http: str = "auto",
        lifespan: Literal["auto", "on", "off"] = "off",
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self.http = http
        self.lifespan = lifespan
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> BackgroundServer:
        """Bind, start serving in a thread and return once the server accepts connections."""
        import uvicorn

        if self.running:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise RuntimeError(
                f"cannot listen on {self.host}:{self.port} ({exc}); pick another port or use 0"
            ) from exc
        self.port = sock.getsockname()[1]
        # A sandbox app gets the HTTP protocols `mockserver serve` uses (unreadable requests
        # answered in Layer's envelope, capped request heads).
        sandbox = getattr(getattr(self.app, "state", None), "sandbox", None)
        options = (
            uvicorn_options(sandbox.config, self.http)
            if sandbox is not None
            else {"http": self.http}
        )
        # log_config=None: leave the host process's logging set-up alone.
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level=self.log_level,
            access_log=False,
            lifespan=self.lifespan,
            # As `mockserver serve`: the sandbox never uses the client's address, and without
            # the X-Forwarded-* middleware around it, the sandbox's own requests can take the
            # direct path (protocols.py).
            proxy_headers=False,
            **options,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"layer-sandbox-server-{self.port}",
            daemon=True,
        )
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not thread.is_alive():
                self._cleanup()
                raise RuntimeError(
                    f"the sandbox server on {self.url} stopped while starting; see the log above"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the sandbox server on {self.url} did not start within "
                    f"{self.startup_timeout} seconds"
                )
            time.sleep(0.001)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to finish and wait for its thread; idempotent."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():  # a connection that would not close: stop waiting for it
                server.force_exit = True
                thread.join(timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
