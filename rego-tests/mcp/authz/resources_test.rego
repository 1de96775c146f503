package mcp.authz_test

import data.mcp.authz

_base(claims, scopes, action) := {
	"claims": claims,
	"scopes": scopes,
	"server": "demo",
	"action": action,
	"time": "2026-11-26T10:00:00Z",
}

_read(claims, scopes, uri) := object.union(_base(claims, scopes, "read_resource"), {"resource": {"uri": uri}})

_prompt(claims, scopes, name) := object.union(_base(claims, scopes, "get_prompt"), {"prompt": {"name": name, "arguments": {}}})

_complete(claims, scopes, ref) := object.union(_base(claims, scopes, "complete"), {"completion": {
	"ref": ref,
	"argument": {"name": "order_id", "value": "o-"},
	"context": {"arguments": {}},
}})

_list_of(claims, kind, subject) := object.union_n([_base(claims, [], "list"), {"kind": kind}, subject])

_alice := {"sub": "alice", "roles": ["support_agent"]}

_fred := {"sub": "fred", "roles": ["finance"]}

_erin := {"sub": "erin", "roles": ["engineer"]}

test_resource_prompt_completion_allowed[note] if {
	some tc in [
		{"note": "exact resource", "input": _read(_alice, [], "docs://handbook/refunds")},
		{"note": "resource under a prefix", "input": _read(_fred, ["invoices:read"], "invoices://inv-9")},
		{"note": "resource under a prefix, deeper", "input": _read(_fred, ["invoices:read"], "invoices://2026/inv-9")},
		{"note": "prompt", "input": _prompt(_alice, [], "refund_reply")},
		{"note": "completion of a prompt argument", "input": _complete(_alice, [], {"type": "ref/prompt", "name": "refund_reply"})},
		{"note": "completion of a resource template", "input": _complete(_fred, ["invoices:read"], {"type": "ref/resource", "uri": "invoices://{invoice_id}"})},
		{"note": "completion of a resource URI without variables", "input": _complete(_alice, [], {"type": "ref/resource", "uri": "docs://handbook/refunds"})},
		{"note": "list of a resource", "input": _list_of(_alice, "resource", {"resource": {"uri": "docs://handbook/refunds"}})},
		{"note": "list of a prefixed resource needs only the role", "input": _list_of(_fred, "resource", {"resource": {"uri": "invoices://inv-1"}})},
		{"note": "list of a prompt", "input": _list_of(_fred, "prompt", {"prompt": {"name": "refund_reply"}})},
		{"note": "list of a tool with kind", "input": _list_of(_erin, "tool", {"tool": {"name": "deploy.trigger"}})},
	]
	note := tc.note
	d := authz.decision with input as tc.input
	d.allow == true
	d.reasons == []
	d.required_scopes == []
}

test_resource_prompt_completion_denied[note] if {
	some tc in [
		{
			"note": "unlisted resource",
			"input": _read(_alice, [], "docs://internal/salaries"),
			"reason": "resource \"docs://internal/salaries\" is not in the catalog of server \"demo\"; unknown resources are denied",
		},
		{
			"note": "a prefix must end at a slash of the URI",
			"input": _read(_fred, ["invoices:read"], "invoices:/x"),
			"reason": "resource \"invoices:/x\" is not in the catalog of server \"demo\"; unknown resources are denied",
		},
		{
			"note": "an exact entry is not a prefix",
			"input": _read(_alice, [], "docs://handbook/refunds/../salaries"),
			"reason": "resource \"docs://handbook/refunds/../salaries\" is not in the catalog of server \"demo\"; unknown resources are denied",
		},
		{
			"note": "dot segment under a prefix",
			"input": _read(_fred, ["invoices:read"], "invoices://a/../../etc"),
			"reason": "resource URI \"invoices://a/../../etc\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "trailing dot segment",
			"input": _read(_fred, ["invoices:read"], "invoices://a/.."),
			"reason": "resource URI \"invoices://a/..\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "single dot segment",
			"input": _read(_fred, ["invoices:read"], "invoices://a/./b"),
			"reason": "resource URI \"invoices://a/./b\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "trailing single dot",
			"input": _read(_fred, ["invoices:read"], "invoices://a/."),
			"reason": "resource URI \"invoices://a/.\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "encoded dot",
			"input": _read(_fred, ["invoices:read"], "invoices://a/%2E%2e/b"),
			"reason": "resource URI \"invoices://a/%2E%2e/b\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "encoded slash",
			"input": _read(_fred, ["invoices:read"], "invoices://a%2fb"),
			"reason": "resource URI \"invoices://a%2fb\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "encoded backslash",
			"input": _read(_fred, ["invoices:read"], "invoices://a%5Cb"),
			"reason": "resource URI \"invoices://a%5Cb\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "backslash",
			"input": _read(_fred, ["invoices:read"], "invoices://a\\b"),
			"reason": "resource URI \"invoices://a\\\\b\" has a dot segment, an encoded separator or a backslash; denied",
		},
		{
			"note": "resource outside the caller's roles",
			"input": _read(_alice, ["invoices:read"], "invoices://inv-9"),
			"reason": "resource \"invoices://inv-9\" requires one of the roles [\"finance\"]; the caller has [\"support_agent\"]",
		},
		{
			"note": "unlisted prompt",
			"input": _prompt(_alice, [], "jailbreak"),
			"reason": "prompt \"jailbreak\" is not in the catalog of server \"demo\"; unknown prompts are denied",
		},
		{
			"note": "prompt outside the caller's roles",
			"input": _prompt(_erin, [], "refund_reply"),
			"reason": "prompt \"refund_reply\" requires one of the roles [\"finance\", \"support_agent\"]; the caller has [\"engineer\"]",
		},
		{
			"note": "completion of an unlisted prompt",
			"input": _complete(_alice, [], {"type": "ref/prompt", "name": "jailbreak"}),
			"reason": "prompt \"jailbreak\" is not in the catalog of server \"demo\"; unknown prompts are denied",
		},
		{
			"note": "completion of a prompt outside the caller's roles",
			"input": _complete(_erin, [], {"type": "ref/prompt", "name": "refund_reply"}),
			"reason": "prompt \"refund_reply\" requires one of the roles [\"finance\", \"support_agent\"]; the caller has [\"engineer\"]",
		},
		{
			"note": "completion of an unlisted resource template",
			"input": _complete(_fred, ["invoices:read"], {"type": "ref/resource", "uri": "secrets://{name}"}),
			"reason": "resource \"secrets://\" is not in the catalog of server \"demo\"; unknown resources are denied",
		},
		{
			"note": "completion with an unknown reference type",
			"input": _complete(_alice, [], {"type": "ref/tool", "name": "refunds.create"}),
			"reason": "the request names no tool, resource or prompt",
		},
		{
			"note": "read without a resource",
			"input": _base(_alice, [], "read_resource"),
			"reason": "the request names no tool, resource or prompt",
		},
		{
			"note": "list of an unlisted resource",
			"input": _list_of(_alice, "resource", {"resource": {"uri": "docs://internal/salaries"}}),
			"reason": "resource \"docs://internal/salaries\" is not in the catalog of server \"demo\"; unknown resources are denied",
		},
		{
			"note": "list of a prompt outside the caller's roles",
			"input": _list_of(_erin, "prompt", {"prompt": {"name": "refund_reply"}}),
			"reason": "prompt \"refund_reply\" requires one of the roles [\"finance\", \"support_agent\"]; the caller has [\"engineer\"]",
		},
		{
			"note": "list of an unknown kind",
			"input": _list_of(_alice, "sampling", {}),
			"reason": "list kind \"sampling\" is not supported",
		},
		{
			"note": "list of a resource on a server without a catalog",
			"input": object.union(_list_of(_alice, "resource", {"resource": {"uri": "docs://handbook/refunds"}}), {"server": "other"}),
			"reason": "server \"other\" is not in the tool catalog",
		},
	]
	note := tc.note
	d := authz.decision with input as tc.input
	d.allow == false
	tc.reason in d.reasons
	d.required_scopes == []
}

test_resource_prompt_completion_step_up[note] if {
	some tc in [
		{
			"note": "prefixed resource without its scope",
			"input": _read(_fred, [], "invoices://inv-9"),
			"reason": "resource \"invoices://inv-9\" needs the scopes [\"invoices:read\"]; the token lacks [\"invoices:read\"]",
		},
		{
			"note": "completion of a template without the resource's scope",
			"input": _complete(_fred, [], {"type": "ref/resource", "uri": "invoices://{invoice_id}"}),
			"reason": "resource \"invoices://\" needs the scopes [\"invoices:read\"]; the token lacks [\"invoices:read\"]",
		},
	]
	note := tc.note
	d := authz.decision with input as tc.input
	d.allow == false
	d.required_scopes == ["invoices:read"]
	d.reasons == [tc.reason]
}

test_longest_prefix_wins if {
	d := authz.decision with input as _read(_alice, [], "files://team/support/faq.md")
		with data.catalog.servers as {"demo": {"resource_prefixes": {
			"files://": {"roles": ["finance"]},
			"files://team/support/": {"roles": ["support_agent"]},
		}}}
	d.allow == true
}

test_exact_entry_wins_over_prefix if {
	d := authz.decision with input as _read(_alice, [], "files://team/payroll.csv")
		with data.catalog.servers as {"demo": {
			"resource_prefixes": {"files://": {"roles": ["support_agent"]}},
			"resources": {"files://team/payroll.csv": {"roles": ["finance"]}},
		}}
	d.allow == false
}
