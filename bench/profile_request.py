"""Where one request's time goes: the app driven in-process (no sockets), under pyinstrument.

    pip install -e '.[bench]'
    python bench/profile_request.py "fetch one credit" [--requests 20000] [--credits 100000]
    python bench/profile_request.py create --cpu      # CPU microseconds per request, no profiler

The scenarios are bench/run.py's. ``--credits`` seeds that many credits first (bench/seed.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import seed
from run import SCENARIOS, Request

from mockserver import Config, create_app


def scope(request: Request) -> dict[str, Any]:
    path, _, query = request.path.partition("?")
    headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    if request.body:
        headers.append((b"content-length", str(len(request.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def drive(app: Any, request: Request, count: int) -> list[int]:
    statuses = []
    the_scope = scope(request)
    body_message = {"type": "http.request", "body": request.body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return body_message

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(count):
        await app(the_scope, receive, send)
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--credits", type=int, default=0, help="seed this many credits first")
    parser.add_argument("--cpu", action="store_true", help="time only (CPU us per request)")
    args = parser.parse_args()
    app = create_app(Config())
    if args.credits:
        seed.seed_credits(app.state.sandbox, args.credits)
    request = SCENARIOS[args.scenario][0][0]
    asyncio.run(drive(app, request, 200))  # warm up
    if args.cpu:
        started = time.process_time()
        statuses = asyncio.run(drive(app, request, args.requests))
        per_request = (time.process_time() - started) / args.requests * 1e6
        print(f"{args.scenario}: {per_request:.1f} us CPU per request (statuses {set(statuses)})")
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0001)
    profiler.start()
    statuses = asyncio.run(drive(app, request, args.requests))
    profiler.stop()
    print(f"{args.requests} requests, statuses {set(statuses)}")
    print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
