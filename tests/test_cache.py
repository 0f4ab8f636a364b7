"""Start-up remembers a document's compiled form and lint findings on disk, keyed by content."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from mockserver import Config, create_app
from mockserver.engine import spec as spec_module
from mockserver.engine.spec import Spec, SpecError, load_spec
from mockserver.serving.server import BackgroundServer

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "cached", "version": "1"},
    "paths": {
        "/things/{id}": {
            "get": {
                "operationId": "getThing",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "a thing",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"n": {"type": "integer"}},
                                },
                                "example": {"n": "not a number"},
                            }
                        },
                    }
                },
            }
        }
    },
}


def _warnings(caplog: pytest.LogCaptureFixture, spec: Path) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        create_app(Config(spec=spec))
    return [r.getMessage() for r in caplog.records if "example does not match" in r.getMessage()]


def _write(tmp_path: Path, document: object) -> Path:
    spec = tmp_path / "doc.json"
    spec.write_text(json.dumps(document))
    return spec


def test_a_second_start_reports_the_same_findings_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(cache))
    spec = _write(tmp_path, DOCUMENT)
    first = _warnings(caplog, spec)
    assert first and "/n: the example does not match its own schema" in first[0]
    entries = list(cache.glob("lint-*"))
    assert len(entries) == 2  # the document's and the control document's
    written = {e: e.stat().st_mtime_ns for e in entries}
    assert _warnings(caplog, spec) == first
    assert {e: e.stat().st_mtime_ns for e in cache.glob("lint-*")} == written  # read, not redone


def test_a_changed_document_is_linted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(tmp_path / "cache"))
    spec = _write(tmp_path, DOCUMENT)
    assert _warnings(caplog, spec)
    fixed = json.loads(json.dumps(DOCUMENT))
    media = fixed["paths"]["/things/{id}"]["get"]["responses"]["200"]["content"]
    media["application/json"]["example"] = {"n": 3}
    _write(tmp_path, fixed)
    assert _warnings(caplog, spec) == []


def test_an_unreadable_entry_is_recomputed_and_off_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(cache))
    spec = _write(tmp_path, DOCUMENT)
    first = _warnings(caplog, spec)
    for entry in cache.glob("lint-*"):
        entry.write_bytes(b"{half an entry")
    assert _warnings(caplog, spec) == first

    off = tmp_path / "elsewhere"
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(off))
    assert _warnings(caplog, spec) == first
    assert not off.exists()


def test_a_document_is_compiled_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(cache))
    spec = _write(tmp_path, DOCUMENT)
    first = load_spec(spec, strict=False)
    (entry,) = cache.glob("spec-lenient-*")
    written = entry.stat().st_mtime_ns
    again = load_spec(spec, strict=False)
    assert again is not first and [op.operation_id for op in again.operations] == ["getThing"]
    assert again.document == first.document and entry.stat().st_mtime_ns == written

    entry.write_bytes(b"not a pickle")  # damaged: compiled again and rewritten
    assert load_spec(spec, strict=False).document == first.document
    assert entry.read_bytes() != b"not a pickle"

    changed = json.loads(json.dumps(DOCUMENT))
    changed["paths"]["/others/{id}"] = changed["paths"].pop("/things/{id}")
    changed["paths"]["/others/{id}"]["get"]["operationId"] = "getOther"
    _write(tmp_path, changed)
    assert [op.operation_id for op in load_spec(spec, strict=False).operations] == ["getOther"]
    assert not list(cache.glob("spec-strict-*"))
    load_spec(spec, strict=True)  # strict and lenient compile apart (findings differ)
    assert len(list(cache.glob("spec-strict-*"))) == 1


def test_a_document_over_several_files_is_cached_under_every_files_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(cache))
    thing = tmp_path / "schemas" / "thing.json"
    thing.parent.mkdir()
    thing.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}))
    split = json.loads(json.dumps(DOCUMENT))
    media = split["paths"]["/things/{id}"]["get"]["responses"]["200"]["content"]
    media["application/json"] = {"schema": {"$ref": "schemas/thing.json"}}
    spec = _write(tmp_path, split)

    def schema_of(loaded: Spec) -> Any:
        return loaded.operations[0].responses["200"].media_types["application/json"].schema

    first = load_spec(spec)
    assert len(list(cache.glob("files-strict-*"))) == 1  # the manifest: which files were read
    (entry,) = cache.glob("spec-strict-*")
    written = entry.stat().st_mtime_ns
    again = load_spec(spec)  # every file unchanged: read from the cache, not compiled
    assert again is not first and schema_of(again) == schema_of(first)
    assert entry.stat().st_mtime_ns == written

    # A change in a referenced file alone is seen: compiled again, under its new content.
    thing.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "string"}}}))
    changed = load_spec(spec)
    assert json.dumps(schema_of(changed)) != json.dumps(schema_of(first))
    assert "string" in json.dumps(schema_of(changed))
    assert len(list(cache.glob("spec-strict-*"))) == 2
    thing.unlink()  # a file gone: an error, as without the cache
    with pytest.raises(SpecError):
        load_spec(spec)


def test_a_file_changed_while_its_document_compiles_is_not_served_stale_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An editor saves a referenced file while the sandbox starts: the compiled form is kept
    # under the bytes that were compiled, so the next start sees the new file.
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", str(tmp_path / "cache"))
    thing = tmp_path / "thing.json"
    thing.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}))
    split = json.loads(json.dumps(DOCUMENT))
    media = split["paths"]["/things/{id}"]["get"]["responses"]["200"]["content"]
    media["application/json"] = {"schema": {"$ref": "thing.json"}}
    spec = _write(tmp_path, split)
    compile_spec = spec_module.compile_spec

    def saved_meanwhile(*args: Any, **kwargs: Any) -> Spec:
        compiled = compile_spec(*args, **kwargs)
        thing.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "string"}}}))
        return compiled

    monkeypatch.setattr(spec_module, "compile_spec", saved_meanwhile)
    load_spec(spec)
    monkeypatch.setattr(spec_module, "compile_spec", compile_spec)
    schema = load_spec(spec).operations[0].responses["200"].media_types["application/json"]
    assert "string" in json.dumps(schema.schema)


def test_serve_checks_a_users_examples_once_listening_and_a_strict_document_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MOCKSERVER_CACHE_DIR", "off")
    spec = _write(tmp_path, DOCUMENT)

    def found() -> list[str]:
        return [
            r.getMessage() for r in caplog.records if "example does not match" in r.getMessage()
        ]

    with caplog.at_level(logging.WARNING):
        app = create_app(Config(spec=spec), lint_in_background=True)
        assert found() == []  # not checked before the app exists
        with BackgroundServer(app, lifespan="on"):  # as `mockserver serve` runs it
            deadline = time.monotonic() + 10
            while not found() and time.monotonic() < deadline:
                time.sleep(0.01)
        assert found() and "/n: the example does not match its own schema" in found()[0]
        with pytest.raises(SpecError, match="example does not match its own schema"):
            create_app(Config(spec=spec, strict_spec=True), lint_in_background=True)
