# METADATA
# title: MCP tool authorization
# description: |
#   Decides whether a verified caller may see (action "list") or run
#   (action "call") one MCP tool. Roles come from the token's `roles` claim and
#   from data.catalog.scope_roles; the tool catalog in data.catalog.servers says
#   which roles and scopes each tool needs and how its arguments are limited.
#   Everything not explicitly allowed is denied, and every deny says why.
package mcp.authz

import data.catalog

# METADATA
# title: Decision
# description: The contract toolgate evaluates. See README, "Policy contract".
# entrypoint: true
decision := {
	"allow": count(_denials) == 0,
	"reasons": sort([r | some r in _denials]),
	"required_scopes": _step_up_scopes,
}

# Roles of the caller: claimed by the issuer, or implied by a granted scope.
roles contains role if {
	some role in input.claims.roles
	is_string(role)
}

roles contains role if {
	some scope in input.scopes
	some role in catalog.scope_roles[scope]
}

_scopes := {s | some s in input.scopes}

# Looked up by key: wasm has no rule indexing, so never iterate the catalog.
_server := catalog.servers[input.server]

_tool := _server.tools[input.tool.name]

default _args := {}

_args := input.tool.arguments if is_object(input.tool.arguments)

_denials := _base_denials | _scope_denials

_base_denials contains "the token has no subject (sub) claim" if not _has_subject

_base_denials contains sprintf("action %q is not supported", [input.action]) if not input.action in {"call", "list"}

_base_denials contains sprintf("server %q is not in the tool catalog", [input.server]) if not _server

_base_denials contains msg if {
	_server
	not _tool
	msg := sprintf("tool %q is not in the catalog of server %q; unknown tools are denied", [input.tool.name, input.server])
}

_base_denials contains msg if {
	_tool
	count(roles & {r | some r in _tool.roles}) == 0
	msg := sprintf("tool %q requires one of the roles %v; the caller has %v", [
		input.tool.name,
		sort(_tool.roles),
		sort(roles),
	])
}

_base_denials contains msg if {
	input.action == "call"
	some msg in _argument_denials
}

_has_subject if {
	is_string(input.claims.sub)
	input.claims.sub != ""
}

# Scopes a call needs: the tool's own, plus any its argument values demand
# (e.g. deploying to production). Listing a tool needs only the role.
_required_scopes contains scope if {
	input.action == "call"
	some scope in _tool.scopes
}

_required_scopes contains scope if {
	input.action == "call"
	some name, spec in _tool.arguments
	some scope in spec.scopes_by_value[_args[name]]
}

_missing_scopes := _required_scopes - _scopes

_scope_denials contains msg if {
	count(_missing_scopes) > 0
	msg := sprintf("tool %q needs the scopes %v; the token lacks %v", [
		input.tool.name,
		sort(_required_scopes),
		sort(_missing_scopes),
	])
}

# Step-up is offered only when scope is the one thing missing; the challenge
# lists every scope the call needs, never offline_access.
default _step_up_scopes := []

_step_up_scopes := sort([s | some s in _required_scopes; s != "offline_access"]) if {
	count(_base_denials) == 0
	count(_scope_denials) > 0
}
