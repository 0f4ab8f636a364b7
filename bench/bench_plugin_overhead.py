"""Per-test overhead of the ``layer_sandbox`` fixture, in-process and over a socket.

Two measurements per mode:

- pytest end to end: N trivial tests asking for ``layer_sandbox`` against N asking only for the
  session server ``layer_sandbox_server``, each file run in a pytest subprocess. A small
  conftest records every test's setup + call + teardown time as pytest reports it; the
  difference of the medians is what the fixture adds to a test (the median shrugs off the first
  test, which starts the server, and load spikes from other processes). The same with one
  ``GET /whoami`` per test shows what a request through ``client()`` adds on top.
- the fixture's own work, timed directly: ``begin_test()`` (the reset), the contract check and
  coverage count at teardown, with a cProfile breakdown (``--profile``).

Targets (issue 4): under 2 ms per test in-process, under 5 ms over a socket.

    python bench/bench_plugin_overhead.py [--tests 1000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit
from pathlib import Path

from mockserver import Config
from mockserver.plugin.testing import SandboxHarness

TARGET_MS = {"inprocess": 2.0, "socket": 5.0}

CONFTEST = """
import json
import os
from collections import defaultdict

_seconds = defaultdict(float)


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] += report.duration


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as out:
        json.dump(list(_seconds.values()), out)
"""

TEST_FILES = {
    "server_only": """
        import pytest

        @pytest.mark.parametrize("i", range({n}))
        def test_trivial(layer_sandbox_server, i):
            pass
    """,
    "fixture": """
        import pytest

        @pytest.mark.parametrize("i", range({n}))
        def test_trivial(layer_sandbox, i):
            pass
    """,
    "fixture_one_request": """
        import pytest

        @pytest.mark.parametrize("i", range({n}))
        def test_one_request(layer_sandbox, i):
            assert layer_sandbox.client().get("/whoami").status_code == 200
    """,
}


def run_pytest(directory: Path, name: str, mode: str, n: int) -> float:
    """The median seconds per test (setup + call + teardown) of one pytest run."""
    durations = directory / "durations.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--layer-sandbox-mode={mode}",
            f"test_{name}.py",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BENCH_DURATIONS": str(durations)},
    )
    if result.returncode != 0 or f"{n} passed" not in result.stdout:
        raise SystemExit(f"pytest run {name} ({mode}) failed:\n{result.stdout}\n{result.stderr}")
    return statistics.median(json.loads(durations.read_text()))


def end_to_end(n: int, repeat: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        for name, source in TEST_FILES.items():
            (directory / f"test_{name}.py").write_text(
                textwrap.dedent(source).replace("{n}", str(n)), encoding="utf-8"
            )
        for mode in ("inprocess", "socket"):
            best = {
                name: min(run_pytest(directory, name, mode, n) for _ in range(repeat))
                for name in TEST_FILES
            }
            out[mode] = {
                "fixture_ms": (best["fixture"] - best["server_only"]) * 1000,
                "request_ms": (best["fixture_one_request"] - best["fixture"]) * 1000,
                "server_only_ms": best["server_only"] * 1000,
            }
    return out


def direct(n: int, profile: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for mode in ("inprocess", "socket"):
        with SandboxHarness(Config(), mode=mode) as harness:

            def one_test(harness: SandboxHarness = harness) -> None:
                harness.end_test(harness.begin_test())

            for _ in range(50):
                one_test()
            profiler = None
            if profile and mode == "inprocess":
                import cProfile  # only here: a bench/profile.py would shadow the stdlib module

                profiler = cProfile.Profile()
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            for _ in range(n):
                one_test()
            if profiler is not None:
                profiler.disable()
            out[mode] = (time.perf_counter() - started) / n * 1000
            if profiler is not None:
                print("\nWhere the fixture's own time goes (in-process, cProfile, top 12):")
                import pstats

                pstats.Stats(profiler).sort_stats("cumulative").print_stats(12)
    return out


def throughput(seconds: float = 3.0) -> dict[str, dict[str, float]]:
    """Requests per second through the harness's client (one thread, sequential), both modes:
    what a test suite's own requests see. ``reset_ms``: ``store.reset()`` alone."""
    out: dict[str, dict[str, float]] = {}
    credits = "/v1/businesses/b0000000-0000-4000-8000-000000000001/invoices/customer-credits"
    body = {
        "customer_external_id": "cust-001",
        "memo": "bench credit",
        "line_items": [
            {
                "amount": 2500,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
    }
    for mode in ("inprocess", "socket"):
        with SandboxHarness(Config(), mode=mode) as harness:
            handle = harness.begin_test()
            client = handle.client()
            rates: dict[str, float] = {}
            fetched = f"{credits}/cc000000-0000-4000-8000-000000000001"
            for name, method, path, payload in (
                ("fetch", "GET", fetched, None),
                ("create", "POST", credits, body),
            ):
                for _ in range(100):
                    client.request(method, path, json=payload)
                count, started = 0, time.perf_counter()
                while time.perf_counter() - started < seconds:
                    client.request(method, path, json=payload)
                    count += 1
                rates[name] = count / (time.perf_counter() - started)
            client.close()
            harness.end_test(handle)
            store = harness.sandbox.store
            best = min(timeit.repeat(store.reset, number=1000, repeat=5)) / 1000
            rates["reset_ms"] = best * 1000
            out[mode] = rates
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000, help="tests per pytest run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is kept)")
    parser.add_argument("--profile", action="store_true", help="cProfile the fixture's work")
    args = parser.parse_args()

    rates = throughput()
    print("requests through the harness's client (sequential, one thread), req/s:")
    for mode, figures in rates.items():
        print(
            f"  {mode:<10} fetch {figures['fetch']:7.0f}  create {figures['create']:7.0f}  "
            f"store.reset() {figures['reset_ms']:.3f} ms (< 0.3 ms)"
        )
    own = direct(args.tests, args.profile)
    runs = end_to_end(args.tests, args.repeat)
    print(f"layer_sandbox per-test overhead, {args.tests} tests, best of {args.repeat} runs")
    print(f"{'mode':<10} {'pytest (ms)':>12} {'own work (ms)':>14} {'+1 request (ms)':>16}  target")
    for mode in ("inprocess", "socket"):
        fixture_ms = runs[mode]["fixture_ms"]
        verdict = "ok" if fixture_ms < TARGET_MS[mode] else "OVER"
        print(
            f"{mode:<10} {fixture_ms:>12.3f} {own[mode]:>14.3f} "
            f"{runs[mode]['request_ms']:>16.3f}  < {TARGET_MS[mode]} ms: {verdict}"
        )
    print(
        "pytest: median per-test time (setup + call + teardown) with the fixture minus with only "
        "the session server; own work: reset + teardown checks timed directly; +1 request: one "
        "GET /whoami through a fresh client() on top of the fixture."
    )
    for mode in ("inprocess", "socket"):
        baseline = runs[mode]["server_only_ms"]
        print(
            f"median per-test time of a bare test with only the session server ({mode}): "
            f"{baseline:.3f} ms"
        )


if __name__ == "__main__":
    main()
