"""What the guard refuses before anything is decided or run, what it does when
toolgate answers garbage, the SDK middleware's own checks, and the
handshake-era (session, SSE) path. Real toolgate, real tokens, real HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from conftest import Served, Toolgate, connect, free_port
from toolgate_guard import HttpDecider, ToolgateGuard
from toolgate_guard.messages import LISTS, listed_id
from toolgate_guard.sdk_middleware import SCOPE_KEY, GuardMark, ListFilter

pytestmark = pytest.mark.anyio

ACCEPT = "application/json, text/event-stream"
MODERN = "2026-07-28"


def call(name: str, arguments: dict[str, Any], id_: int = 1) -> dict[str, Any]:
    """A tools/call as a 2026-07-28 client sends it (no session: the version rides in `_meta`)."""
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name, "arguments": arguments, "_meta": meta}}


def agreeing(name: str) -> dict[str, str]:
    """The request headers a 2026-07-28 client sends with a tools/call of `name`."""
    return {"mcp_protocol_version": MODERN, "mcp_method": "tools/call", "mcp_name": name}


@pytest.fixture(scope="module")
def alice(toolgate: Toolgate) -> str:
    return toolgate.token("alice", roles="support_agent", scope="refunds:write invoices:read")


async def post(url: str, body: bytes | dict[str, Any] | list[Any], token: str | None, **headers: str) -> httpx2.Response:
    h = {"accept": ACCEPT, "content-type": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if token:
        h["authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        return await http.post(url, content=content, headers=h)


async def test_headers_that_disagree_with_the_body_are_refused(example: ModuleType, mcp_url: str, alice: str) -> None:
    before = len(example.ran)
    body = call("invoices.read", {"invoice_id": "i-1"})
    cases = [
        {"mcp_method": "tools/list"},
        {"mcp_name": "refunds.create"},
        {"mcp_name": "=?base64?!!?="},
        {"mcp_protocol_version": MODERN},  # 2026-07-28 requires Mcp-Method and Mcp-Name
        {"mcp_protocol_version": MODERN, "mcp_method": "tools/call"},
    ]
    for headers in cases:
        res = await post(mcp_url, body, alice, **headers)
        assert res.status_code == 400, headers
        assert res.json()["error"]["code"] == -32020, headers
    assert len(example.ran) == before
    # Agreeing headers (the name in its base64 form) pass and the call runs.
    encoded = "=?base64?" + base64.b64encode(b"invoices.read").decode() + "?="
    res = await post(mcp_url, body, alice, **agreeing(encoded))
    assert res.status_code == 200, res.text
    assert res.json()["result"]["isError"] is False
    assert example.ran[-1] == ("invoices.read", {"invoice_id": "i-1"})


async def test_batches_with_a_decided_method_and_unreadable_bodies_are_refused(
    example: ModuleType, mcp_url: str, alice: str
) -> None:
    before = len(example.ran)
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, call("invoices.read", {"invoice_id": "i-2"}, 2)]
    res = await post(mcp_url, batch, alice)
    assert res.status_code == 400 and res.json()["error"]["code"] == -32600
    not_json = [
        b"",
        b"{not json",
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "method": "tools/call", "params": {"name": "invoices.read"}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "refunds.create", "arguments": {"amount": NaN}}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "refunds.create", "arguments": {"amount": 1e400}}}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ]
    for body in not_json:
        res = await post(mcp_url, body, alice)
        assert res.status_code == 400, body
        assert res.json()["error"]["code"] == -32700, body
    huge = json.dumps(call("invoices.read", {"invoice_id": "x" * (5 * 1024 * 1024)})).encode()
    res = await post(mcp_url, huge, alice)
    assert res.status_code == 413
    assert len(example.ran) == before


async def test_malformed_decided_request_is_a_400_with_toolgates_code(example: ModuleType, mcp_url: str, alice: str) -> None:
    before = len(example.ran)
    res = await post(mcp_url, {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": 42}}, alice)
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["code"] == -32602 and error["data"]["code"] == "invalid_request"
    assert res.json()["id"] == 7
    assert len(example.ran) == before


async def test_completion_is_decided_on_the_prompt_it_refers_to(toolgate: Toolgate, mcp_url: str) -> None:
    erin = toolgate.token("erin", roles="engineer", scope="deploy:write")
    async with connect(mcp_url, erin) as (client, _):
        with pytest.raises(MCPError, match="requires one of the roles") as denied:
            await client.complete({"type": "ref/prompt", "name": "refund_reply"}, {"name": "order_id", "value": "o-"})
        assert denied.value.data["code"] == "policy_denied"
        assert denied.value.data["decision_id"]


async def test_handshake_era_sessions_with_sse_answers_are_guarded_the_same(
    example: ModuleType, toolgate: Toolgate, mcp_url: str, alice: str
) -> None:
    async with connect(mcp_url, alice, mode="legacy") as (client, seen):
        assert sorted(t.name for t in (await client.list_tools()).tools) == ["invoices.read", "refunds.create"]
        assert any(ct.startswith("text/event-stream") for ct in seen.content_types)
        before = len(example.ran)
        denied = await client.call_tool("deploy.trigger", {"service": "api", "environment": "staging"})
        assert denied.is_error
        assert len(example.ran) == before
        assert not (await client.call_tool("invoices.read", {"invoice_id": "i-3"})).is_error
    # A session is not authentication: another caller's token on the same session id is checked.
    erin = toolgate.token("erin", roles="engineer", scope="deploy:write")
    async with connect(mcp_url, erin, mode="legacy") as (client, _):
        assert [t.name for t in (await client.list_tools()).tools] == ["deploy.trigger"]


class GarbageToolgate:
    """An HTTP server on loopback that answers like toolgate in form, not in content."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.hang = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self.hang:
            # Never answers: waits until the guard's decider gives up and disconnects.
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await send({"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture(scope="module")
def garbage() -> Iterator[GarbageToolgate]:
    app = GarbageToolgate(200, b"")
    served = Served(app, free_port())
    app.url = f"http://127.0.0.1:{served.server.config.port}"  # type: ignore[attr-defined]
    try:
        yield app
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html>not json</html>"),
        (200, b'{"allow": "yes", "decision_id": "d", "reasons": []}'),
        (200, b'{"allow": true, "decision_id": "d"}'),
        (200, b'{"allow": false, "decision_id": "d", "reasons": [], "http_status": 401, "www_authenticate": "x\\r\\ny: z"}'),
        (502, b'{"code": "bad_gateway", "message": "upstream"}'),
        (500, b"oops"),
    ],
)
async def test_toolgate_answering_garbage_is_a_503_and_nothing_runs(
    example: ModuleType, garbage: GarbageToolgate, status: int, body: bytes
) -> None:
    garbage.status, garbage.body = status, body
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    served = Served(example.create_app(garbage.url, resource), port)  # type: ignore[attr-defined]
    try:
        before = len(example.ran)
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": call("x", {})["params"]["_meta"]}}
        requests = [
            (call("invoices.read", {"invoice_id": "i-4"}), agreeing("invoices.read")),
            (listing, {"mcp_protocol_version": MODERN, "mcp_method": "tools/list"}),
        ]
        for message, headers in requests:
            res = await post(resource, message, "any-token", **headers)
            assert res.status_code == 503
            assert res.json()["error"]["data"] == {"code": "toolgate_unavailable"}
        assert len(example.ran) == before
    finally:
        served.stop()


async def test_toolgate_not_answering_in_time_is_a_503_and_nothing_runs(example: ModuleType, garbage: GarbageToolgate) -> None:
    garbage.hang = True
    port = free_port()
    guard = ToolgateGuard(HttpDecider(garbage.url, timeout=0.5), "demo")  # type: ignore[attr-defined]
    served = Served(guard.protect(example.build_server()), port)
    try:
        before = len(example.ran)
        res = await post(f"http://127.0.0.1:{port}/mcp", call("invoices.read", {"invoice_id": "i-6"}), "any-token", **agreeing("invoices.read"))
        assert res.status_code == 503
        assert res.json()["error"]["data"] == {"code": "toolgate_unavailable"}
        assert len(example.ran) == before
    finally:
        garbage.hang = False
        served.stop()


async def test_repeated_authorization_headers_are_refused(example: ModuleType, mcp_url: str, alice: str) -> None:
    headers = [("accept", ACCEPT), ("content-type", "application/json"), ("authorization", f"Bearer {alice}"), ("authorization", "Bearer x")]
    async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
        res = await http.post(mcp_url, content=json.dumps(call("invoices.read", {"invoice_id": "i-7"})).encode(), headers=headers)
    assert res.status_code == 400 and res.json()["error"]["code"] == -32600
    assert ("invoices.read", {"invoice_id": "i-7"}) not in example.ran


async def test_the_sdk_middleware_refuses_what_the_asgi_guard_did_not_decide(
    example: ModuleType, toolgate: Toolgate, alice: str
) -> None:
    guard = ToolgateGuard(HttpDecider(toolgate.url), "demo")
    server = example.build_server()
    guard.protect(server)  # installs the SDK middleware; its ASGI part is left out below
    inner = server.streamable_http_app()

    async def forging(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # As if the guard had decided invoices.read, while the body asks for deploy.trigger.
        if scope["type"] == "http" and scope.get("headers") and (b"x-forge", b"1") in scope["headers"]:
            scope[SCOPE_KEY] = GuardMark(token=alice, decided=call("invoices.read", {"invoice_id": "i-5"}))
        await inner(scope, receive, send)

    port = free_port()
    served = Served(forging, port)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        before = len(example.ran)
        unguarded = await post(url, call("invoices.read", {"invoice_id": "i-5"}), alice, **agreeing("invoices.read"))
        assert "did not pass through the toolgate guard" in unguarded.text
        deploy = call("deploy.trigger", {"service": "api", "environment": "staging"})
        forged = await post(url, deploy, alice, x_forge="1", **agreeing("deploy.trigger"))
        assert "is not the one toolgate decided" in forged.text
        assert len(example.ran) == before
    finally:
        served.stop()


async def test_resources_subscribe_is_decided_like_a_read_of_its_uri(example: ModuleType, mcp_url: str, alice: str) -> None:
    before = len(example.ran)
    res = await post(mcp_url, {"jsonrpc": "2.0", "id": 8, "method": "resources/subscribe", "params": {"uri": "docs://internal/salaries"}}, alice)
    error = res.json()["error"]
    assert error["code"] == -32602 and error["data"]["code"] == "policy_denied"
    assert "not in the catalog" in error["message"]
    assert len(example.ran) == before


async def test_resource_templates_are_filtered_per_caller_on_their_literal_part(toolgate: Toolgate) -> None:
    # The SDK middleware's filter against the real toolgate, on a templates/list result.
    listed = {
        "resourceTemplates": [
            {"uriTemplate": "invoices://{invoice_id}", "name": "invoices"},
            {"uriTemplate": "docs://internal/{name}", "name": "internal"},
            {"uriTemplate": "docs://handbook/refunds{?lang}", "name": "handbook"},
        ]
    }
    spec = LISTS["resources/templates/list"]
    decider = HttpDecider(toolgate.url)

    async def visible(token: str) -> list[str]:
        result = await ListFilter(decider, "demo")._filtered(spec, token, listed)
        assert isinstance(result, dict) and result["cacheScope"] == "private"
        return sorted(t["uriTemplate"] for t in result["resourceTemplates"])

    mallory = toolgate.token("mallory", roles="finance", scope="invoices:read")
    assert await visible(mallory) == ["docs://handbook/refunds{?lang}", "invoices://{invoice_id}"]
    assert await visible(toolgate.token("alice", roles="support_agent")) == ["docs://handbook/refunds{?lang}"]
    assert await visible(toolgate.token("erin", roles="engineer")) == []


async def test_a_template_with_no_literal_part_and_malformed_items_are_neither_sent_nor_shown(toolgate: Toolgate) -> None:
    sent: list[dict[str, Any]] = []

    class Recording(HttpDecider):
        """The real HTTP decider, recording the items it is asked about."""

        async def filter_list(self, token: str, server: str, kind: Any, items: list[dict[str, Any]]) -> Any:
            sent.extend(items)
            return await super().filter_list(token, server, kind, items)

    handbook = {"uriTemplate": "docs://handbook/refunds{?lang}", "name": "handbook"}
    listed = {"resourceTemplates": [{"uriTemplate": "{scheme}://anything", "name": "any"}, {"name": "no template"}, None, 42, {"uriTemplate": 7}, handbook]}
    alice = toolgate.token("alice", roles="support_agent")
    result = await ListFilter(Recording(toolgate.url), "demo")._filtered(LISTS["resources/templates/list"], alice, listed)
    assert isinstance(result, dict) and result["resourceTemplates"] == [handbook]
    assert sent == [{"uri": "docs://handbook/refunds"}]
    # Called on its own, a malformed item is "not listed", not a KeyError.
    assert [listed_id("uriTemplate", x) for x in ({}, {"uriTemplate": None}, [], {"uriTemplate": "{s}://x"})] == [None] * 4
    assert listed_id("name", {"uri": "x"}) is None


async def test_a_filtered_list_carries_cache_scope_at_the_top_level_of_its_result(mcp_url: str, alice: str) -> None:
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    res = await post(mcp_url, {"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"_meta": meta}}, alice, mcp_protocol_version=MODERN, mcp_method="tools/list")
    result = res.json()["result"]
    assert result["cacheScope"] == "private"
    assert "cacheScope" not in result.get("_meta", {})
    assert sorted(t["name"] for t in result["tools"]) == ["invoices.read", "refunds.create"]


async def test_subscriptions_listen_is_decided_for_each_resource_it_names(example: ModuleType, mcp_url: str, alice: str) -> None:
    def listen(id_: int, uris: object) -> dict[str, Any]:
        notifications = {"resourcesListChanged": True, "resourceSubscriptions": uris}
        return {"jsonrpc": "2.0", "id": id_, "method": "subscriptions/listen", "params": {"notifications": notifications}}

    before = len(example.ran)
    res = await post(mcp_url, listen(10, ["docs://handbook/refunds", "docs://internal/salaries"]), alice)
    error = res.json()["error"]
    assert error["code"] == -32602 and error["data"]["code"] == "policy_denied"
    assert 'docs://internal/salaries" is not in the catalog' in error["message"]
    too_many = await post(mcp_url, listen(11, ["docs://handbook/refunds"] * 65), alice)
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == -32602
    assert len(example.ran) == before


async def test_a_listen_naming_no_resource_and_an_empty_batch_are_authenticated(
    toolgate: Toolgate, example: ModuleType, mcp_url: str, alice: str
) -> None:
    # They make no decision, so nothing has checked the token unless authenticate does.
    empty_listen = {"jsonrpc": "2.0", "id": 12, "method": "subscriptions/listen", "params": {"notifications": {"resourceSubscriptions": []}}}
    # Signed with the trusted key for another audience: only authentication refuses it.
    elsewhere = toolgate.token("alice", roles="support_agent", aud="https://elsewhere.example/mcp")
    before = len(example.ran)
    for token in (None, elsewhere):
        for body in (empty_listen, []):
            res = await post(mcp_url, body, token)
            assert (res.status_code, res.json()["error"]["code"]) == (401, -32001), (token, body)
    assert len(example.ran) == before
    passed = await post(mcp_url, empty_listen, alice)
    assert passed.status_code != 401, passed.text
