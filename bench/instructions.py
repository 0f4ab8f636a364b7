"""Instructions per request, as `mockserver serve` answers it, counted rather than timed.

A shared two-core machine moves timings by 10-30% from one minute to the next, more than most
changes to the request path are worth. The number of instructions a request executes hardly
moves (0.5% between runs), so this script counts them: each request goes through the same
HTTP protocol `serve` installs (uvicorn's httptools parser, the direct path, the sandbox), fed
raw HTTP bytes in-process over a transport that keeps what is written. Only the socket and
event-loop work of a real connection is left out (about a fifth of a served fetch).

    python bench/instructions.py [--foreign-dir DIR]           # CPU us per request
    python bench/instructions.py --count [--foreign-dir DIR]   # instructions (callgrind)
    python bench/instructions.py --count --foreign-dir DIR --only "Swagger Petstore v3 fetch"

Counting needs valgrind (`apt-get install valgrind`); it runs the loop under callgrind with
instrumentation switched on only around the measured requests. The cases are bench/run.py's:
Layer's fetch and create, and fetch and create of the inferred resource of each foreign
document found in --foreign-dir (the directory bench/run.py reads them from).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from run import FOREIGN, SCENARIOS

from mockserver import Config, create_app
from mockserver.serving import collector
from mockserver.serving.protocols import uvicorn_options


class _Transport(asyncio.Transport):
    """A connection that keeps the last answer written and never pushes back."""

    def __init__(self) -> None:
        super().__init__()
        self.last = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.last = bytes(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def _raw(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:8000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def cases(foreign_dir: Path | None) -> dict[str, tuple[Path | None, str]]:
    """Case name -> (document, None for Layer's; the kind of request)."""
    found: dict[str, tuple[Path | None, str]] = {
        "Layer fetch": (None, "fetch one credit"),
        "Layer create": (None, "create"),
        "Layer list 100": (None, "list 100 credits"),
    }
    for name, (file_name, *_rest) in FOREIGN.items():
        if foreign_dir is not None and (foreign_dir / file_name).exists():
            for kind in ("fetch", "create"):
                found[f"{name} {kind}"] = (foreign_dir / file_name, kind)
    return found


async def _measure(document: Path | None, kind: str, requests: int, signal: Path | None) -> float:
    import uvicorn

    app = create_app(Config(spec=document) if document else Config())
    options = uvicorn_options(app.state.sandbox.config)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, proxy_headers=False, lifespan="off", **options
    )
    config.load()
    protocol: Any = options["http"](
        config=config, server_state=uvicorn.server.ServerState(), app_state={}
    )
    transport = _Transport()
    protocol.connection_made(transport)
    collector.install()  # as serve does
    if document is None:
        request = SCENARIOS[kind][0][0]
        data = _raw(request.method, request.path, dict(request.headers), request.body)
    else:
        name = next(n for n, spec in FOREIGN.items() if spec[0] == document.name)
        _, headers, collection, body, id_field, _created = FOREIGN[name]
        data = _raw(
            "POST", collection, {**headers, "Content-Type": "application/json"}, orjson.dumps(body)
        )
        if kind == "fetch":
            protocol.data_received(data)
            created = orjson.loads(transport.last.split(b"\r\n\r\n", 1)[1])
            data = _raw("GET", f"{collection}/{created[id_field]}", headers)
    protocol.data_received(data)
    status = transport.last.split(b" ", 2)[1]
    if not status.startswith(b"2"):
        raise SystemExit(f"{kind}: answered {transport.last[:300]!r}")
    for _ in range(2000):  # warm up
        protocol.data_received(data)
    if signal is not None:  # the parent switches instrumentation on, then touches "go"
        (signal / "ready").touch()
        while not (signal / "go").exists():
            time.sleep(0.01)
    started = time.process_time()
    for _ in range(requests):
        protocol.data_received(data)
    elapsed = time.process_time() - started
    if signal is not None:
        (signal / "done").touch()
        while not (signal / "stop").exists():
            time.sleep(0.01)
    return elapsed / requests * 1e6


def _count(args: argparse.Namespace, name: str) -> int:
    """Instructions per request of case ``name``, from a child run under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        signal = Path(tmp)
        out = signal / "callgrind.out"
        argv = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            sys.executable, __file__, "--child", name, "--requests", str(args.requests),
            "--signal", tmp,
        ]  # fmt: skip
        if args.foreign_dir is not None:
            argv += ["--foreign-dir", str(args.foreign_dir)]
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for step, command in (("ready", "on"), ("done", "off")):
                while not (signal / step).exists():
                    if child.poll() is not None:
                        raise SystemExit(f"{name}: {child.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                    time.sleep(0.05)
                subprocess.run(
                    ["callgrind_control", "-i", command, str(child.pid)],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                (signal / ("go" if step == "ready" else "stop")).touch()
            child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
        summary = next(p for p in signal.iterdir() if p.name.startswith("callgrind.out"))
        totals = re.search(rb"^totals: (\d+)", summary.read_bytes(), re.MULTILINE)
        if totals is None:
            raise SystemExit(f"{name}: no totals in {summary}")
        return int(totals.group(1)) // args.requests


def _run(document: Path | None, kind: str, requests: int, signal: Path | None) -> float:
    """``_measure`` on the event loop ``serve`` runs (uvloop where it is installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_measure(document, kind, requests, signal))
    return uvloop.run(_measure(document, kind, requests, signal))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", action="store_true", help="count instructions (valgrind)")
    parser.add_argument(
        "--requests", type=int, help="measured requests (default: 2,000 counted, 20,000 timed)"
    )
    parser.add_argument("--only", help="one case, e.g. 'Layer create'")
    parser.add_argument(
        "--foreign-dir",
        type=Path,
        help="where swagger-petstore-v3.yaml and redocly-museum.yaml are (else Layer's only)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--signal", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("mockserver").setLevel(logging.ERROR)  # not the documents' lint findings
    args.requests = args.requests or (2000 if args.count or args.child else 20_000)
    known = cases(args.foreign_dir)
    if args.child:
        document, kind = known[args.child]
        _run(document, kind, args.requests, args.signal)
        return
    names = [args.only] if args.only else list(known)
    for name in names:
        if name not in known:
            raise SystemExit(f"no case {name!r}; cases: {', '.join(known)}")
        if args.count:
            print(f"{name:32} {_count(args, name):>9,} instructions per request", flush=True)
        else:
            document, kind = known[name]
            per_request = _run(document, kind, args.requests, None)
            print(f"{name:32} {per_request:7.1f} us CPU per request", flush=True)


if __name__ == "__main__":
    main()
