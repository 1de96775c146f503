# Client allowlists. A server's catalog entry may list the OAuth clients it admits:
# data.catalog.servers.<id>.clients with "ids" (exact client ids, e.g. the
# https URL of a Client ID Metadata Document) and "hosts" (every client whose
# id is an https URL on that host). toolgate derives input.client from the
# token: id from client_id, azp, cid or appid; host only for an https id.
# Without "clients" every client is admitted; with it, only listed ones.
package mcp.authz

_base_denials contains msg if {
	some msg in _client_denials
}

_client_denials contains msg if {
	_server.clients
	not _client_id
	msg := sprintf("the token names no client; server %q admits only the clients it lists", [input.server])
}

_client_denials contains msg if {
	_server.clients
	_client_id
	not _client_admitted
	msg := sprintf("client %q is not on the client allowlist of server %q", [_client_id, input.server])
}

_client_id := input.client.id if {
	is_string(input.client.id)
	input.client.id != ""
}

_client_admitted if _client_id in _server.clients.ids

_client_admitted if {
	_client_id
	is_string(input.client.host)
	input.client.host in _server.clients.hosts
}
