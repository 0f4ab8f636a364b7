"""Soak: a bounded loopback run of mixed valid and invalid traffic against ``mockserver serve``.

Starts ``python -m mockserver serve`` on a free loopback port, drives it from several
connections for ``--seconds`` (default 300) with a mix of every operation, valid requests and
hostile ones (malformed JSON, wrong media types, oversized URLs, headers and bodies, NaN, NUL,
deep nesting, bad UUIDs, unknown and repeated parameters, unparsable HTTP), resetting the state
every ``--reset-every`` seconds so that stored credits stay bounded. Reports:

- requests sent, answers by status, and every 5xx (must be none);
- dropped connections: a request that got no HTTP answer (must be none);
- error answers not in Layer's envelope (must be none);
- the server's RSS at start, after warm-up, at the end and at its peak; the end must be within
  10% of where it settled after warm-up.

Exit status 0 when all checks hold, 1 otherwise.

    python bench/soak.py [--seconds 300] [--connections 6] [--warmup 60] [--json report.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

BUSINESS = "b0000000-0000-4000-8000-000000000001"
OTHER = "b0000000-0000-4000-8000-000000000002"
CC = f"/v1/businesses/{BUSINESS}/invoices/customer-credits"
VC = f"/v1/businesses/{BUSINESS}/bills/vendor-credits"
FIXTURE_CREDITS = [f"{CC}/cc000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3, 4)]
FIXTURE_VENDOR_CREDITS = [f"{VC}/dc000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)]
INVOICES = [f"e0000000-0000-4000-8000-00000000000{n}" for n in (1, 2)]  # Globex's
JSON = {"content-type": "application/json"}
TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # one context: httpx builds a costly one per client

# A request: (method, path, body bytes or None, extra headers).
Request = tuple[str, str, bytes | None, dict[str, str]]


def customer_credit(amount: int, **fields: Any) -> dict[str, Any]:
    return {
        "customer_id": "c0000000-0000-4000-8000-000000000001",
        "line_items": [
            {
                "amount": amount,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
        **fields,
    }


def vendor_credit(amount: int, **fields: Any) -> dict[str, Any]:
    return {
        "vendor_id": "d0000000-0000-4000-8000-000000000001",
        "received_at": "2024-06-01T00:00:00Z",
        "line_items": [
            {
                "amount": amount,
                "expense_account_identifier": {"type": "StableName", "stable_name": "COGS"},
            }
        ],
        **fields,
    }


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


class Traffic:
    """The request mix; remembers recently created credits to fetch, patch and delete."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.recent: collections.deque[str] = collections.deque(maxlen=200)
        self.lock = threading.Lock()
        weighted: list[tuple[int, Callable[[], Request]]] = [
            (10, self.list_credits),
            (8, self.fetch),
            (6, self.create_idempotent),
            (3, self.create_new),
            (3, self.create_allocated),
            (3, self.create_vendor),
            (4, self.patch),
            (2, self.delete),
            (2, self.whoami),
            (1, self.token),
            # hostile
            (2, lambda: ("POST", CC, b'{"memo": ', JSON)),
            (2, lambda: ("POST", VC, self.rng.choice([b"[]", b'"x"', b"null", b"42"]), JSON)),
            (1, lambda: ("PATCH", self.credit_url(), b"", JSON)),
            (2, lambda: ("POST", CC, dumps(customer_credit(1)), {"content-type": "text/plain"})),
            (1, lambda: ("POST", CC, dumps(customer_credit(1)), {})),
            (2, lambda: ("POST", CC, dumps(customer_credit(1, colour="red")), JSON)),
            (2, lambda: ("GET", f"{CC}/not-a-uuid", None, {})),
            (1, lambda: ("POST", CC, dumps(customer_credit(1, customer_id="nope")), JSON)),
            (2, lambda: ("GET", f"{CC}?colour=red", None, {})),
            (2, lambda: ("GET", f"{VC}?limit=1&limit=2", None, {})),
            (1, lambda: ("GET", f"{CC}?memo=%FF%00", None, {})),
            (1, lambda: ("GET", f"{CC}?limit=" + "9" * 5000, None, {})),
            (1, lambda: ("POST", CC, b'{"metadata": {"r": NaN}}', JSON)),
            (1, lambda: ("POST", CC, b'{"memo": "a\\u0000b"}', JSON)),
            (1, lambda: ("POST", CC, b'{"memo": "\xff\xfe"}', JSON)),
            (1, lambda: ("POST", CC, b'{"line_items": [{"amount": 1e400}]}', JSON)),
            (1, lambda: ("POST", CC, b'{"m": ' + b"[" * 3000 + b"]" * 3000 + b"}", JSON)),
            (1, lambda: ("POST", CC, b'{"m": ' + b"[" * 200 + b"]" * 200 + b"}", JSON)),
            (1, lambda: ("GET", f"{CC}?memo=" + "x" * 9000, None, {})),
            (1, lambda: ("GET", CC, None, {"x-padding": "y" * 20_000})),
            (1, lambda: ("GET", CC.replace(BUSINESS, str(uuid.uuid4())), None, {})),
            (1, lambda: ("PUT", CC, b"{}", JSON)),
            (1, lambda: ("GET", CC, None, {"authorization": ""})),
            (1, lambda: ("POST", "/openapi.json", None, {})),
            (1, lambda: ("GET", "/nowhere/at/all", None, {})),
        ]
        self.weights = [w for w, _ in weighted]
        self.makers = [m for _, m in weighted]

    def next(self) -> Request:
        return self.rng.choices(self.makers, self.weights)[0]()

    def remember(self, method: str, path: str, status: int, body: Any) -> None:
        if method == "POST" and status == 201 and path in (CC, VC):
            with self.lock:
                self.recent.append(f"{path}/{body['data']['id']}")

    def credit_url(self) -> str:
        with self.lock:
            if self.recent and self.rng.random() < 0.7:
                return self.rng.choice(self.recent)
        return self.rng.choice(FIXTURE_CREDITS + FIXTURE_VENDOR_CREDITS)

    def list_credits(self) -> Request:
        params = self.rng.choice(
            [
                "",
                "?limit=5",
                "?limit=20&sort_order=DESC",
                "?memo_contains=soak",
                "?include_deleted=true&show_total_count=true",
                "?sent_at_start=2024-01-01&sent_at_end=2030-12-31",
            ]
        )
        return ("GET", self.rng.choice([CC, VC]) + params, None, {})

    def fetch(self) -> Request:
        return ("GET", self.credit_url(), None, {})

    def create_idempotent(self) -> Request:
        key = f"soak-{self.rng.randrange(100)}"
        body = customer_credit(self.rng.randrange(1, 5000), external_id=key, memo="soak upsert")
        return ("POST", CC, dumps(body), JSON)

    def create_new(self) -> Request:
        return ("POST", CC, dumps(customer_credit(100, memo="soak new")), JSON)

    def create_allocated(self) -> Request:
        # Sometimes more than the invoice's balance: a business-rule 400.
        amount = self.rng.choice([100, 500, 80_000])
        body = customer_credit(
            amount, allocations=[{"amount": amount, "invoice_id": self.rng.choice(INVOICES)}]
        )
        return ("POST", CC, dumps(body), JSON)

    def create_vendor(self) -> Request:
        body = vendor_credit(self.rng.randrange(1, 3000), memo="soak vendor")
        return ("POST", VC, dumps(body), JSON)

    def patch(self) -> Request:
        url = self.credit_url()
        return ("PATCH", url, dumps({"memo": f"soak patch {self.rng.random()}"}), JSON)

    def delete(self) -> Request:
        return ("DELETE", self.credit_url(), None, {})

    def whoami(self) -> Request:
        return ("GET", "/whoami", None, {})

    def token(self) -> Request:
        return (
            "POST",
            "/oauth2/token",
            b"grant_type=client_credentials",
            {
                "content-type": "application/x-www-form-urlencoded",
                "authorization": "Basic c29hazpzZWNyZXQ=",
            },
        )


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.statuses: collections.Counter[int] = collections.Counter()
        self.server_errors: list[str] = []
        self.dropped: list[str] = []
        self.off_envelope: list[str] = []
        self.resets = 0
        self.raw_requests = 0

    def add(self, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] += 1


def is_envelope(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"errors"}
        and bool(body["errors"])
        and all(
            isinstance(e, dict) and e.get("description") and e.get("error_enum")
            for e in body["errors"]
        )
    )


def worker(
    url: str,
    deadline: float,
    seed: int,
    tally: Tally,
    traffic: Traffic,
    resetter: bool,
    every: float,
) -> None:
    rng = random.Random(seed)
    next_reset = time.monotonic() + every
    headers = {"Authorization": "Bearer soak-token"}
    with httpx.Client(base_url=url, headers=headers, timeout=30, verify=TLS) as client:
        while time.monotonic() < deadline:
            if resetter and time.monotonic() >= next_reset:
                client.post("/_sandbox/reset")
                with tally.lock:
                    tally.resets += 1
                next_reset += every
            if rng.random() < 0.005:
                raw_garbage(url, rng, tally)
                continue
            if rng.random() < 0.002:  # a body over the 1 MiB limit: 413
                method, path, body, extra = ("POST", CC, b" " * (1_100_000), JSON)
            else:
                method, path, body, extra = traffic.next()
            try:
                response = client.request(method, path, content=body, headers=extra)
            except httpx.TransportError as exc:
                with tally.lock:
                    tally.requests += 1
                    tally.dropped.append(f"{method} {path[:80]}: {type(exc).__name__}: {exc}")
                continue
            tally.add(response.status_code)
            parsed: Any = None
            if response.headers.get("content-type", "").startswith("application/json"):
                try:
                    parsed = response.json()
                except ValueError:
                    parsed = None
            if response.status_code >= 500:
                with tally.lock:
                    tally.server_errors.append(f"{method} {path[:80]}: {response.text[:300]}")
            elif response.status_code >= 400 and not is_envelope(parsed):
                with tally.lock:
                    tally.off_envelope.append(f"{method} {path[:80]}: {response.text[:200]}")
            else:
                traffic.remember(method, path, response.status_code, parsed)


def raw_garbage(url: str, rng: random.Random, tally: Tally) -> None:
    """Bytes that are not HTTP at all: the server must still answer (400 in the envelope)."""
    port = int(url.rsplit(":", 1)[1])
    payload = rng.choice(
        [
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"GET /" + b"x" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
    )
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(payload)
            while chunk := sock.recv(65536):
                answer += chunk
    except OSError as exc:
        if not answer:
            with tally.lock:
                tally.requests += 1
                tally.raw_requests += 1
                tally.dropped.append(f"raw {payload[:30]!r}: {exc}")
            return
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    with tally.lock:
        tally.raw_requests += 1
    tally.add(status)
    body = answer.partition(b"\r\n\r\n")[2]
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if status == 0:
        with tally.lock:
            tally.dropped.append(f"raw {payload[:30]!r}: no HTTP answer")
    elif not is_envelope(parsed):
        with tally.lock:
            tally.off_envelope.append(f"raw {payload[:30]!r}: {answer[:200]!r}")


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "mockserver", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "error", *extra],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", verify=TLS).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sandbox did not start within 60 seconds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="length of the run (300)")
    parser.add_argument("--connections", type=int, default=6, help="concurrent connections (6)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds (default: a fifth, <= 60)")
    parser.add_argument("--reset-every", type=float, default=20, help="seconds between resets")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request mix")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("server_args", nargs="*", help="extra `mockserver serve` options")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else min(60.0, args.seconds / 5)

    port = free_port()
    server = start_server(port, args.server_args)
    url = f"http://127.0.0.1:{port}"
    samples: list[tuple[float, int]] = []
    tally = Tally()
    traffic = Traffic(random.Random(args.seed))
    start = time.monotonic()
    rss_start = rss_kib(server.pid)
    deadline = start + args.seconds
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(1.0):
            samples.append((time.monotonic() - start, rss_kib(server.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    workers = [
        threading.Thread(
            target=worker,
            args=(url, deadline, args.seed * 1000 + i, tally, traffic, i == 0, args.reset_every),
        )
        for i in range(args.connections)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.monotonic() - start
    stop_sampling.set()
    sampler.join()
    alive = server.poll() is None
    server.terminate()
    server.wait(timeout=30)

    def settled(at: float) -> int:
        # Median over the 10 s before ``at``: one sample would catch a reset or a GC spike.
        window = [rss for t, rss in samples if at - 10 <= t <= at] or [samples[-1][1]]
        return int(statistics.median(window))

    rss_warm = settled(warmup)
    rss_end = settled(elapsed)
    rss_peak = max(rss for _, rss in samples)
    drift = (rss_end - rss_warm) / rss_warm
    report = {
        "seconds": round(elapsed, 1),
        "connections": args.connections,
        "requests": tally.requests,
        "requests_per_second": round(tally.requests / elapsed, 1),
        "raw_http_requests": tally.raw_requests,
        "resets": tally.resets,
        "statuses": dict(sorted(tally.statuses.items())),
        "server_errors_5xx": len(tally.server_errors),
        "dropped_connections": len(tally.dropped),
        "errors_not_in_envelope": len(tally.off_envelope),
        "rss_kib": {
            "start": rss_start,
            "after_warmup": rss_warm,
            "end": rss_end,
            "peak": rss_peak,
            "end_vs_warmup_percent": round(100 * drift, 1),
        },
        "server_alive_at_end": alive,
    }
    print(json.dumps(report, indent=2))
    for title, items in (
        ("5xx answers", tally.server_errors),
        ("dropped connections", tally.dropped),
        ("errors not in the envelope", tally.off_envelope),
    ):
        for item in items[:10]:
            print(f"{title}: {item}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({**report, "rss_samples": samples}, indent=2))
    ok = (
        alive
        and not tally.server_errors
        and not tally.dropped
        and not tally.off_envelope
        and abs(drift) <= 0.10
    )
    print("soak:", "PASS" if ok else "FAIL", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
