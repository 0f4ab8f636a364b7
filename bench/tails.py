"""Tail latency while the store grows, and a soak: the targets of issue 16's first item.

    python bench/tails.py [--seconds 60] [--no-prism] [--soak MINUTES] [--window 60]

Sustained runs: ``mockserver serve`` (default document and fixtures) and Prism on the same
document, started once each, server on one core and wrk on the other (``taskset``), 4
connections; creates for ``--seconds`` (the store grows by every one of them, never reset),
then fetches on the grown store. For each: req/s, p50, p99, max, and the server's RSS before
and after. ``--soak M``: M minutes of windows (``--window`` s of creates and fetches in turn,
then ``POST /_sandbox/reset``), printing each window's p99 and max and the RSS after its reset:
flat figures after the first windows mean no growing pause and no leak. ``--in-process N``:
N creates through the app itself (no sockets, no other process to wait for), timed one by one,
with the served process's collector settings and without (serving/collector.py), per 20,000:
what garbage collection alone does to the tail as the store grows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import loadgen
import servers
from loadgen import Request, Result
from run import NEW_CREDIT, SCENARIOS, _post
from servers import (
    CUSTOMER_CREDITS,
    HOST,
    Client,
    Server,
    find_prism,
    free_port,
    prism_argv,
    sandbox_argv,
)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def _line(label: str, result: Result) -> str:
    return (
        f"  {label:28s} {result.rate:7.0f} req/s  p50 {result.p50_ms:6.2f}  "
        f"p99 {result.p99_ms:7.2f}  max {result.max_ms:7.1f} ms  ({result.requests:,} requests"
        f"{', ' + str(result.unexpected) + ' unexpected' if result.unexpected else ''})"
    )


def sustained(args: argparse.Namespace) -> None:
    create, created = SCENARIOS["create"]
    fetch, fetched = SCENARIOS["fetch one credit"]
    servers_to_run = [("sandbox", sandbox_argv)]
    prism = None if args.no_prism else find_prism()
    if prism:
        servers_to_run.append(("Prism", lambda port: prism_argv(prism, port)))
    for name, argv in servers_to_run:
        port = free_port()
        server = Server(argv(port), port, timeout=300)
        before = server.rss_mb()
        print(f"{name}: RSS at start {before:.0f} MB; {_load()}", flush=True)
        expected = created if name == "sandbox" else None
        grown = loadgen.run(HOST, port, create, seconds=args.seconds, expected=expected)
        print(_line(f"create, {args.seconds:g} s", grown), flush=True)
        after = server.rss_mb()
        stored = f"{grown.requests:,} more credits" if name == "sandbox" else "no state"
        print(f"  RSS after: {after:.0f} MB ({stored})", flush=True)
        expected = fetched if name == "sandbox" else None
        read = loadgen.run(HOST, port, fetch, seconds=args.seconds, expected=expected)
        print(_line(f"fetch, {args.seconds:g} s, grown store", read), flush=True)
        print(f"  RSS after: {server.rss_mb():.0f} MB; {_load()}", flush=True)
        server.stop()


def soak(args: argparse.Namespace) -> None:
    port = free_port()
    server = Server(sandbox_argv(port), port)
    client = Client(port)
    mixed = [
        _post(CUSTOMER_CREDITS, NEW_CREDIT),
        *SCENARIOS["fetch one credit"][0],
        _post(CUSTOMER_CREDITS, {**NEW_CREDIT, "memo": "soak"}),
        Request("GET", f"{CUSTOMER_CREDITS}?limit=10"),
    ]
    print(
        f"soak: {args.soak:g} min of {args.window:g} s windows (creates, fetches and lists in "
        f"turn, then a reset); RSS at start {server.rss_mb():.0f} MB; {_load()}",
        flush=True,
    )
    ends = time.monotonic() + args.soak * 60
    window = 0
    while time.monotonic() < ends:
        window += 1
        result = loadgen.run(HOST, port, mixed, seconds=args.window)
        grown = server.rss_mb()
        status, _ = client.call("POST", "/_sandbox/reset")
        assert status == 200, status
        print(
            _line(f"window {window}", result)
            + f"  RSS {grown:.0f} MB, {server.rss_mb():.0f} MB after reset"
            + (f"  !! {result.errors} socket errors" if result.errors else ""),
            flush=True,
        )
    print(f"soak done; {_load()}", flush=True)
    client.close()
    server.stop()


_IN_PROCESS = r"""
import asyncio, json, sys, time
from mockserver import create_app
from mockserver.serving import collector
app = create_app()
if sys.argv[1] == "frozen":
    collector.install()
path = sys.argv[3]
body = sys.argv[4].encode()
headers = [(b"host", b"bench"), (b"authorization", b"Bearer bench-token"),
           (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
         "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
         "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
         "server": ("127.0.0.1", 80)}
async def main():
    statuses = set()
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(message):
        if message["type"] == "http.response.start":
            statuses.add(message["status"])
    for chunk in range(int(sys.argv[2]) // 20000):
        times = []
        for _ in range(20000):
            started = time.perf_counter()
            await app(dict(scope), receive, send)
            times.append(time.perf_counter() - started)
        times.sort()
        print(json.dumps([(chunk + 1) * 20000, times[10000] * 1e3, times[19800] * 1e3,
                          times[-1] * 1e3, sorted(statuses)]), flush=True)
asyncio.run(main())
"""


def in_process(count: int) -> None:
    import json

    body = json.dumps(NEW_CREDIT)
    print(f"in-process: {count:,} creates through the app, timed one by one, per 20,000:")
    for mode in ("frozen", "default"):
        label = "as served (collector.install)" if mode == "frozen" else "Python's default GC"
        print(f"  {label}:", flush=True)
        process = subprocess.Popen(
            servers.pinned([sys.executable, "-c", _IN_PROCESS, mode, str(count),
                            CUSTOMER_CREDITS, body], servers.PIN_SERVER),
            cwd=servers.ROOT, stdout=subprocess.PIPE, text=True, env=servers.SERVER_ENV,
        )  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            stored, p50, p99, most, statuses = json.loads(line)
            print(
                f"    {stored:>9,} stored: p50 {p50:5.2f}  p99 {p99:5.2f}  max {most:6.1f} ms"
                f"  (statuses {statuses})",
                flush=True,
            )
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per sustained run")
    parser.add_argument("--no-prism", action="store_true")
    parser.add_argument("--soak", type=float, default=0.0, help="minutes of soak (0: none)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per soak window")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk")
    parser.add_argument("--in-process", type=int, default=0, help="creates timed in-process")
    args = parser.parse_args()
    if not args.no_pin and (os.cpu_count() or 1) >= 2:
        servers.PIN_SERVER, loadgen.PIN_LOAD = "1", "0"
    print(
        f"pinning: server on CPU {servers.PIN_SERVER}, wrk on CPU {loadgen.PIN_LOAD}; "
        f"{loadgen.resolve('auto')}, 4 connections",
        flush=True,
    )
    if args.in_process:
        in_process(args.in_process)
    if args.seconds:
        sustained(args)
    if args.soak:
        soak(args)


if __name__ == "__main__":
    main()
