"""docs/guides/your-own-server.md as written: its code blocks are read from the page and
run (HOME is a temporary directory, so the server lives outside the repository): the
wheel built by `python -m build`, installed into a fresh venv, the page's server.py run
from there, the page's toolgate.yaml and catalog entry, and the page's curl call."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx2

from conftest import ROOT

GUIDE = ROOT / "docs" / "guides" / "your-own-server.md"


def blocks(marker: str) -> list[str]:
    """The code block right after each `<!-- marker -->` comment in the guide."""
    text = GUIDE.read_text()
    return re.findall(r"<!-- " + re.escape(marker) + r" -->\n```[a-z]*\n(.*?)```", text, re.S)


def one(marker: str) -> str:
    found = blocks(marker)
    assert len(found) == 1, f"{GUIDE}: expected one block after <!-- {marker} -->, found {len(found)}"
    return found[0]


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            httpx2.get(url, timeout=2, trust_env=False)
            return
        except httpx2.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def test_the_guide_runs_as_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # The guide's commands run from a clone: a copy of policies/ (the guide adds a file to it)
    # and links to the rest, so the repository's own tree is not changed.
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copytree(ROOT / "policies", clone / "policies")
    for name in ("rego-tests", "dist", "clients", ".venv", "node_modules", "package.json"):
        (clone / name).symlink_to(ROOT / name)
    env = {
        **os.environ,
        "HOME": str(home),
        # pip's cache stays where it was (installing from it when the registry is slow or away).
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        "TOOLGATE_OPA": str(ROOT / ".tools/bin/opa"),
        "NOTES": str(home / "notes"),
    }

    install = one("test: install")
    subprocess.run(["bash", "-euo", "pipefail", "-c", install], cwd=clone, env=env, check=True, timeout=600, capture_output=True)
    notes = home / "notes"
    assert (notes / "wheels" / "toolgate_mcp-0.1.0-py3-none-any.whl").is_file()
    assert (notes / "wheels" / "toolgate_mcp-0.1.0.tar.gz").is_file(), "python -m build made no sdist"
    # The venv is fresh: toolgate_guard comes from the wheel, not from this checkout.
    where = subprocess.run([str(notes / ".venv/bin/python"), "-c", "import toolgate_guard; print(toolgate_guard.__file__)"], cwd=home, env=env, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(notes / ".venv")), where

    (notes / "server.py").write_text(one("file: server.py"))
    (notes / "toolgate.yaml").write_text(one("file: toolgate.yaml"))
    catalog = clone / "policies" / "catalog" / "servers" / "notes" / "data.json"
    catalog.parent.mkdir(parents=True)
    catalog.write_text(one("file: policies/catalog/servers/notes/data.json"))

    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        run = subprocess.Popen(["bash", "-c", one("test: run") + "\nwait\n"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http("http://127.0.0.1:8182/readyz", run, log)
        wait_http("http://127.0.0.1:3001/mcp", run, log)
        for _ in range(100):  # ready means a policy is loaded
            if httpx2.get("http://127.0.0.1:8182/readyz", trust_env=False).status_code == 200:
                break
            time.sleep(0.2)

        called = subprocess.run(["bash", "-euo", "pipefail", "-c", one("test: call")], cwd=clone, env=env, check=True, capture_output=True, text=True, timeout=60)
        assert "note n-1: buy milk" in called.stdout, called.stdout + called.stderr

        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "notes.read", "arguments": {"note_id": "n-2"}}}
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        anonymous = httpx2.post("http://127.0.0.1:3001/mcp", json=body, headers=headers, trust_env=False)
        assert anonymous.status_code == 401
        assert "resource_metadata=" in anonymous.headers["www-authenticate"]
        token = subprocess.run(
            ["node", "dist/cli.js", "demo-token", "--sub", "alice", "--roles", "support_agent", "--aud", "http://127.0.0.1:3001/mcp"],
            cwd=clone, env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()
        no_scope = httpx2.post("http://127.0.0.1:3001/mcp", json=body, headers={**headers, "authorization": f"Bearer {token}"}, trust_env=False)
        assert no_scope.status_code == 403
        assert 'error="insufficient_scope"' in no_scope.headers["www-authenticate"]
        assert "notes.read" in (clone / ".toolgate" / "notes-decisions.jsonl").read_text()
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
