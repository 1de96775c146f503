"""Mcp-Method / Mcp-Name / MCP-Protocol-Version against the body, rule by rule
(the same rules as toolgate's TypeScript guard, src/mcp/request-headers.ts)."""

from __future__ import annotations

import base64

import pytest

from toolgate_guard import header_mismatch


def h(*pairs: tuple[str, str | bytes]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in pairs]


def b64(s: str) -> str:
    return "=?base64?" + base64.b64encode(s.encode()).decode() + "?="


CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "refunds.create"}}
READ = {"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "docs://handbook/ü"}}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (h(), CALL),
        (h(("mcp-method", "tools/call"), ("mcp-name", "refunds.create")), CALL),
        (h(("mcp-method", "resources/read"), ("mcp-name", b64("docs://handbook/ü"))), READ),
        (h(("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/list")), LIST),
        (h(("mcp-protocol-version", "2025-11-25")), CALL),  # handshake era: headers optional
        (h(("mcp-method", "tools/list")), {"jsonrpc": "2.0", "id": 1, "result": {}}),  # a response: nothing to contradict
    ],
)
def test_agreeing_headers_pass(headers: list[tuple[bytes, bytes]], message: dict[str, object]) -> None:
    assert header_mismatch(headers, message) is None


@pytest.mark.parametrize(
    ("headers", "message", "problem"),
    [
        (h(("mcp-method", "tools/list")), CALL, "does not match body value 'tools/call'"),
        (h(("mcp-method", "tools/call"), ("mcp-method", "tools/call")), CALL, "more than one Mcp-Method header"),
        (h(("mcp-name", "deploy.trigger")), CALL, "'deploy.trigger' does not match body value 'refunds.create'"),
        (h(("mcp-name", "docs://handbook/ü")), READ, "invalid characters"),
        (h(("mcp-name", "=?base64?not base64?=")), CALL, "malformed base64"),
        (h(("mcp-name", "=?base64?" + base64.b64encode(b"\xff").decode() + "?=")), CALL, "malformed base64"),
        (h(("mcp-name", "x")), LIST, "carries no name"),
        (h(("mcp-protocol-version", "2026-07-28")), CALL, "the Mcp-Method header is missing"),
        (h(("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call")), CALL, "the Mcp-Name header is missing"),
        (h(("mcp-protocol-version", "2025-11-25")), LIST, "MCP-Protocol-Version header value '2025-11-25'"),
        (h(("mcp-name", "refunds.create")), {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 7}}, "body value '7'"),
    ],
)
def test_disagreeing_headers_are_named(headers: list[tuple[bytes, bytes]], message: dict[str, object], problem: str) -> None:
    found = header_mismatch(headers, message)
    assert found is not None and found.startswith("Header mismatch: ")
    assert problem in found
