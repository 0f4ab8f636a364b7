"""Filling a sandbox with many credits in-process, through the same create rules as HTTP.

python bench/seed.py --credits 100000 --port 8200   # seed, then serve like `mockserver serve`
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mockserver import Config, Sandbox, create_app
from mockserver.engine.dispatch import Call

BUSINESS = "b0000000-0000-4000-8000-000000000001"
CUSTOMERS = [f"c0000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)]
CREATE = "business.invoices.customer-credits.post"


def credit_body(i: int) -> dict[str, object]:
    """The i-th seeded customer credit: varied customer, date, memo, reference; half with ids."""
    body: dict[str, object] = {
        "customer_id": CUSTOMERS[i % len(CUSTOMERS)],
        "sent_at": f"20{23 + i % 2}-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        "memo": f"seeded credit {i}",
        "reference_number": f"REF-{i % 1000}",
        "line_items": [
            {
                "amount": 1000 + i % 100,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
    }
    if i % 2 == 0:
        body["external_id"] = f"seeded-{i}"
    return body


def seed_credits(sandbox: Sandbox, count: int) -> float:
    """Create ``count`` customer credits in business Acme; returns the seconds it took."""
    create = sandbox.behaviours[CREATE]
    started = time.perf_counter()
    for i in range(count):
        reply = create(Call(CREATE, {"businessId": BUSINESS}, {}, credit_body(i)))
        if reply.status != 201:
            raise RuntimeError(f"seeding credit {i} answered {reply.status}: {reply.body}")
    return time.perf_counter() - started


def main() -> None:
    import logging

    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--credits", type=int, default=100_000)
    args = parser.parse_args()
    from mockserver.serving.protocols import uvicorn_options

    logging.basicConfig(level="INFO", format="%(levelname)s: %(message)s")
    config = Config()
    app = create_app(config)
    seconds = seed_credits(app.state.sandbox, args.credits)
    print(f"seeded {args.credits} credits in {seconds:.1f} s", file=sys.stderr, flush=True)
    # As `mockserver serve` runs it (mockserver/cli.py).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
        **uvicorn_options(config),
    )


if __name__ == "__main__":
    main()
