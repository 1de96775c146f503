"""A Python MCP server on the official SDK, guarded by toolgate.

With toolgate running (`make run`): .venv/bin/python clients/python/examples/server.py
"""

import os
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from mcp.server.mcpserver import MCPServer

from toolgate_guard import GuardedApp, HttpDecider, ToolgateGuard

# Every handler that runs is recorded here: the example's stand-in for a side effect.
ran: list[tuple[str, dict[str, Any]]] = []


def build_server() -> MCPServer:
    server = MCPServer("refunds")

    @server.tool(name="refunds.create", description="Refund (part of) an order.")
    def refunds_create(order_id: str, amount: float, currency: str) -> str:
        ran.append(("refunds.create", {"order_id": order_id, "amount": amount}))
        return f"refunded {amount} {currency} on {order_id}"

    @server.tool(name="invoices.read", description="Read one invoice.")
    def invoices_read(invoice_id: str) -> str:
        ran.append(("invoices.read", {"invoice_id": invoice_id}))
        return f"invoice {invoice_id}: 120.00 USD, paid"

    @server.tool(name="deploy.trigger", description="Deploy a service.")
    def deploy_trigger(service: str, environment: str) -> str:
        ran.append(("deploy.trigger", {"service": service, "environment": environment}))
        return f"deploying {service} to {environment}"

    @server.resource("docs://handbook/refunds", name="refund-handbook", mime_type="text/plain")
    def handbook() -> str:
        ran.append(("resources/read", {"uri": "docs://handbook/refunds"}))
        return "Refunds up to 100 USD need no approval."

    @server.resource("docs://internal/salaries", name="salaries", mime_type="text/plain")
    def salaries() -> str:
        ran.append(("resources/read", {"uri": "docs://internal/salaries"}))
        return "confidential"

    @server.prompt(name="refund_reply", description="Draft a reply to a refund request.")
    def refund_reply(order_id: str) -> str:
        ran.append(("prompts/get", {"order_id": order_id}))
        return f"Draft a friendly reply about the refund of order {order_id}."

    return server


def create_app(toolgate_url: str, resource: str) -> GuardedApp:
    """The guarded ASGI app: toolgate decides, authenticates and filters."""
    guard = ToolgateGuard(
        HttpDecider(toolgate_url, timeout=5.0),
        server_id="demo",  # the server's id in toolgate's config
        metadata={"resource": resource, "authorization_servers": ["https://auth.demo.toolgate.test"]},
    )
    return guard.protect(build_server())  # json_response=True etc. are passed to streamable_http_app


if __name__ == "__main__":
    resource = os.environ.get("MCP_RESOURCE", "http://127.0.0.1:3000/mcp")
    app = create_app(os.environ.get("TOOLGATE_URL", "http://127.0.0.1:8181"), resource)
    uvicorn.run(app, host="127.0.0.1", port=urlsplit(resource).port or 3000)
