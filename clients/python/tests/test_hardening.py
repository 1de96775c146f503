"""Hardening round three, as the Python guard sees it: resource URIs that an
SDK would read as another resource, and a second spelling of a signed token,
are refused before anything runs (the guard forwards both to toolgate, whose
checks are the ones under test; these cases keep the guard holding)."""

from __future__ import annotations

import json
from types import ModuleType

import httpx2
import pytest

from conftest import Toolgate

pytestmark = pytest.mark.anyio

ACCEPT = "application/json, text/event-stream"

# Each would climb out of, or be rewritten away from, what the policy saw.
TRICKS = [
    "docs://handbook/.\t./internal/salaries",
    "docs://handbook/.\n./internal/salaries",
    "docs://handbook/.\r./internal/salaries",
    "docs://handbook/refunds/..?x",
    "docs://handbook/refunds/..#x",
    "docs://handbook/refunds ",
    "docs://handbook/%2e%2e/internal/salaries",
    "docs://handbook\\..\\internal/salaries",
]


def answer(res: httpx2.Response) -> dict[str, object]:
    """The JSON-RPC message of a JSON or SSE answer."""
    if res.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in res.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return res.json()


async def session(http: httpx2.AsyncClient, url: str, token: str) -> dict[str, str]:
    headers = {"accept": ACCEPT, "authorization": f"Bearer {token}"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "hardening", "version": "1"}},
    }
    res = await http.post(url, json=init, headers=headers)
    assert res.status_code == 200, res.text
    sid = res.headers.get("mcp-session-id")
    if sid:
        headers["mcp-session-id"] = sid
    headers["mcp-protocol-version"] = "2025-06-18"
    await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


async def test_resource_uris_an_sdk_would_rewrite_are_refused_before_the_handler(
    example: ModuleType, toolgate: Toolgate, mcp_url: str
) -> None:
    token = toolgate.token("alice", roles="support_agent", scope="refunds:write invoices:read")
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        headers = await session(http, mcp_url, token)
        before = len(example.ran)
        for n, uri in enumerate(TRICKS):
            body = {"jsonrpc": "2.0", "id": 10 + n, "method": "resources/read", "params": {"uri": uri}}
            res = await http.post(mcp_url, json=body, headers=headers)
            msg = answer(res)
            assert "error" in msg and "result" not in msg, (uri, msg)
            assert "confidential" not in res.text and "need no approval" not in res.text, uri
        assert len(example.ran) == before
        # The canonical spelling of an allowed resource still reads.
        ok = await http.post(
            mcp_url,
            json={"jsonrpc": "2.0", "id": 99, "method": "resources/read", "params": {"uri": "docs://handbook/refunds"}},
            headers=headers,
        )
        assert "need no approval" in ok.text


async def test_a_second_spelling_of_a_signed_token_is_refused(toolgate: Toolgate, mcp_url: str) -> None:
    token = toolgate.token("alice", roles="support_agent", scope="invoices:read")
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        for spelling in [token + "==", token[:-4] + " " + token[-4:]]:
            res = await http.post(mcp_url, json=body, headers={"accept": ACCEPT, "authorization": f"Bearer {spelling}"})
            assert res.status_code == 401, spelling
            assert res.json()["error"]["data"] == {"code": "token_malformed"}
        res = await http.post(mcp_url, json=body, headers={"accept": ACCEPT, "authorization": f"Bearer {token}"})
        assert res.status_code != 401
