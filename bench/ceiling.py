"""The ceiling for this stack: a bare Starlette app on uvicorn answering every request with one
fixed JSON body, no validation. Served exactly like ``mockserver serve`` (uvicorn defaults).

    python bench/ceiling.py --port 8100 [--body-file response.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

METHODS = ["GET", "POST", "PATCH", "DELETE"]


def make_app(body: bytes) -> Starlette:
    async def answer(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", answer, methods=METHODS)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--body-file", type=Path)
    args = parser.parse_args()
    body = args.body_file.read_bytes() if args.body_file else b'{"data": {"id": "fixed"}}'
    uvicorn.run(make_app(body), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
