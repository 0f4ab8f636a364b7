"""A local, stateful, contract-validating sandbox of Layer's customer- and vendor-credit API."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config
    from .engine.spec import Spec, compile_spec, load_spec
    from .errors import FixtureError, SandboxError, SpecError
    from .serving.app import Sandbox, create_app

__all__ = [
    "Config",
    "FixtureError",
    "Sandbox",
    "SandboxError",
    "Spec",
    "SpecError",
    "compile_spec",
    "create_app",
    "load_spec",
]

# Imported on first use: pytest imports the plugin (mockserver.plugin.pytest_plugin) in every
# session of an environment the package is installed in, and should not pay for the sandbox
# unless a test asks for it.
_HOMES = {
    "Config": ".config",
    "FixtureError": ".errors",
    "Sandbox": ".serving.app",
    "SandboxError": ".errors",
    "Spec": ".engine.spec",
    "SpecError": ".errors",
    "compile_spec": ".engine.spec",
    "create_app": ".serving.app",
    "load_spec": ".engine.spec",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
