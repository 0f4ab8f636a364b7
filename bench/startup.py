"""Start-up on big documents, cold and warm, beside Prism; memory after start.

    python bench/startup.py [--times 3] [--no-prism] [--big-from SOURCE.json] [DOCUMENT ...]

The documents named, and Layer's; with ``--big-from``, first a merged one built by bigdoc.py from
SOURCE (8 copies; of Twilio's Messaging document: 464 operations, 3.9 MB, written to
/tmp/mockserver-bench/, not committed) and SOURCE itself. For each: start-up
from process start to the first HTTP answer to a GET of the document (any status: a 401 is an
answer), as ``mockserver serve --spec DOC`` and ``prism mock DOC``; the sandbox cold (an empty
start-up cache, see engine/cache.py) and warm (the same document started before); medians of
``--times`` starts, the server on one core (``taskset``). Then the sandbox's RSS after start,
beside the same server on a one-operation document, and the document's parsed size (Python
objects, measured with tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import bigdoc
import servers
from servers import (
    SPEC,
    Server,
    find_prism,
    free_port,
    prism_argv,
    sandbox_argv,
    startup,
)

TINY = {
    "openapi": "3.0.3",
    "info": {"title": "tiny", "version": "1"},
    "paths": {"/ping": {"get": {"responses": {"200": {"description": "pong"}}}}},
}


def _probe(document: Path) -> str:
    """A GET path of the document without parameters (its first server's path in front)."""
    parsed = _parse(document)
    for path, item in parsed.get("paths", {}).items():
        if "get" in item and "{" not in path:
            return path
    return "/"


def _parse(document: Path) -> dict:
    code = (
        "import sys, json, orjson, yaml\n"
        "raw = open(sys.argv[1], 'rb').read()\n"
        "doc = orjson.loads(raw) if sys.argv[1].endswith('.json') else "
        "yaml.load(raw, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))\n"
        "print(json.dumps({'paths': {p: {m: 1 for m in v} for p, v in doc['paths'].items()}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(document)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def parsed_mb(document: Path) -> float:
    """MB of Python objects the parsed document holds (tracemalloc, in a fresh process)."""
    code = (
        "import sys, tracemalloc, orjson, yaml\n"
        "raw = open(sys.argv[1], 'rb').read()\n"
        "tracemalloc.start()\n"
        "doc = orjson.loads(raw) if sys.argv[1].endswith('.json') else "
        "yaml.load(raw, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))\n"
        "print(tracemalloc.get_traced_memory()[0] / 2**20)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(document)], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def _rss_after_start(document: Path, cache: str) -> float:
    port = free_port()
    server = Server(
        sandbox_argv(port, document),
        port,
        _probe(document),
        expect=None,
        env={"MOCKSERVER_CACHE_DIR": cache},
    )
    rss = server.rss_mb()
    server.stop()
    return rss


def measure(document: Path, args: argparse.Namespace, prism: str | None) -> None:
    probe = _probe(document)
    size = document.stat().st_size / 1e6
    operations = sum(
        1 for item in _parse(document)["paths"].values() for m in item if m in bigdoc.METHODS
    )
    print(f"{document.name}: {size:.2f} MB, {operations} operations (probe GET {probe})")
    fresh: list[str] = []

    def cold_env(i: int) -> dict[str, str]:
        fresh.append(tempfile.mkdtemp(prefix="mockserver-cold-"))
        return {"MOCKSERVER_CACHE_DIR": fresh[-1]}

    argv = lambda port: sandbox_argv(port, document)  # noqa: E731
    cold = startup(argv, args.times, probe, None, env=cold_env, untimed=1)
    warm_dir = tempfile.mkdtemp(prefix="mockserver-warm-")
    warm = startup(argv, args.times, probe, None, env=lambda i: {"MOCKSERVER_CACHE_DIR": warm_dir})
    line = f"  sandbox cold {cold * 1e3:6.0f} ms, warm {warm * 1e3:5.0f} ms"
    if prism:
        theirs = startup(
            lambda port: prism_argv(prism, port, document), args.prism_times, probe, None
        )
        line += f" | Prism {theirs * 1e3:6.0f} ms | cold is {cold / theirs:.0%} of Prism's"
    print(line, flush=True)
    rss = _rss_after_start(document, warm_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as tiny:
        json.dump(TINY, tiny)
    base = _rss_after_start(Path(tiny.name), warm_dir)
    os.unlink(tiny.name)
    parsed = parsed_mb(document)
    print(
        f"  RSS after start {rss:.0f} MB, {base:.0f} MB on a one-operation document: "
        f"+{rss - base:.1f} MB for a document of {parsed:.1f} MB parsed "
        f"({(rss - base) / parsed:.2f}x)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("documents", nargs="*", type=Path)
    parser.add_argument("--times", type=int, default=3, help="timed starts per figure")
    parser.add_argument("--prism-times", type=int, default=2, help="timed starts of Prism")
    parser.add_argument("--no-prism", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument(
        "--big-from", type=Path, metavar="SOURCE", help="build the big document from SOURCE"
    )
    args = parser.parse_args()
    if not args.no_pin and (os.cpu_count() or 1) >= 2:
        servers.PIN_SERVER = "1"
    documents = [*args.documents, SPEC]
    if args.big_from is not None:
        big = bigdoc.DEFAULT_OUT
        source = json.loads(args.big_from.read_text())
        big.parent.mkdir(parents=True, exist_ok=True)
        big.write_text(json.dumps(bigdoc.merge(source, 8), indent=2))
        documents[:0] = [big, args.big_from]
    prism = None if args.no_prism else find_prism()
    one, five, _ = os.getloadavg()
    print(f"server on CPU {servers.PIN_SERVER}; load average {one:.2f} / {five:.2f}", flush=True)
    for document in documents:
        measure(document.resolve(), args, prism)
    one, five, _ = os.getloadavg()
    print(f"load average at the end {one:.2f} / {five:.2f}", flush=True)


if __name__ == "__main__":
    main()
