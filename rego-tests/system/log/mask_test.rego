package system.log_test

import data.system.log

test_refund_card_numbers_are_masked if {
	m := log.mask with input as {"input": {"tool": {"name": "refunds.create", "arguments": {"card_number": "4111111111111111"}}}}
	m == {
		"/input/tool/arguments/card_number",
		{"op": "upsert", "path": "/input/tool/arguments/card_last4", "value": "1111"},
	}
}

test_other_tools_are_not_masked[note] if {
	some tc in [
		{"note": "other tool", "input": {"input": {"tool": {"name": "invoices.read", "arguments": {"card_number": "4111"}}}}},
		{"note": "no tool", "input": {"input": {}}},
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
	m := log.mask with input as {"input": {"tool": {"name": "refunds.create", "arguments": {"card_number": tc.number}}}}
	m == {"/input/tool/arguments/card_number"}
}
