import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PolicyWorkspace } from './policy-fixtures.js';

/**
 * Turns a copy of the reference policy into the "known policy change" the
 * replay and shadow tests look for. None of it is covered by the Rego tests,
 * so the candidate passes the same gate:
 * - `reports.export` joins the catalog for support agents (deny→allow for it);
 * - tools annotated `destructiveHint: true` are hidden from lists (allow→deny
 *   for listed destructive tools: only visible to replay if list events log annotations);
 * - `issues.create` in project `core` is frozen from `freezeAtMs` on (a replay that did not pin
 *   each evaluation's clock to the recorded time would flip calls made before it).
 */
export async function writeCandidateChange(ws: PolicyWorkspace, freezeAtMs: number): Promise<void> {
  const catalogFile = path.join(ws.policies, 'catalog/data.json');
  const catalog = JSON.parse(await readFile(catalogFile, 'utf8')) as { servers: { demo: { tools: Record<string, unknown> } } };
  catalog.servers.demo.tools['reports.export'] = {
    description: 'Export a report.',
    roles: ['support_agent'],
    scopes: [],
    required: [],
    additional_arguments: true,
    arguments: {},
  };
  await writeFile(catalogFile, JSON.stringify(catalog, null, 2));
  await ws.write(
    'policies/mcp/authz/change.rego',
    `package mcp.authz

_base_denials contains "destructive tools are not listed" if {
	input.action == "list"
	input.tool.annotations.destructiveHint == true
}

_base_denials contains "issue creation is frozen" if {
	input.tool.name == "issues.create"
	input.tool.arguments.project == "core"
	time.now_ns() >= ${BigInt(freezeAtMs) * 1000000n}
}
`,
  );
}
