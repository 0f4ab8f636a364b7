"""The sandbox benchmark: served as users serve it, driven from other processes over loopback.

    python bench/run.py [--seconds 4] [--rounds 3] [--tool auto|wrk|python] [--no-prism]
                        [--big 100000] [--json figures.json] [--foreign-dir DIR]

For each request kind, requests per second and p50/p99 latency at 4 connections, for the sandbox
(``mockserver serve``: one process, strict, default fixtures) and, when Node.js and Prism are
installed (``npm install --prefix /tmp/prism @stoplight/prism-cli``, or ``PRISM=path``), for
Stoplight Prism on the same document, in turns (rounds), with our ratio to it. Then start-up to
first answer, reset, RSS, the bare-Starlette ceiling, a 100,000-credit store, and the issue's
targets. ``--foreign-dir DIR`` adds two documents that are not Layer's, found in DIR by their
public file names (``swagger-petstore-v3.yaml`` from swagger-api/swagger-petstore,
``redocly-museum.yaml`` from Redocly/museum-openapi-example), served the same way. Figures
and the machine they were taken on: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import loadgen
import servers
from loadgen import Request, Result
from servers import (
    BUSINESS,
    CUSTOMER_CREDITS,
    FETCHED,
    HOST,
    JSON_HEADERS,
    ROOT,
    Client,
    Server,
    ceiling_argv,
    find_prism,
    free_port,
    prism_argv,
    prism_version,
    sandbox_argv,
    seed_argv,
    startup,
)

PET = {"name": "doggie", "photoUrls": ["https://example.com/dog.png"], "status": "available"}
EVENT = {
    "name": "Pirate Coding Workshop",
    "location": "Main Gallery",
    "eventDescription": "Learn to code like a pirate.",
    "dates": ["2023-10-29", "2023-10-30"],
    "price": 25,
}
#: Documents that are not Layer's: name -> (file name in --foreign-dir, headers, collection
#: path, body, id field, the create's documented status). Each serves an inferred resource.
FOREIGN: dict[str, tuple[str, dict[str, str], str, dict[str, Any], str, int]] = {
    "Swagger Petstore v3": (
        "swagger-petstore-v3.yaml",
        {"Authorization": "Bearer bench-token", "api_key": "bench-key"},
        "/pet",
        PET,
        "id",
        200,
    ),
    "Redocly Museum": (
        "redocly-museum.yaml",
        {"Authorization": "Basic YmVuY2g6YmVuY2g="},  # bench:bench
        "/special-events",
        EVENT,
        "eventId",
        201,
    ),
}

VENDOR_CREDITS = f"/v1/businesses/{BUSINESS}/bills/vendor-credits"
PATCHED = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000002"
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


def _post(path: str, body: object) -> Request:
    return Request("POST", path, _json(body), JSON_HEADERS)


#: Name -> (requests, the status the sandbox must answer). Prism answers its examples.
SCENARIOS: dict[str, tuple[list[Request], int]] = {
    "fetch one credit": ([Request("GET", FETCHED)], 200),
    "list 100 credits": ([Request("GET", f"{CUSTOMER_CREDITS}?limit=100")], 200),
    "create": ([_post(CUSTOMER_CREDITS, NEW_CREDIT)], 201),
    "idempotent re-create": (
        [_post(CUSTOMER_CREDITS, {**NEW_CREDIT, "external_id": "bench-idempotent"})],
        200,
    ),
    "patch": ([Request("PATCH", PATCHED, _json({"memo": "patched by bench"}), JSON_HEADERS)], 200),
    "invalid request": ([_post(VENDOR_CREDITS, {"line_items": [], "colour": "red"})], 400),
}
DELETE = "delete"  # every DELETE hits a live credit, one the scenarios above created


def drive(port: int, requests: list[Request], args: argparse.Namespace, **options: Any) -> Result:
    return loadgen.run(
        HOST,
        port,
        requests,
        seconds=args.seconds,
        connections=args.connections,
        tool=args.tool,
        **options,
    )


def median_run(results: list[Result]) -> Result:
    ordered = sorted(results, key=lambda r: r.rate)
    return ordered[len(ordered) // 2]


def compare(ours: int, theirs: int | None, args: argparse.Namespace) -> dict[str, Any]:
    """Every scenario, ``args.rounds`` times, the sandbox and Prism in turns; median runs."""
    setup = Client(ours)
    fixture_ids = set(setup.live_credit_ids(set()))
    for i in range(150):  # enough for a full page, created over the API
        status, _ = setup.call("POST", CUSTOMER_CREDITS, {**NEW_CREDIT, "memo": f"list {i}"})
        assert status == 201, status
    setup.call("POST", CUSTOMER_CREDITS, {**NEW_CREDIT, "external_id": "bench-idempotent"})
    plan = [(name, requests, expected) for name, (requests, expected) in SCENARIOS.items()]
    plan.append((DELETE, [], 200))
    figures: dict[str, Any] = {}
    for name, requests, expected in plan:
        our_runs, their_runs = [], []
        if name == DELETE:
            pool = setup.live_credit_ids(fixture_ids)
        for round_ in range(args.rounds):
            if name == DELETE:
                share = [
                    Request("DELETE", f"{CUSTOMER_CREDITS}/{i}")
                    for i in pool[round_ :: args.rounds]
                ]
                our_runs.append(drive(ours, share, args, cycle=False, expected=200))
                prism_requests = [Request("DELETE", f"{CUSTOMER_CREDITS}/{pool[0]}")]
            else:
                if round_ == 0:  # warm up both, as their first requests are slower
                    for port in (ours, theirs):
                        if port is not None:
                            loadgen.run(HOST, port, requests, seconds=0.5, tool="python")
                our_runs.append(drive(ours, requests, args, expected=expected))
                prism_requests = requests
            if theirs is not None:
                their_runs.append(drive(theirs, prism_requests, args))
        mine = median_run(our_runs)
        line = f"  {name:21s} {_figures(mine)}"
        if mine.unexpected or mine.errors:
            line += f"  !! {mine.unexpected} unexpected statuses, {mine.errors} socket errors"
        figures[name] = {"ours": _as_dict(mine), "ours_rates": [r.rate for r in our_runs]}
        if their_runs:
            prism = median_run(their_runs)
            line += f" | Prism {_figures(prism)} | {mine.rate / prism.rate:4.2f}x"
            figures[name] |= {"prism": _as_dict(prism), "prism_rates": [r.rate for r in their_runs]}
        print(line, flush=True)
    setup.close()
    return figures


def _figures(result: Result) -> str:
    return (
        f"{result.rate:6.0f} req/s p50 {result.p50_ms:5.2f} p99 {result.p99_ms:6.2f} "
        f"max {result.max_ms:6.1f} ms"
    )


def foreign(args: argparse.Namespace, prism: str | None) -> dict[str, Any]:
    """Fetch and create of an inferred resource on documents that are not Layer's, beside
    Prism on the same document, in turns (median of the rounds)."""
    figures: dict[str, Any] = {}
    for name, (file_name, headers, collection, body, id_field, created) in FOREIGN.items():
        document = args.foreign_dir / file_name
        if not document.exists():
            print(f"  {name}: {document} not found, skipped", flush=True)
            continue
        our_port = free_port()
        ours = Server(sandbox_argv(our_port, document), our_port, collection, expect=None)
        theirs = None
        if prism:
            their_port = free_port()
            theirs = Server(
                prism_argv(prism, their_port, document), their_port, collection, expect=None
            )
        json_headers = {**headers, "Content-Type": "application/json"}
        create = Request("POST", collection, _json(body), json_headers)
        status, record = Client(our_port, headers).call("POST", collection, body)
        assert status == created, (name, status, record)
        fetch = Request("GET", f"{collection}/{record[id_field]}", b"", headers)
        for label, requests, expected in (
            ("fetch", [fetch], 200),
            ("create", [create], created),
        ):
            our_runs, their_runs = [], []
            for round_ in range(args.rounds):
                if round_ == 0:
                    for port in (our_port, theirs.port if theirs else None):
                        if port is not None:
                            loadgen.run(HOST, port, requests, seconds=0.5, tool="python")
                our_runs.append(drive(our_port, requests, args, expected=expected))
                if theirs:
                    their_runs.append(drive(theirs.port, requests, args))
            mine = median_run(our_runs)
            line = f"  {name + ' ' + label:29s} {_figures(mine)}"
            if mine.unexpected or mine.errors:
                line += f"  !! {mine.unexpected} unexpected statuses, {mine.errors} socket errors"
            entry: dict[str, Any] = {"ours": _as_dict(mine)}
            if their_runs:
                other = median_run(their_runs)
                line += f" | Prism {_figures(other)} | {mine.rate / other.rate:4.2f}x"
                entry["prism"] = _as_dict(other)
            figures[f"{name} {label}"] = entry
            print(line, flush=True)
        ours.stop()
        if theirs:
            theirs.stop()
    return figures


def _as_dict(result: Result) -> dict[str, Any]:
    return {**vars(result), "rate": result.rate}


def in_process_reset() -> float:
    """Microseconds per ``store.reset()`` with the default fixtures (best of 5 runs)."""
    sys.path.insert(0, str(ROOT))
    from mockserver import create_app

    store = create_app().state.sandbox.store
    return min(timeit.repeat(store.reset, number=2000, repeat=5)) / 2000 * 1e6


def machine() -> str:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
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


def ceiling(body: bytes, args: argparse.Namespace) -> dict[str, float]:
    """A bare Starlette app answering ``body``: the most this stack can do, with our tool and
    with the Python generator (which must stay well above the sandbox to be trusted)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(body)
    port = free_port()
    server = Server(ceiling_argv(port, f.name), port)
    figures = {}
    print("bare Starlette ceiling (the same body, no validation):", flush=True)
    for name, tool in (
        ("fetch one credit", args.tool),
        ("create", args.tool),
        ("fetch one credit", "python"),
    ):
        requests = SCENARIOS[name][0]
        result = drive(port, requests, argparse.Namespace(**{**vars(args), "tool": tool}))
        label = f"{name} ({result.tool})"
        print(f"  {label:32s} {_figures(result)}", flush=True)
        figures[label] = result.rate
    server.stop()
    os.unlink(f.name)
    return figures


def big_store(count: int, args: argparse.Namespace) -> dict[str, Any]:
    """Two servers started alike, one empty and one holding ``count`` credits, in turns."""
    started = time.perf_counter()
    big_port, empty_port = free_port(), free_port()
    big = Server(seed_argv(big_port, count), big_port, timeout=900)
    seeded_in = time.perf_counter() - started
    empty = Server(seed_argv(empty_port, 0), empty_port)
    figures: dict[str, Any] = {
        "count": count,
        "rss_mb": big.rss_mb(),
        "empty_rss_mb": empty.rss_mb(),
    }
    print(
        f"{count} credits (seeded in-process in {seeded_in:.1f} s, then served as by "
        f"mockserver serve): RSS {figures['rss_mb']:.0f} MB, same server empty "
        f"{figures['empty_rss_mb']:.0f} MB",
        flush=True,
    )
    fetch, expected = SCENARIOS["fetch one credit"]
    rates: dict[str, list[float]] = {"empty": [], "big": []}
    for _ in range(args.rounds):
        for label, port in (("empty", empty_port), ("big", big_port)):
            rates[label].append(drive(port, fetch, args, expected=expected).rate)
    change = statistics.median(rates["big"]) / statistics.median(rates["empty"]) - 1
    print(
        f"  fetch one credit: {statistics.median(rates['big']):.0f} req/s with {count} credits, "
        f"{statistics.median(rates['empty']):.0f} empty ({change:+.1%})",
        flush=True,
    )
    requests, expected = SCENARIOS["list 100 credits"]
    listed = drive(big_port, requests, args, expected=expected)
    print(f"  list 100 credits of {count}: {_figures(listed)}", flush=True)
    big.stop()
    empty.stop()
    return figures | {"fetch_rates": rates, "fetch_change": change, "list": listed.rate}


def _ratio(entry: dict[str, Any]) -> float:
    return float(entry["ours"]["rate"] / entry["prism"]["rate"])


def summary(figures: dict[str, Any]) -> None:
    """The issues' targets (7 and 16), each with its figure from this run."""
    scenarios = figures["scenarios"]
    fetch, create = scenarios["fetch one credit"], scenarios["create"]
    rows = []
    if "prism" in fetch:
        rows += [
            ("fetch one credit >= 7x Prism", _ratio(fetch), 7.0, "x"),
            ("create >= 5x Prism", _ratio(create), 5.0, "x"),
        ]
    for name, entry in figures.get("foreign", {}).items():
        if "prism" in entry:
            rows.append((f"{name} >= 5x Prism", _ratio(entry), 5.0, "x"))
    rows += [
        ("fetch one credit p99 <= 5 ms", -fetch["ours"]["p99_ms"], -5.0, " ms"),
        ("create p99 <= 5 ms", -create["ours"]["p99_ms"], -5.0, " ms"),
        (
            "list 100 credits >= 1,500 req/s",
            scenarios["list 100 credits"]["ours"]["rate"],
            1500.0,
            " req/s",
        ),
        ("start-up < 500 ms", -figures["startup_ms"], -500.0, " ms"),
        ("reset (in-process) < 0.3 ms", -figures["reset_in_process_us"] / 1000, -0.3, " ms"),
    ]
    if "big" in figures:
        big = figures["big"]
        rows += [
            (f"{big['count']:,} credits < 400 MB RSS", -big["rss_mb"], -400.0, " MB"),
            (
                f"fetch with {big['count']:,} within 10%",
                -abs(big["fetch_change"]) * 100,
                -10.0,
                "%",
            ),
        ]
    print("targets:", flush=True)
    for name, value, bound, unit in rows:
        verdict = "met" if value >= bound else "MISSED"
        print(f"  {name:42s} {abs(value):9.2f}{unit:7s} {verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per run (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-prism", action="store_true", help="skip Stoplight Prism")
    parser.add_argument(
        "--big", type=int, default=100_000, help="credits in the big store (0: skip)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--no-pin", action="store_true", help="let server and wrk share CPUs")
    parser.add_argument("--no-foreign", action="store_true", help="skip Petstore and Museum")
    parser.add_argument(
        "--foreign-dir",
        type=Path,
        metavar="DIR",
        help="where swagger-petstore-v3.yaml and redocly-museum.yaml are (else skipped)",
    )
    args = parser.parse_args()
    args.tool = loadgen.resolve(args.tool)
    if not args.no_pin and (os.cpu_count() or 1) >= 2:
        servers.PIN_SERVER, loadgen.PIN_LOAD = "1", "0"  # each server on CPU 1, wrk on CPU 0
    one, five, _ = os.getloadavg()
    figures: dict[str, Any] = {"machine": machine(), "tool": args.tool}
    print(
        f"machine: {figures['machine']}; load: {args.tool}, {args.connections} connections, "
        f"{args.rounds} x {args.seconds:g} s per scenario and server; servers on CPU "
        f"{servers.PIN_SERVER}, load on CPU {loadgen.PIN_LOAD}; load average {one:.2f} / "
        f"{five:.2f}",
        flush=True,
    )
    prism = None if args.no_prism else find_prism()
    figures["startup_ms"] = startup(sandbox_argv, 5) * 1e3
    line = f"start-up to first answer: sandbox {figures['startup_ms']:.0f} ms"
    if prism:
        figures["prism_startup_ms"] = startup(lambda p: prism_argv(prism, p), 3) * 1e3
        line += f", Prism {prism_version(prism)} {figures['prism_startup_ms']:.0f} ms"
    print(line + " (medians)", flush=True)

    our_port = free_port()
    ours = Server(sandbox_argv(our_port), our_port)
    theirs = None
    if prism:
        their_port = free_port()
        theirs = Server(prism_argv(prism, their_port), their_port)
    figures["rss_mb"] = ours.rss_mb()
    line = f"RSS at start: sandbox {figures['rss_mb']:.0f} MB"
    if theirs:
        figures["prism_rss_mb"] = theirs.rss_mb()
        line += f", Prism {figures['prism_rss_mb']:.0f} MB (static examples, no state, logging off)"
    print(line, flush=True)
    fetched = Client(our_port).raw("GET", FETCHED)  # the ceiling answers these same bytes
    print("requests (median of the rounds):", flush=True)
    figures["scenarios"] = compare(our_port, theirs.port if theirs else None, args)
    reset_p50, reset_p99 = Client(our_port).timed("POST", "/_sandbox/reset", 500)
    ours.stop()
    if theirs:
        theirs.stop()
    figures["reset_in_process_us"] = in_process_reset()
    figures |= {"reset_http_p50_ms": reset_p50, "reset_http_p99_ms": reset_p99}
    print(
        f"reset: store.reset() {figures['reset_in_process_us']:.1f} us in-process; POST "
        f"/_sandbox/reset round trip p50 {reset_p50:.2f} ms, p99 {reset_p99:.2f} ms",
        flush=True,
    )
    if not args.no_foreign and args.foreign_dir is not None:
        print("documents that are not Layer's (inferred resources):", flush=True)
        figures["foreign"] = foreign(args, prism)
    figures["ceiling"] = ceiling(fetched, args)
    if args.big:
        figures["big"] = big_store(args.big, args)
    summary(figures)
    one, five, _ = os.getloadavg()
    print(f"load average at the end {one:.2f} / {five:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2, default=str)


if __name__ == "__main__":
    main()
