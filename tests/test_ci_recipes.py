"""The README's CI recipes, run: every ``run:`` line, in order, as a runner would.

``SANDBOX`` is a wheel built from this checkout and installed into a fresh virtual environment
(its dependencies come from the package index, as on a runner). Not run here: the ``uses:``
steps (checkout, setup-python, upload-artifact), which need GitHub; the test checks instead
that the files the upload step names exist. Ports are replaced by a free one.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, free_port

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## CI recipes", 1)[1].split("\n## ", 1)[0]
YAML_BLOCKS = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", SECTION, re.S)]
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", SECTION, re.S)

USER_TESTS = """
import os

import httpx


def test_the_sandbox_answers():
    base = os.environ["LAYER_API_URL"]
    answer = httpx.get(base + "/whoami", headers={"Authorization": "Bearer ci"})
    assert answer.status_code == 200
"""
PLUGIN_TESTS = """
def test_with_the_fixture(layer_sandbox):
    assert layer_sandbox.client().get("/whoami").status_code == 200
"""


def steps_of(recipe: Any) -> list[dict[str, Any]]:
    if isinstance(recipe, list):
        return recipe
    [job] = recipe["jobs"].values()
    return list(job["steps"])


def env_of(recipe: Any) -> dict[str, str]:
    if isinstance(recipe, list):
        return {}
    [job] = recipe["jobs"].values()
    return {k: str(v) for k, v in job.get("env", {}).items()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("layer_credits_sandbox-*.whl")
    return built


class Runner:
    """Runs recipe lines with bash in ``workdir`` on the given PATH; ends what they started."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.groups: list[int] = []

    def run(self, line: str, port: int) -> subprocess.CompletedProcess[str]:
        line = line.replace("8000", str(port))
        # Files, not pipes: a line's background children keep its output open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            process = subprocess.Popen(
                ["bash", "-eo", "pipefail", "-c", line],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,  # its background children stay in this group
            )
            self.groups.append(process.pid)
            process.wait(timeout=300)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(line, process.returncode, out.read(), err.read())

    def close(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh virtual environment for the module: the recipes install into it in turn."""
    path = tmp_path_factory.mktemp("runner") / "venv"
    venv.create(path, with_pip=True)
    return path


@pytest.fixture
def runner(tmp_path: Path, wheel: Path, environment: Path) -> Iterator[Runner]:
    # The machine's environment (certificates, index settings), with the fresh one first.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{environment / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    env["SANDBOX"] = str(wheel)
    work = tmp_path / "project"
    (work / "tests").mkdir(parents=True)
    runner = Runner(work, env)
    yield runner
    runner.close()


def test_the_readme_has_the_three_recipes() -> None:
    assert len(YAML_BLOCKS) == 3
    assert [len(SH_BLOCKS)] == [1]
    assert "pipx run" in json.dumps(YAML_BLOCKS[2]) and "uvx" in SH_BLOCKS[0]


def test_serve_wait_test_and_upload_coverage(runner: Runner, wheel: Path) -> None:
    (runner.workdir / "tests" / "test_user.py").write_text(USER_TESTS)
    uploads = _run(runner, YAML_BLOCKS[0])
    report = json.loads((runner.workdir / "contract-coverage.json").read_text())
    assert report["data"]["operations"]["whoami.get"]["responses"]["200"] == 1
    [upload] = uploads
    for name in upload["with"]["path"].split():
        assert (runner.workdir / name).is_file(), name


def test_the_pytest_plugin_recipe(runner: Runner, wheel: Path) -> None:
    (runner.workdir / "tests" / "test_user.py").write_text(PLUGIN_TESTS)
    uploads = _run(runner, YAML_BLOCKS[1])
    report = json.loads((runner.workdir / "contract-coverage.json").read_text())
    assert report["summary"]["operations"]["exercised"] == 1
    assert (runner.workdir / uploads[0]["with"]["path"]).is_file()


def test_without_installing_into_the_project(runner: Runner, wheel: Path) -> None:
    # GitHub's runners have pipx; uv is installed the same way here. The other recipes
    # installed the sandbox into this environment: take it out.
    prepared = runner.run(
        "python -m pip uninstall -q -y layer-credits-sandbox && python -m pip install -q pipx uv",
        0,
    )
    assert prepared.returncode == 0, prepared.stderr
    _run(runner, YAML_BLOCKS[2])
    port = free_port()
    runner.run(SH_BLOCKS[0].strip(), port)
    probe = runner.run(YAML_BLOCKS[2][1]["run"], port)
    assert probe.returncode == 0, probe.stderr
    assert '"ready":true' in probe.stdout
    # The sandbox ran from its own environment, not from the project's.
    listed = runner.run("python -m pip list --format=freeze", 0).stdout
    assert "layer-credits-sandbox" not in listed


def _run(runner: Runner, recipe: Any) -> list[dict[str, Any]]:
    port = free_port()
    env = {k: v.replace("8000", str(port)) for k, v in env_of(recipe).items()}
    env.pop("SANDBOX", None)  # the wheel stands in for the git URL
    runner.env.update(env)
    uploads = []
    for step in steps_of(recipe):
        if "uses" in step:
            if "upload-artifact" in step["uses"]:
                uploads.append(step)
            continue
        done = runner.run(step["run"], port)
        assert done.returncode == 0, f"{step['run']}\n{done.stdout}\n{done.stderr}"
    return uploads
