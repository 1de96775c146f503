"""The HTTP-level guard: ASGI middleware in front of the MCP SDK's Streamable
HTTP app, with the same rules as toolgate's TypeScript guard
(``src/mcp/guard.ts``)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mcp.server.mcpserver import MCPServer

from .decider import Decision, HttpDecider
from .headers import HEADER_MISMATCH, header_mismatch
from .messages import DECIDED_METHODS, MAX_LISTENED, decision_requests_for, is_decided
from .sdk_middleware import SCOPE_KEY, GuardMark, ListFilter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
_BEARER = re.compile(r"^Bearer\s+", re.I)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _BadJson(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins; the guard must read what the SDK runs.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _BadJson(f"duplicate key {k!r}")
        out[k] = v
    return out


def _finite(text: str) -> float:
    f = float(text)
    if not math.isfinite(f):
        raise _BadJson(f"number out of range: {text[:40]}")
    return f


def _reject_constant(text: str) -> Any:
    raise _BadJson(f"{text} is not JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no numbers beyond a double, no duplicate keys."""
    return json.loads(
        body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_reject_constant
    )


def metadata_path(resource: str) -> str:
    """The RFC 9728 well-known path for a resource (``https://h/mcp`` → ``/.well-known/oauth-protected-resource/mcp``)."""
    p = urlsplit(resource).path.rstrip("/")
    return f"/.well-known/oauth-protected-resource{p}"


def _bearer(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The bearer token ('' when none); None when Authorization is repeated (ambiguous)."""
    values = [v.decode("latin-1") for k, v in headers if k.lower() == b"authorization"]
    if len(values) > 1:
        return None
    if not values:
        return ""
    m = _BEARER.match(values[0])
    return values[0][m.end() :].strip() if m else ""


async def _json(send: Send, status: int, body: object, headers: Mapping[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _rpc_error(
    send: Send, status: int, id_: object, code: int, message: str, data: object = None, headers: Mapping[str, str] | None = None
) -> None:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    await _json(send, status, {"jsonrpc": "2.0", "id": id_, "error": error}, headers)


def _challenge(d: Decision) -> dict[str, str]:
    return {"www-authenticate": d.www_authenticate} if d.www_authenticate else {}


def _modern(headers: Sequence[tuple[bytes, bytes]], m: dict[str, Any]) -> bool:
    """Whether the request speaks MCP 2026-07-28 or later, whose results carry `resultType`."""
    params = m.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get("io.modelcontextprotocol/protocolVersion") if isinstance(meta, dict) else None
    if not isinstance(version, str):
        version = next((v.decode("latin-1") for k, v in headers if k.lower() == b"mcp-protocol-version"), "")
    return bool(_DATE.match(version)) and version >= "2026-07-28"


async def _answer_deny(send: Send, m: dict[str, Any], d: Decision, modern: bool) -> None:
    """A policy denial of a tool call is a tool result with isError (agents can
    explain and continue); of a resource read, prompt get or completion, a
    JSON-RPC Invalid params error whose data carries toolgate's code, the
    decision id and the reasons. A token problem or missing scope goes out at
    the HTTP level with toolgate's status and WWW-Authenticate; a malformed
    request is a 400 with Invalid params."""
    id_ = m.get("id")
    why = f"Denied by policy (decision {d.decision_id}): {'; '.join(d.reasons)}"
    if d.code in ("policy_denied", "policy_error"):
        if m.get("method") == "tools/call":
            result: dict[str, Any] = {"content": [{"type": "text", "text": why}], "isError": True}
            if modern:
                result["resultType"] = "complete"
            await _json(send, 200, {"jsonrpc": "2.0", "id": id_, "result": result})
        else:
            data = {"code": d.code, "decision_id": d.decision_id, "reasons": d.reasons}
            await _rpc_error(send, 200, id_, -32602 if d.code == "policy_denied" else -32603, why, data)
        return
    status = d.http_status or 403
    message = "; ".join(d.reasons) or d.code or "denied"
    await _rpc_error(send, status, id_, -32602 if status == 400 else -32001, message, {"code": d.code}, _challenge(d))


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, at most `limit` bytes; None when the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"") or b""
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class GuardedApp:
    """ASGI app: the guard in front of the SDK's Streamable HTTP app."""

    def __init__(self, guard: ToolgateGuard, inner: ASGIApp) -> None:
        self._guard = guard
        self._inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._inner(scope, receive, send)
        elif scope["type"] == "http":
            await self._guard._http(scope, receive, send, self._inner)
        elif scope["type"] == "websocket":
            # The SDK serves no websockets: refuse the handshake (policy violation).
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
        # Any other scope type never reaches the SDK.


class ToolgateGuard:
    """toolgate's guard for an MCP server on the official Python SDK.

    Args:
        decider: toolgate as a service (``HttpDecider``).
        server_id: the server's id in toolgate's configuration.
        metadata: the RFC 9728 document to serve at the resource's well-known
            path (``resource``, ``authorization_servers``, ...); None when
            toolgate's ``resource_metadata_url`` points clients to toolgate's.
        max_body_bytes: larger POST bodies are refused with 413.
    """

    def __init__(
        self,
        decider: HttpDecider,
        server_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if metadata is not None and not isinstance(metadata.get("resource"), str):
            raise ValueError("metadata needs a resource")
        self._decider = decider
        self._server_id = server_id
        self._metadata = {"bearer_methods_supported": ["header"], **metadata} if metadata is not None else None
        self._well_known = metadata_path(metadata["resource"]) if metadata is not None else None
        self._max_body = max_body_bytes
        self.sdk_middleware = ListFilter(decider, server_id)
        """The SDK middleware; `protect` installs it on the server."""

    def protect(self, server: MCPServer[Any], app: ASGIApp | None = None, **streamable_http_app_kwargs: Any) -> GuardedApp:
        """Installs the guard's SDK middleware on `server` and returns the
        guarded ASGI app: `app` when given (built from this server), else
        ``server.streamable_http_app(**streamable_http_app_kwargs)``."""
        if self.sdk_middleware not in server.middleware:
            server.middleware.append(self.sdk_middleware)
        inner: ASGIApp = app if app is not None else server.streamable_http_app(**streamable_http_app_kwargs)
        return GuardedApp(self, inner)

    async def _http(self, scope: Scope, receive: Receive, send: Send, inner: ASGIApp) -> None:
        method = scope.get("method", "")
        headers: Sequence[tuple[bytes, bytes]] = scope.get("headers", [])
        if method == "GET" and self._well_known is not None and scope.get("path") == self._well_known:
            await _json(send, 200, self._metadata, {"cache-control": "public, max-age=300"})
            return
        token = _bearer(headers)
        if token is None:
            await _rpc_error(send, 400, None, -32600, "more than one Authorization header")
            return
        decided: dict[str, Any] | None = None
        body = b""
        if method == "POST":
            try:
                read = await _read_body(receive, self._max_body)
            except _TooLarge:
                await _rpc_error(send, 413, None, -32600, f"the request body exceeds {self._max_body} bytes")
                return
            if read is None:
                return
            body = read
            try:
                parsed = parse_json(body)
            except (ValueError, RecursionError) as e:
                # Fail closed: only a body the guard has read is passed on.
                await _rpc_error(send, 400, None, -32700, f"Parse error: the request has no JSON body ({e})"[:300])
                return
            messages = parsed if isinstance(parsed, list) else [parsed]
            for m in messages:
                mismatch = header_mismatch(headers, m)
                if mismatch:
                    await _rpc_error(send, 400, m.get("id") if isinstance(m, dict) else None, HEADER_MISMATCH, mismatch)
                    return
            calls = [m for m in messages if is_decided(m)]
            if calls and isinstance(parsed, list):
                await _rpc_error(send, 400, None, -32600, f"batches carrying {', '.join(DECIDED_METHODS)} are not accepted")
                return
            decided = calls[0] if calls else None
        mark: GuardMark | None = None
        if decided is not None:
            requests = decision_requests_for(decided, token, self._server_id)
            if len(requests) > MAX_LISTENED:
                await _rpc_error(send, 400, decided.get("id"), -32602, f"subscriptions/listen may name at most {MAX_LISTENED} resources")
                return
            ids: list[str] = []
            for request in requests:
                d = await self._decider.decide(request)
                if not d.allow:
                    await _answer_deny(send, decided, d, _modern(headers, decided))
                    return
                ids.append(d.decision_id)
            # Fail closed: only allowing decisions vouch for the token. A message
            # that ended with none made (whatever its method) is authenticated below.
            if ids:
                mark = GuardMark(token=token, decided=decided, decision_id=",".join(ids))
        if mark is None:
            # Every other request is authenticated too: sessions are never authentication.
            a = await self._decider.authenticate(token, self._server_id)
            if not a.allow:
                status = a.http_status or 401
                message = "; ".join(a.reasons) or a.code or "denied"
                await _rpc_error(send, status, None, -32602 if status == 400 else -32001, message, {"code": a.code}, _challenge(a))
                return
            mark = GuardMark(token=token, decided=None)
        scope[SCOPE_KEY] = mark
        await inner(scope, _replay(body, receive) if method == "POST" else receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the buffered body to the SDK once, then the client's own messages (disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
