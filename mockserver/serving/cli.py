"""The ``mockserver`` command line: ``serve`` (and the commands later issues add)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ..config import (
    Config,
    from_environment,
    package_version,
    parse_clients,
    parse_faults,
    parse_tokens,
    parse_webhooks,
)
from ..errors import FixtureError, SpecError, StateFileError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockserver",
        description="A local, stateful, contract-validating sandbox of Layer's credits API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the sandbox over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--spec", type=Path, help="OpenAPI document (default: the built-in one)")
    serve.add_argument("--fixtures", type=Path, help="fixtures directory (default: built-in)")
    serve.add_argument(
        "--lenient",
        action="store_true",
        help="send responses that break the contract instead of a 500 (default: strict)",
    )
    serve.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN=BUSINESS_ID[,...]",
        help="bind a bearer token to businesses; once any is given, unknown tokens get 401",
    )
    serve.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET",
        help="OAuth client for POST /oauth2/token; once any is given, others get 401",
    )
    serve.add_argument("--max-body-bytes", type=int, help="request body limit (default 1 MiB)")
    serve.add_argument("--rate-limit", type=int, help="requests per second (default 100)")
    serve.add_argument(
        "--enforce-rate-limit", action="store_true", help="answer 429 when the bucket is empty"
    )
    serve.add_argument("--journal-cap", type=int, help="requests kept in the journal (1000)")
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help="a scenario fault rule in force from the start, as for POST /_sandbox/faults, "
        """e.g. '{"operation_id": "business.invoices.customer-credits.post", "fail_next": 2}'""",
    )
    serve.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL[,secret=S]",
        help="POST every change event to URL, signed the Standard Webhooks way with S "
        "(whsec_<base64>; generated when left out, see GET /_sandbox/webhooks); repeatable",
    )
    serve.add_argument(
        "--webhook-timeout",
        type=float,
        metavar="SECONDS",
        help="how long a webhook subscriber has to answer before the attempt fails (default 15)",
    )
    serve.add_argument(
        "--seed", type=int, help="seed for generated ids and data (reproducible runs)"
    )
    serve.add_argument(
        "--strict-spec",
        action="store_true",
        help="stop at start-up on anything the document uses that the sandbox does not "
        "support (default: log it with its JSON Pointer and serve the rest)",
    )
    serve.add_argument(
        "--state-file",
        type=Path,
        metavar="PATH",
        help="load state from PATH at start (if it exists); write it atomically on shutdown "
        "and on POST /_sandbox/save",
    )
    serve.add_argument(
        "--control-token",
        metavar="TOKEN",
        help="require Authorization: Bearer TOKEN on the control API (/_sandbox)",
    )
    serve.add_argument("--max-url-bytes", type=int, help="longest URL accepted (default 8192)")
    serve.add_argument(
        "--max-header-bytes", type=int, help="largest total of header bytes (default 16384)"
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow pages on ORIGIN (e.g. http://localhost:3000) to call the sandbox from a "
        "browser; repeatable (default: any origin)",
    )
    serve.add_argument(
        "--no-cors",
        action="store_true",
        help="answer no CORS preflight and send no Access-Control-* headers",
    )
    serve.add_argument(
        "--open",
        action="store_true",
        help="open the inspector page (/_sandbox/) in a web browser once serving",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log a line per request (off by default: it costs a fifth of the throughput, and "
        "the journal at /_sandbox/journal keeps every call)",
    )
    lint = commands.add_parser(
        "lint", help="check an OpenAPI 3.0 document (and a fixtures directory) statically"
    )
    lint.add_argument(
        "spec",
        type=Path,
        nargs="+",
        help="OpenAPI documents to check; a directory: each .yaml, .yml, .json file in it",
    )
    lint.add_argument(
        "--fixtures",
        type=Path,
        help="also load this fixtures directory against the documents that declare the fixture "
        "record schemas (openapi/sandbox.yaml)",
    )
    fuzz = commands.add_parser(
        "fuzz",
        help="run Schemathesis (all checks, stateless and stateful) against a sandbox or any URL",
        description="Exits non-zero when Schemathesis finds a failure, so CI can gate on it. "
        "Arguments after -- go to `schemathesis run` unchanged.",
    )
    fuzz.add_argument("url", nargs="?", default="http://127.0.0.1:8000", help="base URL")
    fuzz.add_argument(
        "--token", default="fuzz-token", help="the one bearer token the target accepts"
    )
    fuzz.add_argument(
        "--client",
        default="fuzz-client:fuzz-secret",
        metavar="CLIENT_ID:SECRET",
        help="the one OAuth client the target's POST /oauth2/token accepts",
    )
    fuzz.add_argument("--max-examples", type=int, default=100, help="examples per operation")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    config = from_environment()
    changes: dict[str, object] = {}
    for name in (
        "spec",
        "fixtures",
        "max_body_bytes",
        "rate_limit",
        "journal_cap",
        "seed",
        "state_file",
        "control_token",
        "max_url_bytes",
        "max_header_bytes",
        "webhook_timeout",
    ):  # given as they are meant: set when the option is given
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.lenient:
        changes["strict"] = False
    if getattr(args, "strict_spec", False):
        changes["strict_spec"] = True
    if args.enforce_rate_limit:
        changes["enforce_rate_limit"] = True
    if args.token:
        changes["tokens"] = parse_tokens(args.token)
    if args.client:
        changes["clients"] = parse_clients(args.client)
    if args.fault:
        changes["faults"] = parse_faults(args.fault)
    if args.webhook:
        changes["webhooks"] = parse_webhooks(args.webhook)
    if args.cors_origin:
        changes["cors_origins"] = tuple(args.cors_origin)
    if args.no_cors:
        changes["cors"] = False
    return config.with_changes(**changes)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from . import collector
    from .app import create_app
    from .protocols import uvicorn_options

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    try:
        config = config_from_args(args)
        app = create_app(config)
    except (SpecError, FixtureError, StateFileError, ValueError) as exc:
        print(f"mockserver: cannot start: {exc}", file=sys.stderr)
        return 2
    print(
        f"mockserver: serving Layer credits sandbox on http://{args.host}:{args.port} "
        f"(strict={config.strict}); spec at /openapi.json, inspector at /_sandbox/",
        file=sys.stderr,
    )
    if args.open:
        _open_when_serving(args.host, args.port)
    # Long-lived objects (start-up's and, later, the store's records) out of the collector's
    # way: no pause that grows with the store (serving/collector.py).
    collector.install()
    # On SIGTERM or Ctrl-C uvicorn stops accepting, finishes the requests in flight, then runs
    # the app's shutdown, which writes the state file.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        # X-Forwarded-* rewriting is for apps behind a proxy; the sandbox ignores the client's
        # address anyway, and the middleware costs every request (bench/README.md).
        proxy_headers=False,
        **uvicorn_options(config),
    )
    return 0


def _open_when_serving(host: str, port: int, timeout: float = 30.0) -> None:
    """Open the inspector in the user's browser (``webbrowser``, so ``$BROWSER`` is honoured)
    as soon as the port accepts connections; from a daemon thread, since uvicorn blocks."""
    import socket
    import threading
    import time
    import webbrowser

    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/_sandbox/"

    def wait_then_open() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((shown, port), timeout=0.5).close()
            except OSError:
                time.sleep(0.1)
                continue
            print(f"mockserver: opening the inspector at {url}", file=sys.stderr)
            webbrowser.open(url)
            return

    threading.Thread(target=wait_then_open, name="open-inspector", daemon=True).start()


def lint(args: argparse.Namespace) -> int:
    from ..tools.lint import lint_paths

    failed = False
    for path, findings in lint_paths(args.spec, args.fixtures):
        for finding in findings:
            print(f"{path}: {finding}")
        errors = sum(1 for f in findings if f.severity == "error")
        print(f"{path}: {errors} error(s), {len(findings) - errors} warning(s)")
        failed = failed or errors > 0
    return 1 if failed else 0


def fuzz(args: argparse.Namespace) -> int:
    from ..tools.fuzz import run_fuzz

    client_id, _, secret = args.client.partition(":")
    return run_fuzz(
        args.url,
        token=args.token,
        client_id=client_id,
        client_secret=secret,
        max_examples=args.max_examples,
        extra=args.passthrough,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" is handed to the tool a command wraps (schemathesis for `fuzz`).
    passthrough = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = _parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.passthrough = passthrough
    if args.command == "fuzz":
        return fuzz(args)
    if args.command == "serve":
        return serve(args)
    if args.command == "lint":
        return lint(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
