"""What the guard reads out of JSON-RPC messages: the decided methods, their
decision requests, and the subject a decision was made about."""

from __future__ import annotations

from typing import Any, Final, Literal

ListKind = Literal["tool", "resource", "prompt"]

DECIDED_METHODS: Final = ("tools/call", "resources/read", "resources/subscribe", "prompts/get", "completion/complete")
"""The MCP methods decided before any handler runs. A resources/subscribe is
decided as a read of its URI: the updates tell what the resource holds."""

LISTS: Final[dict[str, tuple[str, ListKind, str]]] = {
    # method: (result field, kind toolgate evaluates, the item's id field)
    "tools/list": ("tools", "tool", "name"),
    "resources/list": ("resources", "resource", "uri"),
    # A template is decided as a resource: its literal part before the first "{" (listed_id).
    "resources/templates/list": ("resourceTemplates", "resource", "uriTemplate"),
    "prompts/list": ("prompts", "prompt", "name"),
}
"""The list methods filtered per caller."""


def listed_id(id_field: str, item: object) -> str | None:
    """The id toolgate decides on for one list item: a resource template's
    literal part before its first ``{`` (how the policy looks up a template's
    completions), else the item's id as is. None, so the item is never shown
    (fail closed), for a malformed item (not an object, no string id) and for
    a template whose literal part is empty (``{scheme}://…``), which names no
    resource the policy could decide on. Same as the TypeScript guard."""
    value = item.get(id_field) if isinstance(item, dict) else None
    if not isinstance(value, str):
        return None
    if id_field != "uriTemplate":
        return value
    return value.split("{", 1)[0] or None


def object_or_none(v: object) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None


MAX_LISTENED: Final = 64
"""The most resources one subscriptions/listen may name: each is one decision."""


def listened(m: dict[str, Any]) -> list[Any] | None:
    """The resources a subscriptions/listen (MCP 2026-07-28, which replaced
    resources/subscribe with it) subscribes to, as the client sent them; None
    when it names none (no ``resourceSubscriptions``, or an empty list:
    list-changed notifications only), so such a listen is authenticated like
    any other request."""
    if m.get("method") != "subscriptions/listen":
        return None
    notifications = object_or_none((object_or_none(m.get("params")) or {}).get("notifications")) or {}
    if "resourceSubscriptions" not in notifications:
        return None
    uris = notifications["resourceSubscriptions"]
    named = uris if isinstance(uris, list) else [uris]
    return named if named else None


def is_decided(m: object) -> bool:
    return isinstance(m, dict) and (m.get("method") in DECIDED_METHODS or listened(m) is not None)


def decision_requests_for(m: dict[str, Any], token: str, server: str) -> list[dict[str, Any]]:
    """Every decision one decided message needs: one per resource of a
    subscriptions/listen, else one. Same as the TypeScript guard."""
    uris = listened(m)
    if uris is None:
        return [decision_request_for(m, token, server)]
    return [{"token": token, "server": server, "action": "read_resource", "resource": {"uri": u}} for u in uris]


def decision_request_for(m: dict[str, Any], token: str, server: str) -> dict[str, Any]:
    """The ``POST /v1/decisions`` body for one decided message. Values are passed
    on as the client sent them (not coerced): toolgate refuses a malformed one
    with a 400 code, so the guard never decides on something other than what
    would run. Same mapping as the TypeScript guard's ``decisionRequestFor``.
    """
    p = object_or_none(m.get("params")) or {}
    base: dict[str, Any] = {"token": token, "server": server}
    method = m.get("method")
    if method == "tools/call":
        tool = {"name": p.get("name")}
        if "arguments" in p:
            tool["arguments"] = p["arguments"]
        return {**base, "action": "call", "tool": tool}
    if method in ("resources/read", "resources/subscribe"):
        return {**base, "action": "read_resource", "resource": {"uri": p.get("uri")}}
    if method == "prompts/get":
        prompt = {"name": p.get("name")}
        if "arguments" in p:
            prompt["arguments"] = p["arguments"]
        return {**base, "action": "get_prompt", "prompt": prompt}
    # completion/complete: only the fields the contract knows (a PromptReference may carry a title).
    ref = object_or_none(p.get("ref")) or {}
    arg = object_or_none(p.get("argument")) or {}
    completion: dict[str, Any] = {
        "ref": {k: ref[k] for k in ("type", "name", "uri") if k in ref},
        "argument": {"name": arg.get("name"), "value": arg.get("value")},
    }
    context = object_or_none(p.get("context"))
    if context is not None:
        completion["context"] = {"arguments": context["arguments"]} if "arguments" in context else {}
    return {**base, "action": "complete", "completion": completion}


def subject_of(method: str, params: object) -> dict[str, Any]:
    """The part of a decided message a decision is about, for comparing what
    was decided with what the SDK is about to run."""
    requests = decision_requests_for({"method": method, "params": params}, "", "")
    return {"requests": [{k: v for k, v in r.items() if k not in ("token", "server")} for r in requests]}
