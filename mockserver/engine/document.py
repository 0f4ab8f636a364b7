"""Reading an OpenAPI document: YAML or JSON, one file or many joined by relative ``$ref``s.

A document split over several files is bundled into one: every ``$ref`` into another file
(``schemas/pet.yaml#/Pet``) becomes a local ``$ref`` to a copy of its target kept under the
top-level ``x-sandbox-bundled`` key, so the rest of the engine, and the document served at
``/openapi.json``, only ever see local references.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import yaml

from ..errors import SpecError

#: Where targets of references into other files are kept in a bundled document.
BUNDLE_KEY = "x-sandbox-bundled"

#: libyaml's parser when PyYAML was built with it: the same documents, parsed ten times faster.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_yaml12: Any
try:  # a YAML 1.2 parser in Rust (py-yaml12), ten times libyaml again
    import yaml12 as _yaml12
except ImportError:  # pragma: no cover - a platform without its wheel: PyYAML alone
    _yaml12 = None


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, with libyaml when available (start-up time is mostly YAML parsing)."""
    return yaml.load(text, Loader=_YAML_LOADER)


def parse_text(text: str | bytes, name: str) -> Any:
    """A YAML or JSON text (JSON through orjson: a JSON document is also YAML, but slower)."""
    stripped = text.lstrip()[:1]
    if stripped in ("{", b"{") or name.endswith(".json"):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            if name.endswith(".json"):
                raise
    return load_document_yaml(text.decode("utf-8") if isinstance(text, bytes) else text)


def load_document_yaml(text: str) -> Any:
    """An OpenAPI document's YAML, read as YAML 1.2, the version OpenAPI specifies.

    Through yaml12 (Rust; 0.11 s for a 3.2 MB document where libyaml takes 1.1-1.3 s), else
    PyYAML. The two agree on every document the project and its tests read, but for YAML 1.1's
    implicit types, which YAML 1.2 reads as the strings they look like (``18:00`` is not the
    integer 1080, ``2024-01-01`` not a date, ``yes`` not true): what JSON would hold. A text
    with what only PyYAML reads as its authors meant (merge keys ``<<``), that may hold several
    documents (``---`` after the start, which PyYAML refuses), or that yaml12 refuses, goes to
    PyYAML, whose errors name line and column.
    """
    if _yaml12 is not None and "<<" not in text and "\n---" not in text.strip():
        try:
            return _yaml12.parse_yaml(text)
        except Exception:  # malformed, or beyond yaml12: PyYAML decides, and says why
            pass
    return load_yaml(text)


def read_file(path: Path, digests: dict[Path, bytes] | None = None) -> Any:
    """The document in ``path``; ``digests``: where to record the SHA-256 of the bytes read,
    under the resolved path."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the OpenAPI document: {exc.strerror}") from exc
    if digests is not None:
        digests[path.resolve()] = hashlib.sha256(raw).digest()
    try:
        return parse_text(raw, path.name)
    except (ValueError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: not valid YAML/JSON: {exc}") from exc


def read_document(path: str | Path, files: dict[Path, bytes] | None = None) -> dict[str, Any]:
    """Parse a YAML or JSON OpenAPI document, bundling the files its ``$ref``s point into.

    ``files``: where to record every file that was read (the document's own first), with the
    SHA-256 of the bytes it was read from.
    """
    path = Path(path)
    document = read_file(path, files)
    if not isinstance(document, dict):
        raise SpecError(f"{path}: an OpenAPI document must be a mapping at the top level")
    if not _has_external_refs(document):
        return document
    return _Bundler(path.resolve(), document, files).bundle()


def _has_external_refs(node: Any) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return True
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False


class _Bundler:
    def __init__(
        self, root: Path, document: dict[str, Any], digests: dict[Path, bytes] | None
    ) -> None:
        self.root = root
        self.files: dict[Path, Any] = {root: document}
        self.digests = digests
        self.local: dict[tuple[Path, str], str] = {}  # (file, fragment) -> local $ref
        self.bundled: dict[str, Any] = {}

    def bundle(self) -> dict[str, Any]:
        document = self._rewrite(self.files[self.root], self.root)
        if self.bundled:
            document[BUNDLE_KEY] = {**document.get(BUNDLE_KEY, {}), **self.bundled}
        return document  # type: ignore[no-any-return]

    def _rewrite(self, node: Any, here: Path) -> Any:
        if isinstance(node, list):
            return [self._rewrite(item, here) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: self._rewrite(value, here) for key, value in node.items() if key != "$ref"}
        ref = node.get("$ref")
        if isinstance(ref, str):
            out = {"$ref": self._local_ref(ref, here), **out}
        elif "$ref" in node:
            out["$ref"] = ref
        return out

    def _local_ref(self, ref: str, here: Path) -> str:
        location, _, fragment = ref.partition("#")
        if not location and here == self.root:
            return ref
        if location.startswith(("http://", "https://")):
            raise SpecError(
                f"{here.name}: $ref {ref!r} points at the network; the sandbox works offline: "
                "save that document beside this one and refer to it by a relative path"
            )
        target_file = (here.parent / unquote(location)).resolve() if location else here
        if target_file == self.root:
            return f"#{fragment}"
        key = (target_file, fragment)
        if key in self.local:
            return self.local[key]
        name = _bundle_name(target_file, self.root, fragment, self.bundled)
        local = f"#/{BUNDLE_KEY}/{name.replace('~', '~0').replace('/', '~1')}"
        self.local[key] = local
        self.bundled[name] = {}  # claimed before the target is rewritten: cycles end here
        target = _follow(self._file(target_file, ref, here), fragment, ref, here)
        self.bundled[name] = self._rewrite(copy.deepcopy(target), target_file)
        return local

    def _file(self, path: Path, ref: str, here: Path) -> Any:
        if path not in self.files:
            if not path.is_file():
                raise SpecError(f"{here.name}: $ref {ref!r}: there is no file {path}")
            self.files[path] = read_file(path, self.digests)
        return self.files[path]


def _follow(document: Any, fragment: str, ref: str, here: Path) -> Any:
    node = document
    for raw in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SpecError(f"{here.name}: $ref {ref!r} does not resolve")
    return node


def _bundle_name(path: Path, root: Path, fragment: str, taken: Mapping[str, Any]) -> str:
    try:
        shown = str(path.relative_to(root.parent))
    except ValueError:
        shown = path.name
    base = f"{shown}#{fragment}" if fragment else shown
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name
