"""Header–body agreement for MCP on Streamable HTTP (MCP 2026-07-28).

The revision's "Request Metadata" and "Server Validation" sections
(``basic/transports/streamable-http.mdx``) let a gateway route or authorize on
``Mcp-Method`` / ``Mcp-Name`` without reading the body; the guard decides on
the body. Refusing any disagreement means both always talk about the same
method and the same tool, resource or prompt. Same rules as toolgate's
TypeScript guard (``src/mcp/request-headers.ts``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

HEADER_MISMATCH = -32020
"""JSON-RPC error code of a header/body disagreement (MCP 2026-07-28 ``HeaderMismatch``)."""

_HEADERS_REQUIRED_FROM = "2026-07-28"
_NAME_SOURCE = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_SENTINEL = re.compile(r"^=\?base64\?(.*)\?=$", re.S)
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
# RFC 9110 field value characters: visible ASCII, space and tab.
_FIELD_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

RawHeaders = Sequence[tuple[bytes, bytes]]


def _header(headers: RawHeaders, name: bytes, display: str) -> tuple[str | None, str | None]:
    """Returns (value, problem) for one header; ASGI keeps repeated headers apart."""
    values = [v for k, v in headers if k.lower() == name]
    if not values:
        return None, None
    if len(values) > 1:
        return None, f"more than one {display} header"
    text = values[0].decode("latin-1")
    if not _FIELD_VALUE.match(text):
        return None, f"{display} header contains invalid characters"
    return text, None


def _decoded(value: str) -> str | None:
    """Undoes the ``=?base64?…?=`` sentinel encoding; None when the encoding is broken."""
    m = _SENTINEL.match(value)
    if not m:
        return value
    if not _BASE64.match(m.group(1)):
        return None
    try:
        return base64.b64decode(m.group(1), validate=True).decode("utf-8", errors="strict")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _quote(v: str) -> str:
    return f"'{v[:120]}…'" if len(v) > 120 else f"'{v}'"


def header_mismatch(headers: RawHeaders, message: Any) -> str | None:
    """Checks one JSON-RPC message of a POST against the request's ``Mcp-Method``,
    ``Mcp-Name`` and ``MCP-Protocol-Version`` headers. Returns the HeaderMismatch
    message, or None when they agree. Messages without a method (client
    responses) carry nothing a header could contradict.
    """
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return None
    method_name: str = message["method"]
    raw_params = message.get("params")
    params: Mapping[str, Any] = raw_params if isinstance(raw_params, dict) else {}

    version, problem = _header(headers, b"mcp-protocol-version", "MCP-Protocol-Version")
    if problem:
        return f"Header mismatch: {problem}"
    meta = params.get("_meta")
    body_version = meta.get("io.modelcontextprotocol/protocolVersion") if isinstance(meta, dict) else None
    if version is not None and isinstance(body_version, str) and body_version != version:
        return (
            f"Header mismatch: MCP-Protocol-Version header value {_quote(version)} "
            f"does not match body value {_quote(body_version)}"
        )
    required = version is not None and bool(_DATE.match(version)) and version >= _HEADERS_REQUIRED_FROM

    method, problem = _header(headers, b"mcp-method", "Mcp-Method")
    if problem:
        return f"Header mismatch: {problem}"
    if method is None:
        if required:
            return "Header mismatch: the Mcp-Method header is missing"
    elif method != method_name:
        return f"Header mismatch: Mcp-Method header value {_quote(method)} does not match body value {_quote(method_name)}"

    name, problem = _header(headers, b"mcp-name", "Mcp-Name")
    if problem:
        return f"Header mismatch: {problem}"
    source = _NAME_SOURCE.get(method_name)
    if name is None:
        return "Header mismatch: the Mcp-Name header is missing" if required and source else None
    header_name = _decoded(name)
    if header_name is None:
        return "Header mismatch: the Mcp-Name header has a malformed base64 value"
    # Only tools/call, resources/read and prompts/get define a name; any other
    # method with an Mcp-Name would let a gateway act on a name the body lacks.
    if source is None:
        return f"Header mismatch: Mcp-Name header given for {_quote(method_name)}, which carries no name"
    body_name = params.get(source)
    if not isinstance(body_name, str) or body_name != header_name:
        shown = body_name if isinstance(body_name, str) else json.dumps(body_name)
        return f"Header mismatch: Mcp-Name header value {_quote(header_name)} does not match body value {_quote(shown)}"
    return None
