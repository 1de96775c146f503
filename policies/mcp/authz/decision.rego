# METADATA
# title: MCP tool authorization
# description: |
#   Decides whether a verified caller may see (action "list", with kind tool,
#   resource or prompt) or use one MCP tool (call), resource (read_resource),
#   prompt (get_prompt) or completion (complete). Roles come from the token's
#   `roles` claim and from data.catalog.scope_roles; the catalog in
#   data.catalog.servers says which roles and scopes each entry needs and how
#   tool arguments are limited. Everything not explicitly listed is denied,
#   and every deny says why.
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

_actions := {"call", "list", "read_resource", "get_prompt", "complete"}

# Lists said nothing about kind before resources and prompts had actions.
default _list_kind := "tool"

_list_kind := input.kind

# What a request is about: the kind of catalog entry and its key.
_ref := {"kind": "tool", "id": input.tool.name} if input.action == "call"

_ref := {"kind": _list_kind, "id": _list_id} if input.action == "list"

_ref := {"kind": "resource", "id": input.resource.uri} if input.action == "read_resource"

_ref := {"kind": "prompt", "id": input.prompt.name} if input.action == "get_prompt"

_ref := {"kind": "prompt", "id": input.completion.ref.name} if {
	input.action == "complete"
	input.completion.ref.type == "ref/prompt"
}

# A resource template completes values of the URIs it expands to: the part
# before its first variable is looked up like a URI (see _resource).
_ref := {"kind": "resource", "id": _template_literal(input.completion.ref.uri)} if {
	input.action == "complete"
	input.completion.ref.type == "ref/resource"
}

_list_id := input.tool.name if _list_kind == "tool"

_list_id := input.resource.uri if _list_kind == "resource"

_list_id := input.prompt.name if _list_kind == "prompt"

_template_literal(uri) := substring(uri, 0, indexof(uri, "{")) if contains(uri, "{")

_template_literal(uri) := uri if not contains(uri, "{")

_entry := _server.tools[_ref.id] if _ref.kind == "tool"

_entry := _server.prompts[_ref.id] if _ref.kind == "prompt"

_entry := _resource(_ref.id) if _ref.kind == "resource"

# A resource is listed by its exact URI, or under the longest listed prefix
# that ends at a "/" of the URI. Each candidate prefix is one key lookup.
_resource(uri) := _server.resources[uri]

_resource(uri) := _server.resource_prefixes[_longest_prefix(uri)] if not _server.resources[uri]

# No listed prefix is longer than this, so only the URI's first that many
# characters can hold one: the candidates are bounded by the catalog, not by
# the URI (a URI full of "/" would otherwise cost its length squared).
_prefix_span := max([count(p) | some p, _ in _server.resource_prefixes])

_longest_prefix(uri) := prefixes[count(prefixes) - 1] if {
	head := substring(uri, 0, _prefix_span)
	prefixes := [p |
		some i in indexof_n(head, "/")
		p := substring(head, 0, i + 1)
		_server.resource_prefixes[p]
	]
	count(prefixes) > 0
}

_denials := _base_denials | _scope_denials

_base_denials contains "the token has no subject (sub) claim" if not _has_subject

_base_denials contains sprintf("action %q is not supported", [input.action]) if not input.action in _actions

_base_denials contains sprintf("list kind %q is not supported", [_list_kind]) if {
	input.action == "list"
	not _list_kind in {"tool", "resource", "prompt"}
}

_base_denials contains "the request names no tool, resource or prompt" if {
	input.action in _actions
	not _ref.id
}

_base_denials contains sprintf("server %q is not in the tool catalog", [input.server]) if not _server

_base_denials contains msg if {
	_server
	_ref.id
	not _entry
	msg := sprintf("%s %q is not in the catalog of server %q; unknown %ss are denied", [
		_ref.kind,
		_ref.id,
		input.server,
		_ref.kind,
	])
}

_base_denials contains msg if {
	_ref.kind == "resource"
	_unsafe_uri(_ref.id)
	msg := sprintf("resource URI %q has a dot segment, an encoded separator or a backslash; denied", [_ref.id])
}

_base_denials contains msg if {
	_entry
	count(roles & {r | some r in _entry.roles}) == 0
	msg := sprintf("%s %q requires one of the roles %v; the caller has %v", [
		_ref.kind,
		_ref.id,
		sort(_entry.roles),
		sort(roles),
	])
}

_base_denials contains msg if {
	input.action == "call"
	some msg in _argument_denials
}

# Dot segments and encoded separators are resolved differently by different
# servers, so a URI carrying one could escape the prefix it was allowed under.
_unsafe_uri(uri) if contains(uri, "/../")

_unsafe_uri(uri) if contains(uri, "/./")

_unsafe_uri(uri) if endswith(uri, "/..")

_unsafe_uri(uri) if endswith(uri, "/.")

_unsafe_uri(uri) if contains(uri, "\\")

_unsafe_uri(uri) if contains(lower(uri), "%2e")

_unsafe_uri(uri) if contains(lower(uri), "%2f")

_unsafe_uri(uri) if contains(lower(uri), "%5c")

_has_subject if {
	is_string(input.claims.sub)
	input.claims.sub != ""
}

# Scopes a call needs: the tool's own, plus any its argument values demand
# (e.g. deploying to production). Reading a resource, getting a prompt or
# completing one of their arguments needs the entry's scopes. Listing needs
# only the role.
_required_scopes contains scope if {
	input.action in {"call", "read_resource", "get_prompt", "complete"}
	some scope in _entry.scopes
}

_required_scopes contains scope if {
	input.action == "call"
	some name, spec in _tool.arguments
	some scope in spec.scopes_by_value[_args[name]]
}

_missing_scopes := _required_scopes - _scopes

_scope_denials contains msg if {
	count(_missing_scopes) > 0
	msg := sprintf("%s %q needs the scopes %v; the token lacks %v", [
		_ref.kind,
		_ref.id,
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
