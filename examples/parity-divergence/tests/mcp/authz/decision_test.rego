package mcp.authz_test

import data.mcp.authz

_refund(amount) := {"tool": {"name": "refunds.create", "arguments": {"amount": amount}}}

test_within_limit_is_allowed if {
	d := authz.decision with input as _refund(50)
	d.allow == true
}

# Holds in toolgate's runtime. Under the npm SDK's own sprintf (sprintf-js: no %q,
# JavaScript's formatting for %v) the decision fails with an error.
test_above_limit_names_amount_and_limit if {
	d := authz.decision with input as _refund(150)
	d.allow == false
	d.reasons == ["argument \"amount\" = 150 exceeds the limit of 100"]
}

# Holds under opa test, not in toolgate's runtime today: 1e400 is beyond a double,
# and the wasm runtime hands sprintf a number JavaScript cannot hold.
test_huge_amount_is_named_in_the_reason if {
	d := authz.decision with input as _refund(1e400)
	d.reasons == ["argument \"amount\" = 1e400 exceeds the limit of 100"]
}

# trace is not available under wasm (not in toolgate's capabilities):
# reported as "parity: not checked", never counted as passed, does not block.
test_string_amount_is_refused if {
	trace("a refund with a string amount")
	d := authz.decision with input as _refund("150")
	d.reasons == ["argument \"amount\" must be a number"]
}
