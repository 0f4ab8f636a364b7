"""The ``mockserver`` command line: ``serve`` (and the commands later issues add)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import (
    Config,
    env_name,
    from_environment,
    package_version,
    parse_bool,
    parse_clients,
    parse_faults,
    parse_int,
    parse_tokens,
    parse_webhooks,
)
from ..errors import FixtureError, SpecError, StateFileError
from . import workers

#: Exit statuses, the same for every command (README "Exit statuses").
EXIT_OK = 0
#: `lint` found errors; `fuzz` found failures.
EXIT_FINDINGS = 1
#: A usage error: a bad option or MOCKSERVER_* variable, or input that stops start-up
#: (spec, fixtures, state file); argparse's own usage errors use it too.
EXIT_USAGE = 2
#: An unexpected error inside mockserver: a bug, never a verdict on the input.
EXIT_INTERNAL = 3

EXIT_STATUSES = f"""exit statuses:
  {EXIT_OK}  success
  {EXIT_FINDINGS}  lint found errors, or fuzz found failures
  {EXIT_USAGE}  usage error: a bad option or MOCKSERVER_* variable, or a spec, fixtures
     directory or state file that stops start-up (the message names it)
  {EXIT_INTERNAL}  internal error: a bug in mockserver, not a finding about the input
"""


LOG_LEVELS = ("debug", "info", "warning", "error")
#: Options of `serve` that are not `Config` fields; each also reads MOCKSERVER_<NAME>.
SERVE_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8000,
    "log_level": "info",
    "access_log": False,
    "workers": 1,
}
ONE_WORKER = workers.ONE_PROCESS


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in range, else a usage error saying what is accepted."""

    def parse(raw: str) -> int:
        try:
            return parse_int("value", raw, minimum, maximum)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("value=", "", 1)) from None

    return parse


def serve_options(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """host, port, log_level, access_log, workers: the option, else MOCKSERVER_<NAME>, else the
    default; a bad variable is a ``ValueError`` naming it and the accepted values."""
    options = dict(SERVE_DEFAULTS)
    for name in options:
        variable = env_name(name)
        raw = env.get(variable)
        if raw is None:
            continue
        if name == "port":
            options[name] = parse_int(variable, raw, 1, 65535)
        elif name == "workers":
            options[name] = parse_int(variable, raw, 1)
        elif name == "access_log":
            options[name] = parse_bool(variable, raw)
        elif name == "log_level":
            if raw.strip().lower() not in LOG_LEVELS:
                raise ValueError(
                    f"{variable}={raw!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"
                )
            options[name] = raw.strip().lower()
        elif not raw.strip():
            raise ValueError(f"{variable} is empty; give an address, or unset it for 127.0.0.1")
        else:
            options[name] = raw.strip()
    for name in options:
        given = getattr(args, name, None)
        if given not in (None, False):
            options[name] = given
    if options["workers"] != 1:
        raise ValueError(f"{options['workers']} workers asked for; {ONE_WORKER}")
    return options


class _Defaults(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Help that keeps the exit-status table as written and shows every option's default."""


_Help = argparse.RawDescriptionHelpFormatter


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockserver",
        description="A local, stateful, contract-validating sandbox of Layer's credits API.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve the sandbox over HTTP", epilog=EXIT_STATUSES, formatter_class=_Help
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_whole(1, 65535), help="port to bind, 1-65535 (default 8000)")
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
    serve.add_argument(
        "--max-body-bytes", type=_whole(1), help="request body limit (default 1 MiB)"
    )
    serve.add_argument("--rate-limit", type=_whole(1), help="requests per second (default 100)")
    serve.add_argument(
        "--enforce-rate-limit", action="store_true", help="answer 429 when the bucket is empty"
    )
    serve.add_argument("--journal-cap", type=_whole(1), help="requests kept in the journal (1000)")
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
    serve.add_argument(
        "--max-url-bytes", type=_whole(1), help="longest URL accepted (default 8192)"
    )
    serve.add_argument(
        "--max-header-bytes", type=_whole(1), help="largest total of header bytes (default 16384)"
    )
    serve.add_argument("--log-level", choices=LOG_LEVELS, help="what is logged (default info)")
    serve.add_argument(
        "--workers",
        type=_whole(1),
        help="server processes; only 1 is accepted: the sandbox keeps its state in the memory "
        "of one process, so several would each answer from their own state (default 1)",
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
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log a line per request (off by default: it costs a fifth of the throughput, and "
        "the journal at /_sandbox/journal keeps every call)",
    )
    proxy = commands.add_parser(
        "proxy",
        help="forward to a real API, checking every request and response against the document",
        description="Every request is checked against the document and forwarded to "
        "UPSTREAM_URL; the answer is checked too and returned unchanged. Violations are "
        "journaled (GET /_sandbox/journal, /_sandbox/drift) and counted in the "
        "X-Sandbox-Violations header of each response.",
    )
    proxy.add_argument("upstream", metavar="UPSTREAM_URL", help="base URL of the real API")
    proxy.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    proxy.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    proxy.add_argument("--spec", type=Path, help="OpenAPI document (default: the built-in one)")
    proxy.add_argument(
        "--strict-spec",
        action="store_true",
        help="stop at start-up on anything the document uses that the sandbox does not support",
    )
    proxy.add_argument(
        "--max-body-bytes",
        type=int,
        help="request bodies over this are refused (413); responses over it are passed on "
        "unchecked (default 1 MiB)",
    )
    proxy.add_argument("--max-url-bytes", type=int, help="longest URL accepted (default 8192)")
    proxy.add_argument(
        "--max-header-bytes", type=int, help="largest total of header bytes (default 16384)"
    )
    proxy.add_argument("--journal-cap", type=int, help="requests kept in the journal (1000)")
    proxy.add_argument(
        "--control-token",
        metavar="TOKEN",
        help="require Authorization: Bearer TOKEN on the control API (/_sandbox)",
    )
    proxy.add_argument(
        "--cors-origin", action="append", default=[], metavar="ORIGIN", help="as for serve"
    )
    proxy.add_argument("--no-cors", action="store_true", help="as for serve")
    proxy.add_argument(
        "--reject-invalid-requests",
        action="store_true",
        help="answer a request that breaks the document locally (the document's error, as "
        "serve does) instead of forwarding it",
    )
    proxy.add_argument(
        "--upstream-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long the upstream has to answer before the client gets a 504 (default 30)",
    )
    proxy.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write the records the upstream returns as fixture files in DIR (merged by id "
        "with those already there); load them with serve --fixtures DIR",
    )
    proxy.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    proxy.add_argument("--access-log", action="store_true", help="log a line per request")
    drift = commands.add_parser(
        "drift",
        help="report where the real API and the document disagree, from a proxy's journal",
        description="Groups the violations a `mockserver proxy` journaled by operation, status "
        "and pointer. Exit status: 0 no drift, 1 drift found, 2 usage error (including a "
        "journal that cannot be read), 3 internal error.",
    )
    drift.add_argument(
        "source",
        metavar="JOURNAL_OR_URL",
        help="a running proxy's base URL (its /_sandbox/journal is read) or a JSON file holding "
        "GET /_sandbox/journal's answer",
    )
    drift.add_argument("--json", action="store_true", help="print the report as JSON")
    drift.add_argument(
        "--control-token", metavar="TOKEN", help="the proxy's control token, if it has one"
    )
    lint = commands.add_parser(
        "lint",
        help="check an OpenAPI 3.0 document (and a fixtures directory) statically",
        epilog=EXIT_STATUSES,
        formatter_class=_Help,
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
        epilog=EXIT_STATUSES,
        formatter_class=_Defaults,
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
        if getattr(args, name, None) is not None:
            changes[name] = getattr(args, name)
    if getattr(args, "lenient", False):
        changes["strict"] = False
    if getattr(args, "strict_spec", False):
        changes["strict_spec"] = True
    if getattr(args, "enforce_rate_limit", False):
        changes["enforce_rate_limit"] = True
    if getattr(args, "token", None):
        changes["tokens"] = parse_tokens(args.token)
    if getattr(args, "client", None):
        changes["clients"] = parse_clients(args.client)
    if getattr(args, "fault", None):
        changes["faults"] = parse_faults(args.fault)
    if getattr(args, "webhook", None):
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

    try:
        options = serve_options(args, os.environ)
        config = config_from_args(args)
    except ValueError as exc:
        print(f"mockserver: cannot start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=options["log_level"].upper(), format="%(levelname)s: %(message)s")
    collector.starting()  # start-up's graph is built without collections (serving/collector.py)
    try:
        app = create_app(config, lint_in_background=True)
    except (SpecError, FixtureError, StateFileError, ValueError) as exc:
        print(f"mockserver: cannot start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    title = (app.state.sandbox.spec.document.get("info") or {}).get("title") or "the sandbox"
    print(
        f"mockserver: serving {title} on http://{options['host']}:{options['port']} "
        f"(strict={config.strict}); spec at /openapi.json, inspector at /_sandbox/",
        file=sys.stderr,
    )
    if args.open:
        _open_when_serving(options["host"], options["port"])
    # Long-lived objects (start-up's and, later, the store's records) out of the collector's
    # way: no pause that grows with the store (serving/collector.py).
    collector.install()
    # On SIGTERM or Ctrl-C uvicorn stops accepting, finishes the requests in flight, then runs
    # the app's shutdown, which writes the state file.
    uvicorn.run(
        app,
        host=options["host"],
        port=options["port"],
        log_level=options["log_level"],
        access_log=options["access_log"],
        # X-Forwarded-* rewriting is for apps behind a proxy; the sandbox ignores the client's
        # address anyway, and the middleware costs every request (bench/README.md).
        proxy_headers=False,
        **uvicorn_options(config),
    )
    return 0


def proxy(args: argparse.Namespace) -> int:
    import uvicorn

    from ..tools.proxy import create_proxy_app
    from .protocols import uvicorn_options

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    try:
        config = config_from_args(args)
        if args.upstream_timeout <= 0:
            raise ValueError("--upstream-timeout must be a positive number of seconds")
        app = create_proxy_app(
            config,
            args.upstream,
            timeout=args.upstream_timeout,
            reject_invalid_requests=args.reject_invalid_requests,
            record=str(args.record) if args.record is not None else None,
        )
    except (SpecError, FixtureError, StateFileError, ValueError, OSError) as exc:
        print(f"mockserver: cannot start: {exc}", file=sys.stderr)
        return 2
    print(
        f"mockserver: proxying http://{args.host}:{args.port} to {args.upstream}, checking "
        "against the document; violations at /_sandbox/journal and /_sandbox/drift",
        file=sys.stderr,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        proxy_headers=False,
        **uvicorn_options(config),
    )
    return 0


def drift(args: argparse.Namespace) -> int:
    from ..tools.drift import run_drift

    return run_drift(args.source, as_json=args.json, control_token=args.control_token)


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
    return EXIT_FINDINGS if failed else EXIT_OK


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
    commands = {"fuzz": fuzz, "serve": serve, "proxy": proxy, "drift": drift, "lint": lint}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # no input may end in a traceback; a bug gets its own status
        print(
            f"mockserver {args.command}: internal error ({type(exc).__name__}: {exc}); this is "
            f"a bug in mockserver, not a finding about the input: please report it with the "
            f"command line (exit status {EXIT_INTERNAL})",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
