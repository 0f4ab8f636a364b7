"""The pytest plugin (entry point ``layer_sandbox``): fixtures, options and the coverage report.

Kept light at import time: pytest loads it in every session of an environment the package is
installed in, so the sandbox itself is imported only when a test asks for it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..config import Config
    from ..controls.coverage import ContractCoverage
    from .testing import LayerSandbox, SandboxHarness

_WORKER_OUTPUT_KEY = "layer_sandbox_coverage"


@dataclass
class _Options:
    spec: Path | None
    fixtures: Path | None
    lenient: bool
    seed: int | None
    mode: str
    report: Path | None
    contract_failures: bool


@dataclass
class _State:
    options: _Options
    #: Coverage of this process, and of the xdist workers when this is the controller.
    coverage: ContractCoverage | None = None
    summary: list[str] = field(default_factory=list)

    def add_coverage(self, data: dict[str, Any]) -> None:
        from ..controls.coverage import ContractCoverage

        if self.coverage is None:
            self.coverage = ContractCoverage()
        self.coverage.merge(data)


_STATE = pytest.StashKey[_State]()
_HANDLE = pytest.StashKey["LayerSandbox"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("layer_sandbox", "Layer credits sandbox (fixture layer_sandbox)")
    group.addoption(
        "--layer-sandbox-spec",
        metavar="PATH",
        help="OpenAPI document the sandbox serves (default: the built-in contract)",
    )
    group.addoption(
        "--layer-sandbox-fixtures", metavar="DIR", help="fixtures directory (default: built-in)"
    )
    group.addoption(
        "--layer-sandbox-lenient",
        action="store_true",
        default=None,
        help="send off-contract responses instead of a 500 (they still fail the test)",
    )
    group.addoption("--layer-sandbox-seed", metavar="N", help="seed for generated ids")
    group.addoption(
        "--layer-sandbox-mode",
        choices=["socket", "inprocess"],
        help="socket: a real server on a free port (default); inprocess: no socket",
    )
    group.addoption(
        "--layer-sandbox-report",
        metavar="PATH",
        help="write the contract coverage report (JSON) to PATH",
    )
    group.addoption(
        "--layer-sandbox-no-contract-failures",
        action="store_false",
        dest="layer_sandbox_contract_failures",
        default=None,
        help="do not fail tests whose requests broke the contract",
    )
    parser.addini("layer_sandbox_spec", "OpenAPI document the sandbox serves", default="")
    parser.addini("layer_sandbox_fixtures", "fixtures directory of the sandbox", default="")
    parser.addini(
        "layer_sandbox_lenient", "send off-contract responses", type="bool", default=False
    )
    parser.addini("layer_sandbox_seed", "seed for generated ids", default="")
    parser.addini("layer_sandbox_mode", "socket (default) or inprocess", default="socket")
    parser.addini("layer_sandbox_report", "contract coverage report (JSON) path", default="")
    parser.addini(
        "layer_sandbox_contract_failures",
        "fail tests whose requests broke the contract",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "layer_sandbox(contract_failures=True): per-test settings of the layer_sandbox fixture",
    )
    config.stash[_STATE] = _State(_read_options(config))


def _read_options(config: pytest.Config) -> _Options:
    cli_dir = config.invocation_params.dir
    ini_dir = config.inipath.parent if config.inipath else config.rootpath

    def value(name: str) -> tuple[Any, Path]:
        given = config.getoption(name)
        return (given, cli_dir) if given is not None else (config.getini(name), ini_dir)

    def path(name: str) -> Path | None:
        raw, base = value(name)
        return base / raw if raw else None

    seed_raw, _ = value("layer_sandbox_seed")
    try:
        seed = int(seed_raw) if str(seed_raw).strip() else None
    except ValueError:
        raise pytest.UsageError(
            f"layer_sandbox_seed must be an integer, not {seed_raw!r}"
        ) from None
    mode = str(value("layer_sandbox_mode")[0]).strip()
    if mode not in ("socket", "inprocess"):
        raise pytest.UsageError(f"layer_sandbox_mode must be socket or inprocess, not {mode!r}")
    return _Options(
        spec=path("layer_sandbox_spec"),
        fixtures=path("layer_sandbox_fixtures"),
        lenient=bool(value("layer_sandbox_lenient")[0]),
        seed=seed,
        mode=mode,
        report=path("layer_sandbox_report"),
        contract_failures=bool(value("layer_sandbox_contract_failures")[0]),
    )


def _options(config: pytest.Config) -> _Options:
    return config.stash[_STATE].options


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def layer_sandbox_config(pytestconfig: pytest.Config) -> Config:
    """The sandbox's ``Config``: built-in data, ``MOCKSERVER_*`` variables, then the options.

    Override it (session scope) in a ``conftest.py`` to change anything else.
    """
    from ..config import from_environment

    options = _options(pytestconfig)
    changes: dict[str, Any] = {}
    if options.spec is not None:
        changes["spec"] = options.spec
    if options.fixtures is not None:
        changes["fixtures"] = options.fixtures
    if options.lenient:
        changes["strict"] = False
    if options.seed is not None:
        changes["seed"] = options.seed
    return from_environment().with_changes(**changes)


@pytest.fixture(scope="session")
def layer_sandbox_mode(pytestconfig: pytest.Config) -> str:
    """``socket`` (a server on a free port) or ``inprocess`` (no socket); overridable."""
    return _options(pytestconfig).mode


@pytest.fixture(scope="session")
def layer_sandbox_server(
    pytestconfig: pytest.Config, layer_sandbox_config: Config, layer_sandbox_mode: str
) -> Iterator[SandboxHarness]:
    """The sandbox of this session (of this worker under xdist), started once."""
    from ..errors import FixtureError, SpecError
    from .testing import SandboxHarness

    harness: SandboxHarness | None = None
    try:
        harness = SandboxHarness(layer_sandbox_config, mode=layer_sandbox_mode)
    except (SpecError, FixtureError) as exc:  # the message names the file and the pointer
        problem = str(exc)
    if harness is None:
        pytest.fail(f"layer_sandbox: the sandbox cannot start: {problem}", pytrace=False)
    with harness:
        yield harness
    pytestconfig.stash[_STATE].add_coverage(harness.coverage.as_data())


@pytest.fixture
def layer_sandbox(
    request: pytest.FixtureRequest, layer_sandbox_server: SandboxHarness
) -> Iterator[LayerSandbox]:
    """A sandbox reset to its fixtures, for one test (see ``mockserver.testing.LayerSandbox``)."""
    marker = request.node.get_closest_marker("layer_sandbox")
    contract_failures = _options(request.config).contract_failures
    if marker is not None:
        contract_failures = bool(marker.kwargs.get("contract_failures", contract_failures))
    handle = layer_sandbox_server.begin_test(contract_failures=contract_failures)
    request.node.stash[_HANDLE] = handle
    yield handle
    problems = layer_sandbox_server.end_test(handle)
    if problems and handle.contract_failures:
        pytest.fail(problems, pytrace=False)


@pytest.fixture
def api_sandbox(layer_sandbox: LayerSandbox) -> LayerSandbox:
    """``layer_sandbox`` under a neutral name, for a suite that serves another API's document
    (``--layer-sandbox-spec path/to/openapi.yaml``): the same handle, reset per test."""
    return layer_sandbox


# ---------------------------------------------------------------------- hooks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    # Contract problems fail the test itself (not only its teardown) when the test made them.
    try:
        result = yield
    except BaseException:
        handle = item.stash.get(_HANDLE, None)
        problems = handle.contract_problems() if handle is not None else None
        if problems and handle is not None and handle.contract_failures:
            item.add_report_section("call", "layer_sandbox", problems)
        raise
    handle = item.stash.get(_HANDLE, None)
    if handle is not None and handle.contract_failures:
        problems = handle.contract_problems()
        if problems:
            pytest.fail(problems, pytrace=False)
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or state.options.report is None:
        return
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes the report
        if state.coverage is not None:
            workeroutput[_WORKER_OUTPUT_KEY] = state.coverage.as_data()
        return
    _write_report(state, config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    state = node.config.stash.get(_STATE, None)
    data = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT_KEY)
    if state is not None and data is not None:
        state.add_coverage(data)


def _write_report(state: _State, config: pytest.Config) -> None:
    from ..controls.coverage import ContractCoverage, summary_lines

    path = state.options.report
    assert path is not None
    coverage = state.coverage
    if coverage is None or not coverage.operations:  # no test used the sandbox
        from ..engine.spec import load_spec

        spec_path = state.options.spec
        if spec_path is None:
            from ..config import BUILTIN_SPEC

            spec_path = BUILTIN_SPEC
        fresh = ContractCoverage.for_spec(load_spec(spec_path))
        if coverage is not None:
            fresh.merge(coverage.as_data())
        coverage = fresh
    report = coverage.report()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shown = path
    with contextlib.suppress(ValueError):
        shown = path.relative_to(config.invocation_params.dir)
    state.summary = summary_lines(report, str(shown))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.summary:
        return
    terminalreporter.write_sep("-", "layer sandbox contract coverage")
    for line in state.summary:
        terminalreporter.write_line(line)
