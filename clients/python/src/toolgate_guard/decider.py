"""toolgate over HTTP: decisions, authentication and list filtering.

The decider is total: every method returns a result and never raises. When
toolgate cannot be reached, times out, or answers anything but a decision,
the result is a deny (``toolgate_unavailable``, 503), so the guard fails
closed. Tokens are forwarded as received; toolgate verifies them (this
package does no JWT verification of its own).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from .messages import ListKind

_CODE = re.compile(r"^[a-z_]{1,64}$")
# A challenge goes out as a response header: visible ASCII and spaces only.
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")


@dataclass(frozen=True)
class Decision:
    """toolgate's answer to a decision or an authentication (``POST /v1/decisions``)."""

    allow: bool
    decision_id: str
    reasons: list[str]
    revision: str | None = None
    code: str | None = None
    http_status: int | None = None
    www_authenticate: str | None = None


@dataclass(frozen=True)
class ListDecision:
    """toolgate's answer to a list filtering request (``POST /v1/decisions/list``)."""

    decision_id: str
    allowed: list[str]
    revision: str | None = None
    code: str | None = None
    http_status: int | None = None
    www_authenticate: str | None = None
    reasons: list[str] = field(default_factory=list)


def denial(code: str, http_status: int, reason: str) -> Decision:
    """A deny that no policy made: ``decision_id`` and ``revision`` are empty."""
    return Decision(allow=False, decision_id="", reasons=[reason], revision=None, code=code, http_status=http_status)


def list_denial(d: Decision) -> ListDecision:
    """The same deny as a list answer: nothing is visible."""
    return ListDecision(
        decision_id=d.decision_id,
        allowed=[],
        revision=d.revision,
        code=d.code,
        http_status=d.http_status,
        www_authenticate=d.www_authenticate,
        reasons=list(d.reasons),
    )


def _is_error_body(v: object) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("code"), str)
        and bool(_CODE.match(v["code"]))
        and isinstance(v.get("message"), str)
    )


def denial_for_answer(status: int, body: object) -> Decision:
    """Turns a toolgate answer other than 200 into a deny, as the TypeScript
    HttpDecider does: a 400 keeps toolgate's code and status (the request's
    fault), a ``policy_unavailable`` 503 keeps its code, another 4xx is the MCP
    server's misconfiguration (toolgate's code with 500), anything else is
    ``toolgate_unavailable`` (503).
    """
    if _is_error_body(body):
        assert isinstance(body, dict)
        if status == 400:
            return denial(body["code"], 400, body["message"])
        if status == 503 and body["code"] == "policy_unavailable":
            return denial(body["code"], 503, body["message"])
        if 400 < status < 500:
            return denial(body["code"], 500, f"toolgate refused the MCP server ({status}): {body['message']}")
    return denial("toolgate_unavailable", 503, f"toolgate answered {status}: {json.dumps(body)[:200]}")


def _optional_str(v: object) -> bool:
    return v is None or isinstance(v, str)


def _as_decision(v: object) -> Decision | None:
    """A Decision when `v` is one in every field the guard acts on; None otherwise."""
    if not isinstance(v, dict):
        return None
    allow, decision_id, reasons = v.get("allow"), v.get("decision_id"), v.get("reasons")
    if not isinstance(allow, bool) or not isinstance(decision_id, str):
        return None
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        return None
    code, status, challenge, revision = v.get("code"), v.get("http_status"), v.get("www_authenticate"), v.get("revision")
    if not (_optional_str(code) and _optional_str(revision) and _optional_str(challenge)):
        return None
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
        return None
    if isinstance(challenge, str) and not _HEADER_VALUE.match(challenge):
        return None
    return Decision(allow, decision_id, list(reasons), revision, code, status, challenge)


def _as_list(v: object) -> ListDecision | None:
    if not isinstance(v, dict):
        return None
    decision_id, allowed = v.get("decision_id"), v.get("allowed")
    if not isinstance(decision_id, str) or not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        return None
    revision = v.get("revision")
    return ListDecision(decision_id=decision_id, allowed=list(allowed), revision=revision if isinstance(revision, str) else None)


CallerToken = Callable[[], "str | Awaitable[str]"]


class HttpDecider:
    """Calls a toolgate service over HTTP with one pooled async client
    (keep-alive connections are reused across requests).

    Args:
        base_url: toolgate's address, e.g. ``http://127.0.0.1:8181``.
        timeout: seconds for connecting, sending and reading one answer.
        caller_token: when toolgate runs with ``callers.auth: jwt``, returns the
            MCP server's own bearer token for toolgate (sync or async).
        client: an ``httpx2.AsyncClient`` to use instead of the default one.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        caller_token: CallerToken | None = None,
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._caller_token = caller_token
        self._client = client or httpx2.AsyncClient(
            timeout=httpx2.Timeout(timeout),
            limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0),
            # toolgate is an internal service: do not route it through proxies from the environment.
            trust_env=False,
        )

    async def _post(self, path: str, body: Mapping[str, Any]) -> tuple[int, object] | str:
        """(status, parsed body), or the reason toolgate could not be asked."""
        try:
            headers = {"content-type": "application/json"}
            if self._caller_token is not None:
                token = self._caller_token()
                if inspect.isawaitable(token):
                    token = await token
                headers["authorization"] = f"Bearer {token}"
            res = await self._client.post(f"{self._base}{path}", content=json.dumps(body), headers=headers)
            text = res.text
            try:
                parsed: object = json.loads(text)
            except ValueError:
                parsed = text[:200]
            return res.status_code, parsed
        except Exception as e:  # noqa: BLE001 - total by contract: any failure is a deny
            return f"toolgate unreachable: {type(e).__name__}: {e}"

    async def _decision(self, path: str, body: Mapping[str, Any]) -> Decision:
        r = await self._post(path, body)
        if isinstance(r, str):
            return denial("toolgate_unavailable", 503, r)
        status, parsed = r
        if status != 200:
            return denial_for_answer(status, parsed)
        d = _as_decision(parsed)
        return d if d is not None else denial("toolgate_unavailable", 503, "toolgate answered without a decision")

    async def decide(self, request: Mapping[str, Any]) -> Decision:
        """``POST /v1/decisions``: one tools/call, resources/read, prompts/get or completion/complete."""
        return await self._decision("/v1/decisions", request)

    async def authenticate(self, token: str, server: str) -> Decision:
        """``POST /v1/decisions/authenticate``: the token alone, for requests no action covers."""
        return await self._decision("/v1/decisions/authenticate", {"token": token, "server": server})

    async def filter_list(self, token: str, server: str, kind: ListKind, items: list[dict[str, Any]]) -> ListDecision:
        """``POST /v1/decisions/list``: which of `items` (by name, or uri for resources) the caller may see."""
        r = await self._post("/v1/decisions/list", {"token": token, "server": server, "kind": kind, "items": items})
        if isinstance(r, str):
            return list_denial(denial("toolgate_unavailable", 503, r))
        status, parsed = r
        if status != 200:
            return list_denial(denial_for_answer(status, parsed))
        t = _as_list(parsed)
        return t if t is not None else list_denial(denial("toolgate_unavailable", 503, "toolgate answered without a list"))

    async def aclose(self) -> None:
        """Closes the pooled connections."""
        await self._client.aclose()
