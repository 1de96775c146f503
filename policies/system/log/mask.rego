# METADATA
# title: Decision-log masking
# description: |
#   JSON pointers erased from (or replaced in) decision-log events, as with
#   OPA's data.system.log.mask. Evaluated once per logged decision with
#   input = {"input": <policy input>, "result": <policy answer>}. Only the
#   arguments the catalog declares for the tool called are logged: the policy
#   denies anything else, and a denied call is exactly where a secret sent to
#   the wrong tool, or under the wrong name, would otherwise land in clear.
package system.log

import data.catalog

# Looked up by key, exactly as the decision looks the tool up: a spelling the
# catalog does not have (other case, trailing space, singular) is not this tool.
_tool := catalog.servers[input.input.server].tools[input.input.tool.name]

_args := input.input.tool.arguments

# Present, whatever its value (false and null included).
_has_args if "arguments" in object.keys(input.input.tool)

# METADATA
# title: Mask
# description: |
#   A tool the catalog does not list: every argument. A listed tool: every
#   argument it does not declare, and always its card numbers.
# entrypoint: true
mask contains "/input/tool/arguments" if {
	_has_args
	not _tool
}

mask contains "/input/tool/arguments" if {
	_has_args
	not is_object(_args)
}

mask contains _pointer(name) if {
	_tool
	some name, _ in _args
	not _tool.arguments[name]
}

mask contains "/input/tool/arguments/card_number" if {
	input.input.tool.name == "refunds.create"
	"card_number" in object.keys(_args)
}

# Keep the last four digits so support can still match a refund to a card.
mask contains {"op": "upsert", "path": "/input/tool/arguments/card_last4", "value": last4} if {
	input.input.tool.name == "refunds.create"
	_tool
	is_object(_args)
	number := _args.card_number
	is_string(number)
	count(number) >= 4
	last4 := substring(number, count(number) - 4, 4)
}

# RFC 6901: "~" and "/" in a key are escaped.
_pointer(name) := concat("/", ["/input/tool/arguments", replace(replace(name, "~", "~0"), "/", "~1")])
