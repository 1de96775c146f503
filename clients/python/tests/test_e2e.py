"""End to end with the official Python MCP client: the example server (the
README's) guarded by a real toolgate, real tokens from the demo issuer.

The same assertions as toolgate's TypeScript end-to-end test: an allowed
call, a denied call with reasons, a step-up 403, a revoked token, filtered
lists, and toolgate down leading to a fail-closed 503."""

from __future__ import annotations

from types import ModuleType

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from conftest import Served, Toolgate, connect, free_port, jti_of

pytestmark = pytest.mark.anyio

def ran(example: ModuleType, name: str) -> list[dict[str, object]]:
    return [args for tool, args in example.ran if tool == name]


def text_of(result: object) -> str:
    return " ".join(getattr(c, "text", "") for c in getattr(result, "content", []))


async def test_allowed_call_runs_and_denied_call_returns_the_reasons_without_running(
    example: ModuleType, toolgate: Toolgate, mcp_url: str
) -> None:
    token = toolgate.token("alice", roles="support_agent", scope="refunds:write invoices:read")
    async with connect(mcp_url, token) as (client, _):
        ok = await client.call_tool("refunds.create", {"order_id": "o-1", "amount": 40, "currency": "EUR"})
        assert not ok.is_error
        assert "refunded 40" in text_of(ok)
        assert ran(example, "refunds.create")[-1] == {"order_id": "o-1", "amount": 40}

        before = len(example.ran)
        denied = await client.call_tool("deploy.trigger", {"service": "api", "environment": "staging"})
        assert denied.is_error
        assert "Denied by policy" in text_of(denied) and "requires one of the roles" in text_of(denied)
        over = await client.call_tool("refunds.create", {"order_id": "o-2", "amount": 500, "currency": "EUR"})
        assert over.is_error and "Denied by policy" in text_of(over)
        assert len(example.ran) == before


async def test_lists_are_filtered_per_caller_and_unlisted_resources_are_denied(
    example: ModuleType, toolgate: Toolgate, mcp_url: str
) -> None:
    token = toolgate.token("alice", roles="support_agent", scope="refunds:write invoices:read")
    async with connect(mcp_url, token) as (client, _):
        tools = await client.list_tools()
        assert sorted(t.name for t in tools.tools) == ["invoices.read", "refunds.create"]
        assert [r.uri for r in (await client.list_resources()).resources] == ["docs://handbook/refunds"]
        assert [p.name for p in (await client.list_prompts()).prompts] == ["refund_reply"]
        before = len(example.ran)
        with pytest.raises(MCPError) as denied:
            await client.read_resource("docs://internal/salaries")
        assert "unknown resources are denied" in denied.value.message
        assert denied.value.data["code"] == "policy_denied"
        assert len(example.ran) == before
        assert "need no approval" in str((await client.read_resource("docs://handbook/refunds")).contents)

    erin = toolgate.token("erin", roles="engineer", scope="deploy:write")
    async with connect(mcp_url, erin) as (client, _):
        assert [t.name for t in (await client.list_tools()).tools] == ["deploy.trigger"]
        assert (await client.list_resources()).resources == []
        with pytest.raises(MCPError, match="requires one of the roles"):
            await client.get_prompt("refund_reply", {"order_id": "o-1"})
    assert ran(example, "prompts/get") == []


async def test_insufficient_scope_is_a_403_step_up_challenge(example: ModuleType, toolgate: Toolgate, mcp_url: str) -> None:
    rita = toolgate.token("rita", roles="release_manager", scope="deploy:write")
    async with connect(mcp_url, rita) as (client, seen):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("deploy.trigger", {"service": "api", "environment": "production"})
        assert refused.value.data == {"code": "insufficient_scope"}
        status, challenge = seen.responses[-1]
        assert status == 403
        assert challenge is not None and 'error="insufficient_scope", scope="deploy:production deploy:write"' in challenge
    assert ran(example, "deploy.trigger") == []
    stepped_up = toolgate.token("rita", roles="release_manager", scope="deploy:write deploy:production")
    async with connect(mcp_url, stepped_up) as (client, _):
        ok = await client.call_tool("deploy.trigger", {"service": "api", "environment": "production"})
        assert not ok.is_error
    assert ran(example, "deploy.trigger") == [{"service": "api", "environment": "production"}]


async def test_a_revoked_token_stops_on_the_next_call(example: ModuleType, toolgate: Toolgate, mcp_url: str) -> None:
    token = toolgate.token("alice", roles="support_agent", scope="invoices:read")
    async with connect(mcp_url, token) as (client, seen):
        assert not (await client.call_tool("invoices.read", {"invoice_id": "i-1"})).is_error
        assert toolgate.revoke_jti(jti_of(token)) == 201
        with pytest.raises(MCPError, match="revoked") as refused:
            await client.call_tool("invoices.read", {"invoice_id": "i-2"})
        assert refused.value.data == {"code": "token_revoked"}
        status, challenge = seen.responses[-1]
        assert status == 401 and challenge is not None and 'error="invalid_token"' in challenge
        # Authentication too: the list is refused, not just the call.
        with pytest.raises(MCPError, match="revoked"):
            await client.list_tools()
    assert [a["invoice_id"] for a in ran(example, "invoices.read")] == ["i-1"]


async def test_missing_invalid_expired_and_foreign_tokens_get_401_with_the_challenge(
    toolgate: Toolgate, mcp_url: str, resource: str
) -> None:
    expired = toolgate.token("alice", roles="support_agent", scope="invoices:read", ttl=-120)
    foreign = toolgate.token("alice", roles="support_agent", scope="invoices:read", aud="http://127.0.0.1:1/another-mcp")
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient(trust_env=False) as http:
        for token, code in [(None, "token_missing"), ("x", "token_malformed"), (expired, "token_expired"), (foreign, "token_audience_mismatch")]:
            headers = {"accept": "application/json, text/event-stream", **({"authorization": f"Bearer {token}"} if token else {})}
            res = await http.post(mcp_url, json=body, headers=headers)
            assert res.status_code == 401, code
            assert res.json()["error"]["data"] == {"code": code}
            challenge = res.headers["www-authenticate"]
            assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge
            assert ('error="invalid_token"' in challenge) == (token is not None)
        # The official client gets the same 401 before anything runs.
        with pytest.raises(Exception):
            async with connect(mcp_url, "x"):
                pass
        meta = await http.get(resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"))
        assert meta.status_code == 200
        assert meta.json() == {
            "bearer_methods_supported": ["header"],
            "resource": resource,
            "authorization_servers": ["https://auth.demo.toolgate.test"],
        }


async def test_toolgate_down_fails_closed_with_503(example: ModuleType) -> None:
    # Its own toolgate and server: this test stops toolgate.
    port = free_port()
    own = Toolgate(f"http://127.0.0.1:{port}/mcp")
    own.start()
    served = Served(example.create_app(own.url, own.resource), port)
    try:
        token = own.token("alice", roles="support_agent", scope="refunds:write invoices:read")
        async with connect(own.resource, token) as (client, seen):
            assert not (await client.call_tool("invoices.read", {"invoice_id": "i-9"})).is_error
            own.stop()
            before = len(example.ran)
            with pytest.raises(MCPError) as refused:
                await client.call_tool("invoices.read", {"invoice_id": "i-10"})
            assert refused.value.data == {"code": "toolgate_unavailable"}
            assert seen.responses[-1][0] == 503
            with pytest.raises(MCPError) as listed:
                await client.list_tools()
            assert listed.value.data == {"code": "toolgate_unavailable"}
            assert seen.responses[-1][0] == 503
            assert len(example.ran) == before
    finally:
        served.stop()
        own.cleanup()
