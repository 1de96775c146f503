package system.log_test

import data.system.log

_call(server, tool, args) := {"input": {"server": server, "action": "call", "tool": {"name": tool, "arguments": args}}}

test_refund_card_numbers_are_masked if {
	m := log.mask with input as _call("demo", "refunds.create", {"card_number": "4111111111111111"})
	m == {
		"/input/tool/arguments/card_number",
		{"op": "upsert", "path": "/input/tool/arguments/card_last4", "value": "1111"},
	}
}

test_declared_arguments_stay_visible[note] if {
	some tc in [
		{"note": "refund", "tool": "refunds.create", "args": {"order_id": "o-1", "amount": 5, "currency": "EUR", "reason": "late"}},
		{"note": "invoice", "tool": "invoices.read", "args": {"invoice_id": "inv-1"}},
		{"note": "no arguments", "tool": "invoices.read", "args": {}},
	]
	note := tc.note
	count(log.mask) == 0 with input as _call("demo", tc.tool, tc.args)
}

test_undeclared_arguments_of_a_listed_tool_are_erased[note] if {
	some tc in [
		{"note": "cardNumber on refunds", "tool": "refunds.create", "args": {"order_id": "o-1", "cardNumber": "4111111111111111"}, "want": {"/input/tool/arguments/cardNumber"}},
		{"note": "card_number on invoices", "tool": "invoices.read", "args": {"invoice_id": "i", "card_number": "4111"}, "want": {"/input/tool/arguments/card_number"}},
		{"note": "pointer escaping", "tool": "invoices.read", "args": {"a/b": 1, "c~d": 2}, "want": {"/input/tool/arguments/a~1b", "/input/tool/arguments/c~0d"}},
	]
	note := tc.note
	m := log.mask with input as _call("demo", tc.tool, tc.args)
	m == tc.want
}

test_unlisted_tools_lose_every_argument[note] if {
	some tc in [
		{"note": "other case", "server": "demo", "tool": "Refunds.create"},
		{"note": "trailing space", "server": "demo", "tool": "refunds.create "},
		{"note": "singular", "server": "demo", "tool": "refund.create"},
		{"note": "listed on another server only", "server": "partners", "tool": "invoices.read"},
		{"note": "unknown server", "server": "nope", "tool": "invoices.read"},
		{"note": "name not a string", "server": "demo", "tool": 7},
	]
	note := tc.note
	m := log.mask with input as _call(tc.server, tc.tool, {"card_number": "4111111111111111", "invoice_id": "i"})
	"/input/tool/arguments" in m
	not _upserts(m)
}

test_arguments_that_are_not_an_object_are_erased if {
	m := log.mask with input as _call("demo", "invoices.read", "4111111111111111")
	m == {"/input/tool/arguments"}
}

test_events_without_a_tool_are_not_masked[note] if {
	some tc in [
		{"note": "no tool", "input": {"input": {}}},
		{"note": "resource", "input": {"input": {"server": "demo", "action": "read_resource", "resource": {"uri": "docs://handbook/refunds"}}}},
		{"note": "tool without arguments", "input": {"input": {"server": "demo", "action": "call", "tool": {"name": "x"}}}},
	]
	note := tc.note
	count(log.mask) == 0 with input as tc.input
}

test_short_or_odd_card_numbers_are_erased_without_last4[note] if {
	some tc in [
		{"note": "short", "number": "411"},
		{"note": "not a string", "number": 4111111111111111},
	]
	note := tc.note
	m := log.mask with input as _call("demo", "refunds.create", {"card_number": tc.number})
	m == {"/input/tool/arguments/card_number"}
}

_upserts(m) if {
	some r in m
	is_object(r)
}
