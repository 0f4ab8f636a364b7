"""The sandbox benchmark: served as users serve it, driven from other processes over loopback.

    python bench/run.py [--seconds 5] [--tool auto|wrk|python] [--no-prism] [--big 100000]

Prints requests per second, p50 and p99 latency at 4 connections for each request kind, the
start-up time to the first answer, reset times, RSS, the same figures for Stoplight Prism on the
same document when it is installed (``npm install --prefix /tmp/prism @stoplight/prism-cli``, or
``PRISM=/path/to/prism``), the bare-Starlette ceiling, and a 100,000-credit store.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path

import loadgen
from loadgen import AUTH, Request, Result

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "layer-credits.yaml"
HOST = "127.0.0.1"
BUSINESS = "b0000000-0000-4000-8000-000000000001"
CUSTOMER_CREDITS = f"/v1/businesses/{BUSINESS}/invoices/customer-credits"
VENDOR_CREDITS = f"/v1/businesses/{BUSINESS}/bills/vendor-credits"
FETCHED = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001"
PATCHED = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000002"
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
NEW_CREDIT = {
    "customer_external_id": "cust-001",
    "memo": "bench credit",
    "line_items": [
        {
            "amount": 2500,
            "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
        }
    ],
}


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


SCENARIOS: dict[str, tuple[list[Request], int]] = {
    "fetch one credit": ([Request("GET", FETCHED)], 200),
    "list 100 credits": ([Request("GET", f"{CUSTOMER_CREDITS}?limit=100")], 200),
    "create": ([Request("POST", CUSTOMER_CREDITS, _json(NEW_CREDIT), JSON_HEADERS)], 201),
    "idempotent re-create": (
        [
            Request(
                "POST",
                CUSTOMER_CREDITS,
                _json({**NEW_CREDIT, "external_id": "bench-idempotent"}),
                JSON_HEADERS,
            )
        ],
        200,
    ),
    "patch": ([Request("PATCH", PATCHED, _json({"memo": "patched by bench"}), JSON_HEADERS)], 200),
    "invalid request": (
        [
            Request(
                "POST",
                VENDOR_CREDITS,
                _json({"line_items": [], "colour": "red"}),
                JSON_HEADERS,
            )
        ],
        400,
    ),
}
DELETE = "delete"


# --- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server process, started now; ``ready`` is the seconds until its first 200 answer."""

    running: list[Server] = []  # stopped at exit, whatever happens

    def __init__(self, argv: Sequence[str], port: int, probe: str = FETCHED, timeout: float = 120):
        self.port = port
        self.log = tempfile.TemporaryFile()  # not a pipe: a full pipe would stall the server
        started = time.perf_counter()
        self.process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        Server.running.append(self)
        while not _answers(port, probe):
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{argv[0]} exited: {self.log.read().decode()[-2000:]}")
            if time.perf_counter() - started > timeout:
                self.stop()
                raise RuntimeError(f"{' '.join(argv)} did not answer within {timeout} s")
            time.sleep(0.002)
        self.ready = time.perf_counter() - started

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (Prism's CLI forks node workers)."""
        total = 0
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            task = Path(f"/proc/{pid}/task/{pid}/children")
            if task.exists():
                pending += [int(p) for p in task.read_text().split()]
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self in Server.running:
            Server.running.remove(self)
        self.log.close()


@atexit.register
def _stop_servers() -> None:
    for server in list(Server.running):
        server.stop()


def _answers(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        conn.request("GET", path, headers=AUTH)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def sandbox_argv(port: int) -> list[str]:
    """``mockserver serve`` exactly as a user starts it (default log level: access log on)."""
    return [sys.executable, "-m", "mockserver", "serve", "--port", str(port)]


def find_prism() -> str | None:
    for candidate in (
        os.environ.get("PRISM"),
        "/tmp/prism/node_modules/.bin/prism",
        shutil.which("prism"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def prism_argv(prism: str, port: int) -> list[str]:
    return [prism, "mock", str(SPEC), "--port", str(port), "--host", HOST, "-v", "silent"]


# --- HTTP helpers for seeding and paging


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        headers = JSON_HEADERS if body is not None else AUTH
        self.conn.request(method, path, None if body is None else _json(body), headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None

    def live_credit_ids(self, skip: set[str]) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            query = "limit=100" + (f"&cursor={cursor}" if cursor else "")
            status, body = self.call("GET", f"{CUSTOMER_CREDITS}?{query}")
            assert status == 200 and isinstance(body, dict), (status, body)
            ids += [c["id"] for c in body["data"] if c["id"] not in skip]
            cursor = body["meta"]["pagination"]["cursor"]
            if not body["meta"]["pagination"]["has_more"]:
                return ids

    def close(self) -> None:
        self.conn.close()


def timed_requests(port: int, method: str, path: str, count: int) -> tuple[float, float]:
    """p50 and p99 in ms of ``count`` sequential requests on one keep-alive connection."""
    client = Client(port)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.conn.request(method, path, headers=AUTH)
        client.conn.getresponse().read()
        times.append(time.perf_counter() - started)
    client.close()
    times.sort()
    return statistics.median(times) * 1e3, times[int(len(times) * 0.99)] * 1e3


# --- measurements


def drive(
    port: int,
    requests: list[Request],
    args: argparse.Namespace,
    cycle: bool = True,
    expected: int | None = None,
) -> Result:
    return loadgen.run(
        HOST, port, requests, seconds=args.seconds, connections=args.connections, cycle=cycle,
        tool=args.tool, expected=expected,
    )  # fmt: skip


def run_scenarios(port: int, args: argparse.Namespace, stateful: bool) -> dict[str, Result]:
    """Every scenario against the server on ``port``; ``stateful``: check the statuses."""
    fixture_ids = set(Client(port).live_credit_ids(set())) if stateful else set()
    client = Client(port)
    if stateful:  # enough credits for a full page, created over the API
        for i in range(150):
            status, _ = client.call("POST", CUSTOMER_CREDITS, {**NEW_CREDIT, "memo": f"list {i}"})
            assert status == 201, status
    client.call("POST", CUSTOMER_CREDITS, {**NEW_CREDIT, "external_id": "bench-idempotent"})
    client.close()
    results = {}
    for name, (requests, expected) in SCENARIOS.items():
        loadgen.run(HOST, port, requests, seconds=0.5, connections=args.connections, tool="python")
        results[name] = drive(port, requests, args, expected=expected if stateful else None)
        _report(name, results[name])
    if stateful:  # every DELETE hits a live credit: the ones the scenarios above created
        pool = Client(port).live_credit_ids(fixture_ids)
        requests = [Request("DELETE", f"{CUSTOMER_CREDITS}/{i}") for i in pool]
        results[DELETE] = drive(port, requests, args, cycle=False, expected=200)
        _report(f"{DELETE} (of {len(pool)} live)", results[DELETE])
    else:
        requests = [Request("DELETE", f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000003")]
        results[DELETE] = drive(port, requests, args)
        _report(DELETE, results[DELETE])
    return results


def _report(name: str, result: Result) -> None:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items()))
    print(
        f"  {name:24s} {result.rate:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
        f"p99 {result.p99_ms:6.2f} ms  [{result.requests} requests; {statuses}]",
        flush=True,
    )
    if result.unexpected or result.errors:
        print(f"  !! {result.unexpected} unexpected statuses, {result.errors} socket errors")


def startup(argv: Callable[[int], list[str]], times: int) -> float:
    """Median seconds from process start to the first 200 answer."""
    seconds = []
    for _ in range(times):
        port = free_port()
        server = Server(argv(port), port)
        seconds.append(server.ready)
        server.stop()
    return statistics.median(seconds)


def in_process_reset() -> tuple[float, float]:
    """Microseconds per ``store.reset()`` with the default fixtures (best of 5 runs)."""
    sys.path.insert(0, str(ROOT))
    from mockserver import create_app

    store = create_app().state.sandbox.store
    number = 2000
    best = min(timeit.repeat(store.reset, number=number, repeat=5)) / number
    return best * 1e6, number


def machine() -> str:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    extras = []
    for module in ("uvloop", "httptools"):
        try:
            __import__(module)
            extras.append(module)
        except ImportError:
            pass
    return (
        f"nproc {os.cpu_count()}, CPU {cpu}, Python {platform.python_version()}, "
        f"{'/'.join(extras) or 'asyncio/h11'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario (default 5)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-prism", action="store_true", help="skip Stoplight Prism")
    parser.add_argument("--big", type=int, default=100_000, help="credits in the big store (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    tool = "wrk" if args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk")) else "python"
    print(f"machine: {machine()}; load: {tool}, {args.connections} connections, "
          f"{args.seconds:g} s per scenario", flush=True)  # fmt: skip
    figures: dict[str, object] = {"machine": machine(), "tool": tool}

    up = startup(sandbox_argv, 5)
    print(f"sandbox start-up to first answer: {up * 1e3:.0f} ms (median of 5)", flush=True)
    figures["startup_ms"] = up * 1e3

    port = free_port()
    sandbox = Server(sandbox_argv(port), port)
    rss_empty = sandbox.rss_mb()
    fetched_body = _fetch_body(port)
    print(f"sandbox (strict, default fixtures) RSS {rss_empty:.0f} MB", flush=True)
    ours = run_scenarios(port, args, stateful=True)
    reset_p50, reset_p99 = timed_requests(port, "POST", "/_sandbox/reset", 500)
    sandbox.stop()
    reset_us, _ = in_process_reset()
    print(f"reset: POST /_sandbox/reset p50 {reset_p50:.2f} ms, p99 {reset_p99:.2f} ms "
          f"(round trip); store.reset() {reset_us:.1f} us in-process", flush=True)  # fmt: skip
    figures.update(
        ours={k: vars(v) | {"rate": v.rate} for k, v in ours.items()},
        rss_mb=rss_empty, reset_http_p50_ms=reset_p50, reset_http_p99_ms=reset_p99,
        reset_in_process_us=reset_us,
    )  # fmt: skip

    ceiling_port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(fetched_body)  # the same bytes the sandbox sends for one credit
    ceiling = Server(
        [sys.executable, "bench/ceiling.py", "--port", str(ceiling_port), "--body-file", f.name],
        ceiling_port,
    )
    print("bare Starlette ceiling (fixed body, no validation):", flush=True)
    fetch = SCENARIOS["fetch one credit"][0]
    create = SCENARIOS["create"][0]
    ceiling_fetch = drive(ceiling_port, fetch, args, expected=200)
    _report("GET (as fetch one)", ceiling_fetch)
    ceiling_create = drive(ceiling_port, create, args, expected=200)
    _report("POST (as create)", ceiling_create)
    if tool == "wrk":  # is the Python generator a bottleneck? it must reach well above us
        python_args = argparse.Namespace(**{**vars(args), "tool": "python"})
        _report("GET, Python generator", drive(ceiling_port, fetch, python_args, expected=200))
    ceiling.stop()
    os.unlink(f.name)
    figures["ceiling"] = {"fetch": ceiling_fetch.rate, "create": ceiling_create.rate}

    prism = None if args.no_prism or not shutil.which("node") else find_prism()
    if prism:
        prism_up = startup(lambda p: prism_argv(prism, p), 3)
        port = free_port()
        server = Server(prism_argv(prism, port), port)
        print(f"Stoplight Prism {_prism_version(prism)} (static examples, no state, logging "
              f"off): start-up {prism_up * 1e3:.0f} ms, RSS {server.rss_mb():.0f} MB",
              flush=True)  # fmt: skip
        theirs = run_scenarios(port, args, stateful=False)
        server.stop()
        print("ratio sandbox / Prism (req/s):", flush=True)
        for name, result in theirs.items():
            ratio = ours[name].rate / result.rate if result.rate else float("nan")
            print(f"  {name:24s} {ratio:5.2f}x", flush=True)
        figures["prism"] = {k: v.rate for k, v in theirs.items()}
        figures["prism_startup_ms"] = prism_up * 1e3
    else:
        print("Stoplight Prism: not found (node and prism are needed); no ratio", flush=True)

    if args.big:
        port = free_port()
        started = time.perf_counter()
        big = Server(
            [sys.executable, "bench/seed.py", "--port", str(port), "--credits", str(args.big)],
            port,
            timeout=600,
        )
        print(f"store with {args.big} credits (seeded in-process, then served; "
              f"{time.perf_counter() - started:.1f} s to first answer): "
              f"RSS {big.rss_mb():.0f} MB", flush=True)  # fmt: skip
        figures["big_rss_mb"] = big.rss_mb()
        for name in ("fetch one credit", "list 100 credits"):
            requests, expected = SCENARIOS[name]
            result = drive(port, requests, args, expected=expected)
            _report(name, result)
            change = result.rate / ours[name].rate - 1
            print(f"    vs default store: {change:+.1%}", flush=True)
            figures[f"big_{name}"] = result.rate
        big.stop()

    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


def _fetch_body(port: int) -> bytes:
    conn = http.client.HTTPConnection(HOST, port)
    conn.request("GET", FETCHED, headers=AUTH)
    return conn.getresponse().read()


def _prism_version(prism: str) -> str:
    out = subprocess.run([prism, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
