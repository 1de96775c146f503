# List filtering in one evaluation: what `decision` answers for each listed
# item, computed once for the whole list. toolgate evaluates this rule (when
# a policy defines it) instead of `decision` once per item; its answers must
# be exactly decision's, which rego-tests/mcp/authz/list_test.rego checks.
package mcp.authz

# METADATA
# title: Decisions
# description: |
#   One answer per element of input.items, in order: decision's allow for the
#   input with that item's subject merged in. See README, "Policy contract";
#   toolgate evaluates it only with action "list".
# entrypoint: true
decisions := [{"allow": _listed(item)} | some item in input.items] if input.action == "list"

# What does not depend on the item: a subject, a supported kind, a catalogued
# server and an admitted client.
_list_shared_ok if {
	_has_subject
	_list_kind in {"tool", "resource", "prompt"}
	_server
	count(_client_denials) == 0
}

default _listed(_) := false

_listed(item) if {
	_list_shared_ok
	entry := _listed_entry(item)
	count(roles & {r | some r in entry.roles}) > 0
}

_listed_entry(item) := _server.tools[item.tool.name] if _list_kind == "tool"

_listed_entry(item) := _server.prompts[item.prompt.name] if _list_kind == "prompt"

_listed_entry(item) := _resource(item.resource.uri) if {
	_list_kind == "resource"
	not _unsafe_uri(item.resource.uri)
}
