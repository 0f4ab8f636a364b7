"""Latency the validation proxy adds on a local upstream: p50 and p99 over N sequential calls.

    python bench/proxy_latency.py [N]

A sandbox serves the built-in document as the upstream; the same GET (a page of customer
credits) is timed directly and through `mockserver proxy`, one persistent connection each,
after a warm-up. The difference of the percentiles is what the proxy adds (its own parsing,
both checks, the journal and the extra hop over loopback).
"""

from __future__ import annotations

import statistics
import sys
import time

import httpx

from mockserver.config import Config
from mockserver.serving.app import create_app
from mockserver.serving.server import BackgroundServer
from mockserver.tools.proxy import create_proxy_app

PATH = "/v1/businesses/b0000000-0000-4000-8000-000000000001/invoices/customer-credits?limit=5"


def timings(base: str, n: int) -> list[float]:
    with httpx.Client(base_url=base, headers={"Authorization": "Bearer bench"}) as client:
        for _ in range(200):
            client.get(PATH)
        out = []
        for _ in range(n):
            started = time.perf_counter()
            response = client.get(PATH)
            out.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return out


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    config = Config(journal_cap=1000)
    with BackgroundServer(create_app(config)) as upstream:
        proxy_app = create_proxy_app(config, upstream.url, timeout=10)
        with BackgroundServer(proxy_app, lifespan="on") as proxy:
            direct = timings(upstream.url, n)
            proxied = timings(proxy.url, n)
    for name, values in (("direct", direct), ("proxied", proxied)):
        print(f"{name:>8}: p50 {pct(values, 50):.3f} ms  p99 {pct(values, 99):.3f} ms  (n={n})")
    print(
        f"   added: p50 {pct(proxied, 50) - pct(direct, 50):.3f} ms  "
        f"p99 {pct(proxied, 99) - pct(direct, 99):.3f} ms"
    )


if __name__ == "__main__":
    main()
