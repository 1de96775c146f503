"""The package installs from the repo path with pip, typed; the README's
example is the file the end-to-end tests run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLE, ROOT

PACKAGE = ROOT / "clients" / "python"


def test_pip_installs_the_package_from_the_repo_path_with_py_typed(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-build-isolation", "--target", str(target), str(PACKAGE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "toolgate_guard" / "py.typed").is_file()
    out = subprocess.run(
        [sys.executable, "-c", "import toolgate_guard; print(toolgate_guard.__file__); print(toolgate_guard.ToolgateGuard.__name__)"],
        # Only the installed copy and the venv's dependencies: not the source tree.
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode().split()
    assert out[0].startswith(str(target)) and out[1] == "ToolgateGuard"


def test_the_docs_example_is_the_file_the_tests_run() -> None:
    body = (ROOT / "docs" / "guides" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert blocks, "no python block in the section"
    assert blocks[0] == EXAMPLE.read_text()


def test_the_package_and_the_example_type_check_strict(tmp_path: Path) -> None:
    from mypy import api

    out, err, status = api.run(
        ["--strict", "--cache-dir", str(tmp_path / "mypy"), str(PACKAGE / "src" / "toolgate_guard"), str(EXAMPLE)]
    )
    assert status == 0, out + err
