"""The guard's part inside the MCP SDK (``MCPServer.middleware``).

The ASGI guard decides on the HTTP request; this middleware runs where the
SDK dispatches each JSON-RPC message, whatever the response format (JSON or
SSE), and:

- refuses any request that did not pass through the ASGI guard (no mark on
  the ASGI scope), so a misassembled app fails closed;
- re-checks that a decided message is exactly the one the guard decided (same
  method, same tool/resource/prompt/completion and arguments), so a parser
  difference between the guard and the SDK cannot run something undecided;
- filters ``tools/list``, ``resources/list``, ``resources/templates/list`` and
  ``prompts/list`` results per caller through toolgate, and marks them
  ``cacheScope: "private"`` (a field of the result itself in MCP 2026-07-28).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from .decider import HttpDecider
from .messages import DECIDED_METHODS, LISTS, ListKind, listed_id, listened, subject_of

SCOPE_KEY = "toolgate.guard"
"""Where the ASGI guard leaves its mark on the ASGI scope."""

_INTERNAL_ERROR = -32603
_INVALID_REQUEST = -32600


@dataclass(frozen=True)
class GuardMark:
    """What the ASGI guard established for one HTTP request."""

    token: str
    #: The one decided message the guard allowed, or None when it only authenticated.
    decided: dict[str, Any] | None
    decision_id: str = ""


def _mark_of(ctx: ServerRequestContext[Any, Any]) -> GuardMark | None:
    request = ctx.request
    scope = getattr(request, "scope", None)
    mark = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    return mark if isinstance(mark, GuardMark) else None


def _as_dict(result: HandlerResult) -> dict[str, Any] | None:
    if isinstance(result, BaseModel):
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return dumped if isinstance(dumped, dict) else None
    return result if isinstance(result, dict) else None


class ListFilter:
    """The SDK middleware of one guard (see the module docstring)."""

    def __init__(self, decider: HttpDecider, server_id: str) -> None:
        self._decider = decider
        self._server_id = server_id

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        mark = _mark_of(ctx)
        if mark is None:
            if ctx.request_id is None:
                return None  # a notification that bypassed the guard: dropped
            raise MCPError(_INTERNAL_ERROR, "refused: the request did not pass through the toolgate guard")
        if ctx.method in DECIDED_METHODS or listened({"method": ctx.method, "params": dict(ctx.params or {})}) is not None:
            decided = mark.decided
            if (
                decided is None
                or decided.get("method") != ctx.method
                or subject_of(ctx.method, decided.get("params")) != subject_of(ctx.method, dict(ctx.params or {}))
            ):
                raise MCPError(_INVALID_REQUEST, f"refused: this {ctx.method} is not the one toolgate decided")
            return await call_next(ctx)
        listed = LISTS.get(ctx.method)
        if listed is None:
            return await call_next(ctx)
        return await self._filtered(listed, mark.token, await call_next(ctx))

    async def _filtered(self, listed: tuple[str, ListKind, str], token: str, result: HandlerResult) -> HandlerResult:
        field, kind, id_field = listed
        answer = _as_dict(result)
        if answer is None:
            raise MCPError(_INTERNAL_ERROR, "refused: the list result could not be filtered")
        raw = answer.get(field)
        # Items with no id to decide on (malformed, or a template with no literal part) are neither sent nor shown.
        entries = [x for x in raw if listed_id(id_field, x) is not None] if isinstance(raw, list) else []
        items: list[dict[str, Any]] = []
        sent_field = "uri" if kind == "resource" else "name"
        for x in entries:
            item: dict[str, Any] = {sent_field: listed_id(id_field, x)}
            if kind != "prompt" and isinstance(x.get("annotations"), dict):
                item["annotations"] = x["annotations"]
            items.append(item)
        # A deny (bad token, toolgate unreachable) answers allowed=[]: nothing is visible.
        t = await self._decider.filter_list(token, self._server_id, kind, items)
        allowed = set(t.allowed)
        # Per-caller lists must not be shared by caches (MCP 2026-07-28: cacheScope "private").
        return {**answer, field: [x for x in entries if listed_id(id_field, x) in allowed], "cacheScope": "private"}
