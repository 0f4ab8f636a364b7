"""The processes a benchmark starts (sandbox, Prism, ceiling, seeded store) and a small client."""

from __future__ import annotations

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from loadgen import AUTH

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "layer-credits.yaml"
HOST = "127.0.0.1"
BUSINESS = "b0000000-0000-4000-8000-000000000001"
CUSTOMER_CREDITS = f"/v1/businesses/{BUSINESS}/invoices/customer-credits"
FETCHED = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001"
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}

#: Servers run with their bytecode cached, as after ``pip install`` (pip compiles every module),
#: even where PYTHONDONTWRITEBYTECODE is set; the cache lives outside the work tree.
SERVER_ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "mockserver-bench-pycache"),
}


#: CPU pinning (``taskset -c``) of the servers started from now on; run.py sets it with --pin
#: (and loadgen.PIN_LOAD for the load generator) so that the two never share a core.
PIN_SERVER: str | None = None
PRISM_DIR = ROOT / "bench" / ".prism"  # npm's --prefix for Prism: not committed (.gitignore)
PRISM_PACKAGE = "@stoplight/prism-cli@5"


def pinned(argv: Sequence[str], cpus: str | None) -> list[str]:
    """``argv`` run on ``cpus`` (``taskset -c``) when given and taskset exists."""
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *argv]
    return list(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server process, started now; ``ready`` is the seconds until its first 200 answer."""

    running: ClassVar[list[Server]] = []  # stopped at exit, whatever happens

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        probe: str = FETCHED,
        timeout: float = 120,
        expect: int | None = 200,
        env: dict[str, str] | None = None,
    ):
        """``expect``: the probe's status that means ready (None: any HTTP answer)."""
        self.port = port
        # A file, not a pipe: a full pipe would stall the server. Closed in stop().
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        started = time.perf_counter()
        self.process = subprocess.Popen(
            pinned(argv, PIN_SERVER),
            cwd=ROOT,
            env={**SERVER_ENV, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        Server.running.append(self)
        while not _answers(port, probe, expect):
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


def _answers(port: int, path: str, expect: int | None = 200) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        conn.request("GET", path, headers=AUTH)
        status = conn.getresponse().status
        ok = expect is None or status == expect
        conn.close()
        return ok
    except OSError:
        return False


def startup(
    argv: Callable[[int], list[str]],
    times: int,
    probe: str = FETCHED,
    expect: int | None = 200,
    env: Callable[[int], dict[str, str]] | None = None,
    untimed: int = 1,
) -> float:
    """Median seconds from process start to the first answer (after ``untimed`` starts).

    ``env(i)``: extra environment of start ``i`` (0 is the first, untimed or not).
    """
    seconds = []
    for i in range(times + untimed):
        port = free_port()
        server = Server(argv(port), port, probe, expect=expect, env=env(i) if env else None)
        seconds.append(server.ready)
        server.stop()
    return statistics.median(seconds[untimed:])


def sandbox_argv(port: int, spec: Path | str | None = None) -> list[str]:
    """``mockserver serve`` exactly as a user starts it (``spec``: ``--spec``)."""
    argv = [sys.executable, "-m", "mockserver", "serve", "--port", str(port)]
    return argv + (["--spec", str(spec)] if spec else [])


def seed_argv(port: int, credits: int) -> list[str]:
    """bench/seed.py: ``credits`` credits created in-process, then served like ``serve``."""
    return [sys.executable, "bench/seed.py", "--port", str(port), "--credits", str(credits)]


def ceiling_argv(port: int, body_file: str) -> list[str]:
    return [sys.executable, "bench/ceiling.py", "--port", str(port), "--body-file", body_file]


def find_prism(install: bool = True) -> str | None:
    """Prism's CLI: ``$PRISM``, bench/.prism, /tmp/prism or the PATH; else, with ``install``
    and npm present, installed into bench/.prism now (said on stdout)."""
    if not shutil.which("node"):
        print("Prism: no Node.js here, so no comparison", flush=True)
        return None
    local = PRISM_DIR / "node_modules" / ".bin" / "prism"
    for candidate in (
        os.environ.get("PRISM"),
        str(local),
        "/tmp/prism/node_modules/.bin/prism",
        shutil.which("prism"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    if install and shutil.which("npm"):
        print(f"Prism: installing {PRISM_PACKAGE} into {PRISM_DIR} (npm) ...", flush=True)
        subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(PRISM_DIR), PRISM_PACKAGE],
            check=False,
            timeout=600,
        )
        if local.exists():
            return str(local)
    print("Prism: not found and not installed, so no comparison", flush=True)
    return None


def prism_argv(prism: str, port: int, spec: Path | str = SPEC) -> list[str]:
    """Prism's mock server on the same document, logging off (its fastest setting)."""
    return [prism, "mock", str(spec), "--port", str(port), "--host", HOST, "-v", "silent"]


def prism_version(prism: str) -> str:
    out = subprocess.run([prism, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


class Client:
    """One keep-alive connection for set-up calls (seeding, paging), reconnecting when idle."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or AUTH
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        headers = self.headers
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, data, headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
            except (http.client.RemoteDisconnected, ConnectionError):
                if attempt == 2:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        raise AssertionError("unreachable")

    def raw(self, method: str, path: str) -> bytes:
        self.conn.request(method, path, headers=AUTH)
        return self.conn.getresponse().read()

    def live_credit_ids(self, skip: set[str]) -> list[str]:
        """Every live customer credit of the business, paging through the list."""
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

    def timed(self, method: str, path: str, count: int) -> tuple[float, float]:
        """p50 and p99 in ms of ``count`` sequential round trips."""
        times = []
        for _ in range(count):
            started = time.perf_counter()
            self.call(method, path)
            times.append(time.perf_counter() - started)
        times.sort()
        return statistics.median(times) * 1e3, times[int(len(times) * 0.99)] * 1e3

    def close(self) -> None:
        self.conn.close()
