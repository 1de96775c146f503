package mcp.authz_test

import data.mcp.authz

# decisions answers, item by item, exactly what decision answers for the
# input with that item's subject: every branch of a list decision, each kind.

_list_input(claims, server, kind, items) := {
	"claims": claims,
	"scopes": [],
	"server": server,
	"action": "list",
	"kind": kind,
	"items": items,
	"time": "2026-11-26T10:00:00Z",
}

_tools := [
	{"tool": {"name": "refunds.create", "arguments": {}, "annotations": {}}},
	{"tool": {"name": "deploy.trigger", "arguments": {}, "annotations": {"readOnlyHint": false}}},
	{"tool": {"name": "not.catalogued", "arguments": {}, "annotations": {}}},
	{"tool": {"name": "invoices.read", "arguments": {}, "annotations": {}}},
	{"tool": {"arguments": {}, "annotations": {}}},
	{"tool": {"name": "catalog.search", "arguments": {}, "annotations": {}}},
]

_resources := [
	{"resource": {"uri": "docs://handbook/refunds"}},
	{"resource": {"uri": "invoices://inv-1"}},
	{"resource": {"uri": "invoices://2026/../inv-1"}},
	{"resource": {"uri": "invoices://a%2Fb"}},
	{"resource": {"uri": "invoicesX://inv-1"}},
	{"resource": {"uri": "docs://internal/salaries"}},
	{"resource": {}},
]

_prompts := [
	{"prompt": {"name": "refund_reply", "arguments": {}}},
	{"prompt": {"name": "nope", "arguments": {}}},
]

_callers := [
	{"sub": "alice", "roles": ["support_agent"]},
	{"sub": "fred", "roles": ["finance"]},
	{"sub": "erin", "roles": ["engineer"]},
	{"sub": "nobody"},
	{"roles": ["finance"]},
]

_cases contains [claims, server, kind, items] if {
	some claims in _callers
	some server in ["demo", "partners", "absent"]
	some [kind, items] in [["tool", _tools], ["resource", _resources], ["prompt", _prompts], ["folder", _tools]]
}

# Item i of the list as decision sees it alone: what toolgate evaluated before
# a list was one evaluation.
_alone(list) := [object.union(object.remove(list, {"items"}), item) | some item in list.items]

test_decisions_match_decision_item_by_item[[claims, server, kind]] if {
	some [claims, server, kind, items] in _cases
	list := _list_input(claims, server, kind, items)
	batched := [a.allow | some a in authz.decisions] with input as list
	alone := [d.allow | some one in _alone(list); d := authz.decision with input as one]
	batched == alone
	count(batched) == count(items)
}

test_decisions_cover_allow_and_deny if {
	list := _list_input({"sub": "fred", "roles": ["finance"]}, "demo", "resource", _resources)
	batched := [a.allow | some a in authz.decisions] with input as list
	batched == [true, true, false, false, false, false, false]
	alone := [d.allow | some one in _alone(list); d := authz.decision with input as one]
	batched == alone
}

test_decisions_honour_the_client_allowlist[note] if {
	some tc in [
		{"note": "listed client", "client": {"id": "partner-cli"}, "want": [false, false, false, false, false, true]},
		{"note": "unlisted client", "client": {"id": "other"}, "want": [false, false, false, false, false, false]},
	]
	note := tc.note
	list := object.union(_list_input({"sub": "p", "roles": ["partner"]}, "partners", "tool", _tools), {"client": tc.client})
	batched := [a.allow | some a in authz.decisions] with input as list
	batched == tc.want
	alone := [d.allow | some one in _alone(list); d := authz.decision with input as one]
	batched == alone
}

test_decisions_longest_prefix_and_exact_entries if {
	servers := {"demo": {
		"resources": {"files://a/b/exact": {"roles": ["finance"]}},
		"resource_prefixes": {
			"files://": {"roles": ["support_agent"]},
			"files://a/": {"roles": ["finance"]},
			"files://a/b/c/": {"roles": ["engineer"]},
		},
	}}
	items := [{"resource": {"uri": u}} | some u in ["files://x", "files://a/x", "files://a/b/c/d", "files://a/b/exact", "files://a/b/c"]]
	list := _list_input({"sub": "fred", "roles": ["finance"]}, "demo", "resource", items)
	batched := [a.allow | some a in authz.decisions] with input as list with data.catalog.servers as servers
	batched == [false, true, false, true, true]
	alone := [d.allow | some one in _alone(list); d := authz.decision with input as one with data.catalog.servers as servers]
	batched == alone
}

test_decisions_only_for_lists if {
	not authz.decisions with input as object.union(_list_input({"sub": "a"}, "demo", "tool", _tools), {"action": "call"})
}
