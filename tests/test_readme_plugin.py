"""Every example of the README's "pytest plugin" section runs, as a project of its own."""

import json
import re
import shlex
from pathlib import Path

# In-process pytester runs drop the modules they imported first. httpx imports httpcore lazily
# and maps its errors by class, so httpcore is imported here, once for the whole session.
import httpcore  # noqa: F401
import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def plugin_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## pytest plugin\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", plugin_section(), re.DOTALL)


def example_files() -> dict[str, str]:
    """The python and toml blocks, each named by its first line (``# tests/test_x.py``)."""
    files = {}
    for block in blocks("python") + blocks("toml"):
        first, _, _ = block.partition("\n")
        assert re.fullmatch(r"# [\w/.]+\.(py|toml)", first), f"name the file first: {first!r}"
        files[first[2:]] = block
    return files


def test_the_readme_examples_pass(pytester: pytest.Pytester) -> None:
    files = example_files()
    for name, content in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    [command] = [line for line in "\n".join(blocks("sh")).splitlines() if line.startswith("pytest")]
    result = pytester.runpytest_inprocess(*shlex.split(command)[1:])
    tests = sum(content.count("\ndef test_") for content in files.values())
    assert tests == 6
    result.assert_outcomes(passed=tests)
    # The report excerpt in the README is the report of exactly these examples.
    [excerpt] = blocks("json")
    report = json.loads((pytester.path / "contract-coverage.json").read_text())
    assert json.loads(excerpt) == {"summary": report["summary"]}
    result.stdout.fnmatch_lines(["*layer sandbox contract coverage*", "operations exercised: *"])


def worked_example() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Worked example: customer, invoice, payment, credit")
    section = text[start : text.index("\n## ", start + 1)]
    [block] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return block


@pytest.mark.parametrize("mode", ["socket", "inprocess"])
def test_the_worked_example_passes(pytester: pytest.Pytester, mode: str) -> None:
    block = worked_example()
    assert block.startswith("# tests/test_receivables_flow.py\n")
    pytester.makepyfile(test_receivables_flow=block)
    result = pytester.runpytest_inprocess(f"--layer-sandbox-mode={mode}")
    result.assert_outcomes(passed=1)
