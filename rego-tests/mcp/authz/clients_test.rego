package mcp.authz_test

import data.mcp.authz

_partner := {"sub": "pat", "roles": ["partner"]}

_search(client) := object.union(
	{
		"claims": _partner,
		"scopes": ["catalog:read"],
		"server": "partners",
		"action": "call",
		"tool": {"name": "catalog.search", "arguments": {"query": "lamps"}},
		"time": "2026-11-26T10:00:00Z",
	},
	client,
)

_listing(client) := object.union(_search(client), {"action": "list", "tool": {"name": "catalog.search"}})

test_listed_clients_allowed[note] if {
	some tc in [
		{"note": "metadata-document id listed exactly", "client": {"client": {"id": "https://app.partner.example/oauth/client.json", "host": "app.partner.example"}}},
		{"note": "plain id listed exactly", "client": {"client": {"id": "partner-cli"}}},
		{"note": "any metadata document on a listed host", "client": {"client": {"id": "https://agents.trusted.example/bots/7.json", "host": "agents.trusted.example"}}},
	]
	note := tc.note
	some input_doc in [_search(tc.client), _listing(tc.client)]
	d := authz.decision with input as input_doc
	d.allow == true
	d.reasons == []
}

test_unlisted_clients_denied[note] if {
	some tc in [
		{
			"note": "another document on the listed id's host",
			"client": {"client": {"id": "https://app.partner.example/other.json", "host": "app.partner.example"}},
			"reason": "client \"https://app.partner.example/other.json\" is not on the client allowlist of server \"partners\"",
		},
		{
			"note": "a host that only ends like a listed one",
			"client": {"client": {"id": "https://evil-agents.trusted.example.attacker.example/c.json", "host": "evil-agents.trusted.example.attacker.example"}},
			"reason": "client \"https://evil-agents.trusted.example.attacker.example/c.json\" is not on the client allowlist of server \"partners\"",
		},
		{
			"note": "a plain id equal to a listed host",
			"client": {"client": {"id": "agents.trusted.example"}},
			"reason": "client \"agents.trusted.example\" is not on the client allowlist of server \"partners\"",
		},
		{
			"note": "a host that is not a string",
			"client": {"client": {"id": "x", "host": ["agents.trusted.example"]}},
			"reason": "client \"x\" is not on the client allowlist of server \"partners\"",
		},
		{
			"note": "no client",
			"client": {},
			"reason": "the token names no client; server \"partners\" admits only the clients it lists",
		},
		{
			"note": "empty client id",
			"client": {"client": {"id": "", "host": "agents.trusted.example"}},
			"reason": "the token names no client; server \"partners\" admits only the clients it lists",
		},
	]
	note := tc.note
	some input_doc in [_search(tc.client), _listing(tc.client)]
	d := authz.decision with input as input_doc
	d.allow == false
	d.reasons == [tc.reason]
	d.required_scopes == []
}

test_servers_without_allowlist_admit_any_client[note] if {
	some tc in [
		{"note": "a client", "client": {"client": {"id": "https://anyone.example/c.json", "host": "anyone.example"}}},
		{"note": "no client", "client": {}},
	]
	note := tc.note
	d := authz.decision with input as object.union(
		{
			"claims": {"sub": "fred", "roles": ["finance"]},
			"scopes": ["invoices:read"],
			"server": "demo",
			"action": "call",
			"tool": {"name": "invoices.read", "arguments": {"invoice_id": "inv-9"}},
		},
		tc.client,
	)
	d.allow == true
}

test_empty_allowlist_admits_no_client if {
	d := authz.decision with input as _search({"client": {"id": "partner-cli"}})
		with data.catalog.servers as {"partners": {
			"clients": {},
			"tools": {"catalog.search": {"roles": ["partner"], "scopes": ["catalog:read"]}},
		}}
	d.allow == false
	d.reasons == ["client \"partner-cli\" is not on the client allowlist of server \"partners\""]
}

test_step_up_only_for_admitted_clients if {
	d := authz.decision with input as object.union(_search({"client": {"id": "stranger"}}), {"scopes": []})
	d.allow == false
	d.required_scopes == []
	count(d.reasons) == 2
}
