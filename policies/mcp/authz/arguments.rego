# Argument constraints: checks a tool call's arguments against the catalog
# entry's `arguments` specs. Iterates only over that one tool's own specs.
package mcp.authz

_argument_denials contains msg if {
	some name in _tool.required
	not name in object.keys(_args)
	msg := sprintf("argument %q is required", [name])
}

_argument_denials contains msg if {
	_tool.additional_arguments == false
	some name, _ in _args
	not _tool.arguments[name]
	msg := sprintf("argument %q is not allowed for tool %q", [name, input.tool.name])
}

_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	type_name(value) != spec.type
	msg := sprintf("argument %q must be a %s, got %s", [name, spec.type, type_name(value)])
}

_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	not value in spec.enum
	msg := sprintf("argument %q must be one of %v", [name, spec.enum])
}

_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	is_string(value)
	count(value) > spec.max_length
	msg := sprintf("argument %q is longer than %d characters", [name, spec.max_length])
}

_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	is_number(value)
	value < spec.min
	msg := sprintf("argument %q must be at least %v", [name, spec.min])
}

# A numeric limit that depends on the caller's role: the highest limit among
# the caller's roles applies; a caller with none of the listed roles has none.
_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	is_number(value)
	spec.max_by_role
	limits := [limit | some role in roles; limit := spec.max_by_role[role]]
	count(limits) == 0
	msg := sprintf("argument %q has no limit for the caller's roles %v", [name, sort(roles)])
}

_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	is_number(value)
	limit := max([l | some role in roles; l := spec.max_by_role[role]])
	value > limit
	msg := sprintf("argument %q = %v exceeds the caller's limit of %v", [name, value, limit])
}

# Some values need a specific role, e.g. environment "production".
_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	needed := spec.roles_by_value[value]
	count(roles & {r | some r in needed}) == 0
	msg := sprintf("argument %q = %q requires one of the roles %v", [name, value, sort(needed)])
}

# The value must be one the token lists in a claim, e.g. the caller's projects.
_argument_denials contains msg if {
	some name, spec in _tool.arguments
	value := _args[name]
	claim := spec.in_claim
	not value in _claim_values(claim)
	msg := sprintf("argument %q = %v is not among the caller's %q", [name, value, claim])
}

default _claim_values(_) := []

_claim_values(claim) := input.claims[claim] if is_array(input.claims[claim])
