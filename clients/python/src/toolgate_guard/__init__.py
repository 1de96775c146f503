"""toolgate's MCP guard for Python MCP servers on the official SDK's
Streamable HTTP transport (ASGI).

    decider = HttpDecider("http://127.0.0.1:8181")
    guard = ToolgateGuard(decider, "demo", metadata={"resource": ..., "authorization_servers": [...]})
    app = guard.protect(server)          # server: mcp.server.mcpserver.MCPServer

Every tools/call, resources/read, prompts/get and completion/complete is
decided by toolgate before any handler runs, every other request is
authenticated by toolgate, and tools/list, resources/list and prompts/list
are filtered per caller. Anything but an explicit allow is a deny.
"""

from .decider import Decision, HttpDecider, ListDecision
from .guard import GuardedApp, ToolgateGuard, metadata_path
from .headers import HEADER_MISMATCH, header_mismatch
from .messages import DECIDED_METHODS

__all__ = [
    "DECIDED_METHODS",
    "HEADER_MISMATCH",
    "Decision",
    "GuardedApp",
    "HttpDecider",
    "ListDecision",
    "ToolgateGuard",
    "header_mismatch",
    "metadata_path",
]
