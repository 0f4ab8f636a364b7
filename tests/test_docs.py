"""The project's own documents are complete on their own and say what the code does."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from mockserver import Config, Sandbox
from mockserver.serving.cli import SERVE_DEFAULTS, _parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SKIPPED = {
    ".git",
    ".venv",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "__pycache__",
}


def _project_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and not SKIPPED & set(path.relative_to(ROOT).parts)
        and path.suffix in {".md", ".py", ".yaml", ".yml", ".toml", ".txt", ""}
        and path != Path(__file__)
    ]


def test_no_document_cites_a_file_outside_the_repository() -> None:
    cited = [
        str(path.relative_to(ROOT))
        for path in _project_files()
        if re.search(
            r"CONTRACT\.md|\.\./shared|/work/shared|STYLE\.md",
            path.read_text("utf-8", errors="replace"),
        )
        # Tests and benchmarks may read the team's public sample documents beside the checkout (they skip
        # when those are absent); no document of the project points there.
        and not (path.parts[-2] in ("tests", "bench") and "shared/specs" in path.read_text("utf-8"))
    ]
    assert cited == []


@pytest.mark.parametrize("document", ["README.md", "ARCHITECTURE.md", "bench/README.md"])
def test_relative_links_resolve(document: str) -> None:
    path = ROOT / document
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    assert [t for t in targets if not (path.parent / t).exists()] == []


def test_the_start_up_line_in_the_readme_is_the_one_the_server_logs() -> None:
    described = Sandbox(Config()).describe()
    counts = re.match(r"\d+ operations, \d+ validators", described)
    assert counts is not None
    assert f"INFO: loaded {counts.group(0)} from .../openapi/layer-credits.yaml; " in README
    assert (
        "mockserver: serving Layer credits sandbox on http://127.0.0.1:8000 (strict=True)" in README
    )


def test_the_options_table_names_every_option_and_variable() -> None:
    serve = _parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    options = [o for action in serve._actions for o in action.option_strings if o.startswith("--")]
    start = README.index("| Option | Variable |")
    table = README[start : README.index("\n\n", start)]
    assert [o for o in options if f"`{o}" not in table and o != "--help"] == []
    variables = [f"MOCKSERVER_{f.name.upper()}" for f in fields(Config)]
    variables += [f"MOCKSERVER_{name.upper()}" for name in SERVE_DEFAULTS]
    assert [v for v in variables if f"`{v}" not in README] == []


def test_the_fixture_tables_list_every_fixed_id() -> None:
    """Each fixture id is in the README's fixture tables: in full, as ``cc…01`` (the id's first
    group without its zeros, then its last two digits), or as row ``NN`` of a table whose heading
    gives the id pattern."""
    import yaml

    start = README.index("\n## Default fixture records\n")
    section = README[start : README.index("\n## ", start + 1)]
    headed = re.split(r"\n(?=\*\*)", section)
    missing = []
    for path in sorted((ROOT / "fixtures").glob("*.yaml")):
        for record in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            record_id = record.get("id") or record["business"]["id"]
            group, nn = record_id[:8], record_id[-2:]
            pattern = f"`{group}-0000-4000-8000-0000000000NN`"
            as_row = any(
                pattern in part.split("\n|", 1)[0] and f"\n| {nn} |" in part for part in headed
            )
            short = f"{group.rstrip('0')}…{nn}"
            if not (record_id in section or f"| {short} |" in section or as_row):
                missing.append(f"{path.name}: {record_id}")
    assert missing == []
