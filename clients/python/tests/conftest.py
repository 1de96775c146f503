"""Real parts on loopback: toolgate (node dist/main.js) with the reference
policy compiled by the real opa, the demo issuer's keys and tokens minted by
toolgate's CLI, and the example MCP server under uvicorn."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[3]
NODE = shutil.which("node") or "node"
ISSUER = "https://auth.demo.toolgate.test"
ADMIN_AUD = "https://toolgate.demo/admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Toolgate:
    """A toolgate process and the demo issuer's CLI, both in a temporary directory."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.dir = Path(tempfile.mkdtemp(prefix="toolgate-py-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._cli("demo-keys")

    def _cli(self, *args: str) -> str:
        out = subprocess.run([NODE, str(ROOT / "dist/cli.js"), *args], cwd=self.dir, check=True, capture_output=True, timeout=60)
        return out.stdout.decode().strip()

    def token(self, sub: str, roles: str = "", scope: str = "", aud: str | None = None, ttl: int = 600) -> str:
        """A token signed by the demo issuer's key (ES256, typ at+jwt, a fresh jti)."""
        return self._cli("demo-token", "--sub", sub, "--roles", roles, "--scope", scope, "--aud", aud or self.resource, f"--ttl={ttl}")

    def start(self) -> None:
        config = {
            "listen": {"host": "127.0.0.1", "port": self.port},
            "policy": {
                "mode": "source",
                "source": {
                    "policies": str(ROOT / "policies"),
                    "tests": str(ROOT / "rego-tests"),
                    "out": str(self.dir / "build"),
                    "test_gate": False,
                    "watch": False,
                },
            },
            "issuers": [{"issuer": ISSUER, "jwks_file": str(self.dir / ".toolgate/demo/jwks.json"), "algorithms": ["ES256"]}],
            "servers": [
                {
                    "id": "demo",
                    "resource": self.resource,
                    "issuers": [ISSUER],
                    "scopes_supported": ["refunds:write", "invoices:read", "deploy:write", "deploy:production"],
                }
            ],
            "revocation": {"file": str(self.dir / "revocations.json")},
            "admin": {"issuer": ISSUER, "audience": ADMIN_AUD, "scope": "toolgate:admin"},
        }
        (self.dir / "toolgate.json").write_text(json.dumps(config))
        env = {**os.environ, "TOOLGATE_OPA": str(ROOT / ".tools/bin/opa")}
        log = open(self.dir / "toolgate.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [NODE, str(ROOT / "dist/main.js"), "--config", str(self.dir / "toolgate.json")],
            cwd=self.dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("toolgate did not become ready:\n" + (self.dir / "toolgate.log").read_text()[-3000:])

    def revoke_jti(self, jti: str) -> int:
        admin = self.token("ops", scope="toolgate:admin", aud=ADMIN_AUD)
        res = httpx2.post(
            f"{self.url}/v1/revocations",
            json={"kind": "jti", "value": jti},
            headers={"authorization": f"Bearer {admin}"},
            trust_env=False,
        )
        return res.status_code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Served:
    """An ASGI app under uvicorn on 127.0.0.1, in a thread of the test process."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def mcp_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def resource(mcp_port: int) -> str:
    return f"http://127.0.0.1:{mcp_port}/mcp"


@pytest.fixture(scope="session")
def toolgate(resource: str) -> Iterator[Toolgate]:
    tg = Toolgate(resource)
    try:
        tg.start()
        yield tg
    finally:
        tg.cleanup()


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "server.py"


def load_example() -> ModuleType:
    """The README's example server, imported from its file."""
    spec = importlib.util.spec_from_file_location("toolgate_example_server", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def example() -> ModuleType:
    return load_example()


@pytest.fixture(scope="session")
def mcp_url(example: ModuleType, toolgate: Toolgate, resource: str, mcp_port: int) -> Iterator[str]:
    """The example server, guarded, under uvicorn; its URL is the protected resource."""
    served = Served(example.create_app(toolgate.url, resource), mcp_port)
    try:
        yield resource
    finally:
        served.stop()


def jti_of(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["jti"])


class Seen:
    """HTTP answers the MCP client received (status and WWW-Authenticate)."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, str | None]] = []
        self.content_types: list[str] = []

    async def hook(self, response: httpx2.Response) -> None:
        self.responses.append((response.status_code, response.headers.get("www-authenticate")))
        self.content_types.append(response.headers.get("content-type", ""))


@asynccontextmanager
async def connect(url: str, token: str | None, mode: str = "auto") -> AsyncIterator[tuple[Client, Seen]]:
    """The official MCP client over Streamable HTTP with a bearer token."""
    seen = Seen()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, event_hooks={"response": [seen.hook]}, timeout=30, trust_env=False) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:  # type: ignore[arg-type]
            yield client, seen
