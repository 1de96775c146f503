# METADATA
# title: Refund limit (parity example)
# description: |
#   A small policy whose Rego tests pass under `opa test` and yet not all of
#   them hold in the wasm runtime toolgate answers with. See ../../README.md.
package mcp.authz

# METADATA
# title: Decision
# entrypoint: true
decision := {
	"allow": count(_denials) == 0,
	"reasons": sort([r | some r in _denials]),
	"required_scopes": [],
}

_limit := 100

_denials contains sprintf("argument %q = %v exceeds the limit of %v", ["amount", amount, _limit]) if {
	amount := input.tool.arguments.amount
	is_number(amount)
	amount > _limit
}

_denials contains "argument \"amount\" must be a number" if {
	not is_number(input.tool.arguments.amount)
}
