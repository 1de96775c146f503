package mcp.authz_test

import data.mcp.authz

_support := {"sub": "alice", "roles": ["support_agent"], "projects": ["web"]}

_finance := {"sub": "fred", "roles": ["finance"]}

_engineer := {"sub": "erin", "roles": ["engineer"], "projects": ["api", "web"]}

_release := {"sub": "rita", "roles": ["release_manager"]}

_refund(args) := {"name": "refunds.create", "arguments": args}

_call(claims, scopes, tool) := {
	"claims": claims,
	"scopes": scopes,
	"server": "demo",
	"action": "call",
	"tool": tool,
	"time": "2026-11-26T10:00:00Z",
}

_list(claims, scopes, name) := object.union(_call(claims, scopes, {"name": name}), {"action": "list"})

_ok_refund := {"order_id": "o-1", "amount": 50, "currency": "USD"}

test_allowed[note] if {
	some tc in [
		{"note": "support refunds within limit", "input": _call(_support, ["refunds:write"], _refund(_ok_refund))},
		{"note": "finance refunds above the support limit", "input": _call(_finance, ["refunds:write"], _refund(object.union(_ok_refund, {"amount": 4000})))},
		{"note": "role from a scope mapping", "input": _call({"sub": "s"}, ["refunds:write", "role:support"], _refund(_ok_refund))},
		{"note": "invoice read", "input": _call(_finance, ["invoices:read"], {"name": "invoices.read", "arguments": {"invoice_id": "inv-9"}})},
		{"note": "issue in own project", "input": _call(_engineer, ["issues:write"], {"name": "issues.create", "arguments": {"project": "api", "title": "t"}})},
		{"note": "staging deploy by engineer", "input": _call(_engineer, ["deploy:write"], {"name": "deploy.trigger", "arguments": {"service": "api", "environment": "staging"}})},
		{"note": "production deploy by release manager", "input": _call(_release, ["deploy:write", "deploy:production"], {"name": "deploy.trigger", "arguments": {"service": "api", "environment": "production"}})},
		{"note": "list needs only the role", "input": _list(_engineer, [], "deploy.trigger")},
	]
	note := tc.note
	d := authz.decision with input as tc.input
	d.allow == true
	d.reasons == []
	d.required_scopes == []
}

test_denied[note] if {
	some tc in [
		{
			"note": "unknown tool",
			"input": _call(_support, ["refunds:write"], {"name": "db.drop", "arguments": {}}),
			"reason": "tool \"db.drop\" is not in the catalog of server \"demo\"; unknown tools are denied",
		},
		{
			"note": "unknown server",
			"input": object.union(_call(_support, ["refunds:write"], _refund(_ok_refund)), {"server": "other"}),
			"reason": "server \"other\" is not in the tool catalog",
		},
		{
			"note": "broad but unrelated scopes",
			"input": _call({"sub": "x", "roles": ["engineer"]}, ["admin", "issues:write", "deploy:write", "deploy:production"], _refund(_ok_refund)),
			"reason": "tool \"refunds.create\" requires one of the roles [\"finance\", \"support_agent\"]; the caller has [\"engineer\"]",
		},
		{
			"note": "missing subject",
			"input": _call({"roles": ["support_agent"]}, ["refunds:write"], _refund(_ok_refund)),
			"reason": "the token has no subject (sub) claim",
		},
		{
			"note": "empty subject",
			"input": _call({"sub": "", "roles": ["support_agent"]}, ["refunds:write"], _refund(_ok_refund)),
			"reason": "the token has no subject (sub) claim",
		},
		{
			"note": "no claims at all",
			"input": {"scopes": [], "server": "demo", "action": "call", "tool": {"name": "refunds.create"}},
			"reason": "the token has no subject (sub) claim",
		},
		{
			"note": "refund above support limit",
			"input": _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"amount": 150}))),
			"reason": "argument \"amount\" = 150 exceeds the caller's limit of 100",
		},
		{
			"note": "refund below minimum",
			"input": _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"amount": 0}))),
			"reason": "argument \"amount\" must be at least 0.01",
		},
		{
			"note": "refund amount as string",
			"input": _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"amount": "50"}))),
			"reason": "argument \"amount\" must be a number, got string",
		},
		{
			"note": "refund currency not allowed",
			"input": _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"currency": "BTC"}))),
			"reason": "argument \"currency\" must be one of [\"USD\", \"EUR\", \"GBP\"]",
		},
		{
			"note": "refund missing amount",
			"input": _call(_support, ["refunds:write"], _refund({"order_id": "o-1", "currency": "USD"})),
			"reason": "argument \"amount\" is required",
		},
		{
			"note": "refund with extra argument",
			"input": _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"notify": true}))),
			"reason": "argument \"notify\" is not allowed for tool \"refunds.create\"",
		},
		{
			"note": "refund with long reason",
			"input": _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"reason": concat("", ["x" | some _ in numbers.range(1, 501)])}))),
			"reason": "argument \"reason\" is longer than 500 characters",
		},
		{
			"note": "issue in a foreign project",
			"input": _call(_engineer, ["issues:write"], {"name": "issues.create", "arguments": {"project": "payments", "title": "t"}}),
			"reason": "argument \"project\" = payments is not among the caller's \"projects\"",
		},
		{
			"note": "issue without projects claim",
			"input": _call({"sub": "s", "roles": ["engineer"]}, ["issues:write"], {"name": "issues.create", "arguments": {"project": "api", "title": "t"}}),
			"reason": "argument \"project\" = api is not among the caller's \"projects\"",
		},
		{
			"note": "production deploy by engineer",
			"input": _call(_engineer, ["deploy:write", "deploy:production"], {"name": "deploy.trigger", "arguments": {"service": "api", "environment": "production"}}),
			"reason": "argument \"environment\" = \"production\" requires one of the roles [\"release_manager\"]",
		},
		{
			"note": "list of a tool outside the caller's roles",
			"input": _list(_support, ["refunds:write"], "deploy.trigger"),
			"reason": "tool \"deploy.trigger\" requires one of the roles [\"engineer\", \"release_manager\"]; the caller has [\"support_agent\"]",
		},
		{
			"note": "unsupported action",
			"input": object.union(_call(_support, ["refunds:write"], _refund(_ok_refund)), {"action": "delete"}),
			"reason": "action \"delete\" is not supported",
		},
		{
			"note": "mixed denial offers no step-up",
			"input": _call(_engineer, ["deploy:write"], {"name": "deploy.trigger", "arguments": {"service": "api", "environment": "production"}}),
			"reason": "argument \"environment\" = \"production\" requires one of the roles [\"release_manager\"]",
		},
	]
	note := tc.note
	d := authz.decision with input as tc.input
	d.allow == false
	tc.reason in d.reasons
	d.required_scopes == []
}

test_role_without_limit_is_denied if {
	d := authz.decision with input as _call(_support, ["refunds:write"], _refund(_ok_refund))
		with data.catalog.servers as {"demo": {"tools": {"refunds.create": {
			"roles": ["support_agent"],
			"scopes": ["refunds:write"],
			"arguments": {"amount": {"type": "number", "max_by_role": {"finance": 10}}},
		}}}}
	d.allow == false
	d.reasons == ["argument \"amount\" has no limit for the caller's roles [\"support_agent\"]"]
}

test_step_up[note] if {
	some tc in [
		{
			"note": "missing tool scope",
			"input": _call(_support, ["invoices:read"], _refund(_ok_refund)),
			"scopes": ["refunds:write"],
		},
		{
			"note": "argument-dependent scope: every scope the call needs",
			"input": _call(_release, ["deploy:write"], {"name": "deploy.trigger", "arguments": {"service": "api", "environment": "production"}}),
			"scopes": ["deploy:production", "deploy:write"],
		},
		{
			"note": "no scopes at all",
			"input": _call(_finance, [], {"name": "invoices.read", "arguments": {"invoice_id": "i"}}),
			"scopes": ["invoices:read"],
		},
	]
	note := tc.note
	d := authz.decision with input as tc.input
	d.allow == false
	d.required_scopes == tc.scopes
	count(d.reasons) == 1
}

test_step_up_never_asks_for_offline_access if {
	d := authz.decision with input as _call(_finance, [], {"name": "invoices.read", "arguments": {"invoice_id": "i"}})
		with data.catalog.servers as {"demo": {"tools": {"invoices.read": {
			"roles": ["finance"],
			"scopes": ["invoices:read", "offline_access", "billing"],
		}}}}
	d.required_scopes == ["billing", "invoices:read"]
}

test_arguments_absent_or_not_an_object[note] if {
	some tc in [
		{"note": "null arguments", "tool": {"name": "invoices.read", "arguments": null}},
		{"note": "no arguments", "tool": {"name": "invoices.read"}},
		{"note": "array arguments", "tool": {"name": "invoices.read", "arguments": ["inv-1"]}},
	]
	note := tc.note
	d := authz.decision with input as _call(_finance, ["invoices:read"], tc.tool)
	d.allow == false
	d.reasons == ["argument \"invoice_id\" is required"]
}

test_roles_claim_ignores_non_strings if {
	r := authz.roles with input as {"claims": {"roles": ["finance", 7, {"a": 1}]}, "scopes": ["role:support", "unmapped"]}
	r == {"finance", "support_agent"}
}
