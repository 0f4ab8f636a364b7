"""Load generators for the benchmark: wrk when installed, else keep-alive raw sockets in processes.

A scenario is a list of HTTP requests. ``cycle=True`` sends them round and round for the whole
duration (fetch, list, create ...); ``cycle=False`` sends each once and stops early when all are
used (delete: every DELETE hits a live credit). Connections share the requests round-robin.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

AUTH = {"Authorization": "Bearer bench-token"}
#: ``taskset -c`` CPUs for wrk (run.py --pin), so that it never shares the server's core.
PIN_LOAD: str | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: dict(AUTH))

    def raw(self, host: str, port: int) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body or self.method in ("POST", "PATCH", "PUT"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class Result:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    errors: int = 0
    #: Answers whose status was not the expected one.
    unexpected: int = 0
    max_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def resolve(tool: str) -> str:
    """The generator ``tool`` ("auto", "wrk" or "python") stands for on this machine."""
    if tool == "wrk" or (tool == "auto" and shutil.which("wrk")):
        return "wrk"
    return "python"


def run(
    host: str,
    port: int,
    requests: Sequence[Request],
    *,
    seconds: float,
    connections: int = 4,
    cycle: bool = True,
    tool: str = "auto",
    expected: int | None = None,
) -> Result:
    """Drive ``requests`` at ``host:port`` for ``seconds`` over ``connections`` connections."""
    if resolve(tool) == "wrk":
        return _run_wrk(host, port, requests, seconds, connections, cycle, expected)
    return _run_python(host, port, requests, seconds, connections, cycle, expected)


# --- Python: one process per connection, blocking keep-alive socket, minimal HTTP parsing.


def _run_python(
    host: str,
    port: int,
    requests: Sequence[Request],
    seconds: float,
    connections: int,
    cycle: bool,
    expected: int | None,
) -> Result:
    ctx = mp.get_context("fork")
    start_at = time.time() + 0.3  # every connection starts together
    queue: mp.Queue[tuple[list[float], dict[int, int], int, float]] = ctx.Queue()
    shares = [[r.raw(host, port) for r in requests[i::connections]] for i in range(connections)]
    procs = [
        ctx.Process(target=_connection, args=(host, port, share, start_at, seconds, cycle, queue))
        for share in shares
        if share
    ]
    for p in procs:
        p.start()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    elapsed = 0.0
    for _ in procs:
        lat, stat, err, took = queue.get()
        latencies += lat
        statuses.update(stat)
        errors += err
        elapsed = max(elapsed, took)
    for p in procs:
        p.join()
    wall = seconds if cycle else min(seconds, max(elapsed, 1e-9))
    result = _result("python", latencies, wall, {str(k): v for k, v in statuses.items()}, errors)
    if expected is not None:
        result.unexpected = sum(v for k, v in statuses.items() if k != expected)
    return result


def _connection(
    host: str,
    port: int,
    raws: list[bytes],
    start_at: float,
    seconds: float,
    cycle: bool,
    queue: mp.Queue[tuple[list[float], dict[int, int], int, float]],
) -> None:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    buffer = b""
    time.sleep(max(0.0, start_at - time.time()))
    clock = time.perf_counter
    began_at = clock()
    deadline = began_at + seconds
    i = 0
    count = len(raws)
    try:
        while True:
            if i == count:
                if not cycle:
                    break
                i = 0
            began = clock()
            if began >= deadline:
                break
            sock.sendall(raws[i])
            i += 1
            status, buffer = _read_response(sock, buffer)
            latencies.append(clock() - began)
            statuses[status] += 1
    except OSError:
        errors += 1
    sock.close()
    queue.put((latencies, dict(statuses), errors, clock() - began_at))


_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes]:
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head = buffer[:end]
    match = _LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    total = end + 4 + length
    while len(buffer) < total:
        chunk = sock.recv(max(65536, total - len(buffer)))
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    return int(head[9:12]), buffer[total:]


# --- wrk. One request: wrk builds it once (no Lua per request, the cheapest for wrk). Several:
# each thread walks its share in request(). Without a response() callback wrk never hands a
# response to Lua, so statuses are only told apart as 2xx/3xx or not (summary.errors.status).

_LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("P50 %f\nP99 %f\nMAX %f\nTOTAL %d %f %d %d\n",
    latency:percentile(50), latency:percentile(99), latency.max, summary.requests,
    summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""
_LUA_ONE = r"""
wrk.method = %(method)s
wrk.path = %(path)s
wrk.body = %(body)s
for k, v in pairs(%(headers)s) do wrk.headers[k] = v end
"""
_LUA_MANY = r"""
local counter = 0
local requests = {
%(requests)s
}
local cycle = %(cycle)s

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  mine = {}
  for i = tid + 1, #requests, %(threads)d do
    local r = requests[i]
    table.insert(mine, wrk.format(r[1], r[2], r[3], r[4]))
  end
  index = 0
end

function request()
  index = index + 1
  if index > #mine then
    if not cycle then wrk.thread:stop() end
    index = 1
  end
  return mine[index]
end
"""


_LUA_PLAIN = " -_/.,:;?=&{}[]()+*@!#$^~"


def _lua_string(value: str | bytes) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return (
        '"'
        + "".join(
            c if c.isalnum() or c in _LUA_PLAIN else f"\\{ord(c):03d}"  # 3 digits: "\\0341"
            for c in text
        )
        + '"'
    )


def _lua_request(r: Request) -> tuple[str, str, str, str]:
    headers = (
        "{"
        + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in r.headers.items())
        + "}"
    )
    body = _lua_string(r.body) if r.body or r.method in ("POST", "PATCH") else "nil"
    return _lua_string(r.method), _lua_string(r.path), headers, body


def _run_wrk(
    host: str,
    port: int,
    requests: Sequence[Request],
    seconds: float,
    connections: int,
    cycle: bool,
    expected: int | None,
) -> Result:
    threads = min(2, connections)
    if len(requests) == 1 and cycle:
        method, path, headers, body = _lua_request(requests[0])
        script = _LUA_ONE % {"method": method, "path": path, "headers": headers, "body": body}
    else:
        entries = "\n".join("  {{{}, {}, {}, {}}},".format(*_lua_request(r)) for r in requests)
        script = _LUA_MANY % {
            "requests": entries,
            "cycle": "true" if cycle else "false",
            "threads": threads,
        }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + _LUA_DONE)
    try:
        pin = ["taskset", "-c", PIN_LOAD] if PIN_LOAD and shutil.which("taskset") else []
        out = subprocess.run(
            [*pin, "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
             "--timeout", "10s", "-s", f.name, f"http://{host}:{port}"],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(f.name)
    p50 = float(_field(out, "P50")[0]) / 1000
    p99 = float(_field(out, "P99")[0]) / 1000
    most = float(_field(out, "MAX")[0]) / 1000
    total, micros, errors, not_ok = _field(out, "TOTAL")
    ok = int(total) - int(not_ok)
    statuses = {"2xx/3xx": ok, "other": int(not_ok)}
    # Without a response() callback wrk only tells 2xx/3xx from the rest.
    unexpected = 0 if expected is None else int(not_ok) if expected < 400 else ok
    return Result(
        "wrk", int(total), float(micros) / 1e6, p50, p99, statuses, int(errors), unexpected, most
    )


def _field(out: str, name: str) -> list[str]:
    match = re.search(rf"^{name} (.*)$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no {name} line:\n{out}")
    return match.group(1).split()


def _result(
    tool: str, latencies: list[float], seconds: float, statuses: dict[str, int], errors: int
) -> Result:
    if not latencies:
        return Result(tool, 0, seconds, 0.0, 0.0, statuses, errors)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Result(
        tool,
        len(ordered),
        seconds,
        statistics.median(ordered) * 1e3,
        p99 * 1e3,
        statuses,
        errors,
        max_ms=ordered[-1] * 1e3,
    )
