# METADATA
# title: Decision-log masking
# description: |
#   JSON pointers erased from (or replaced in) decision-log events, as with
#   OPA's data.system.log.mask. Evaluated once per logged decision with
#   input = {"input": <policy input>, "result": <policy answer>}.
package system.log

# METADATA
# title: Mask
# description: Card numbers never reach a decision log.
# entrypoint: true
mask contains "/input/tool/arguments/card_number" if input.input.tool.name == "refunds.create"

# Keep the last four digits so support can still match a refund to a card.
mask contains {"op": "upsert", "path": "/input/tool/arguments/card_last4", "value": last4} if {
	input.input.tool.name == "refunds.create"
	number := input.input.tool.arguments.card_number
	is_string(number)
	count(number) >= 4
	last4 := substring(number, count(number) - 4, 4)
}
