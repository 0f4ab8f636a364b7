"""A local, stateful, contract-validating sandbox of Layer's customer- and vendor-credit API."""

from .app import Sandbox, create_app
from .config import Config
from .errors import FixtureError, SandboxError, SpecError
from .spec import Spec, compile_spec, load_spec

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
