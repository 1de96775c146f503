import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { AuditService } from '../src/audit/audit.service.js';
import type { DecisionEvent } from '../src/audit/decision-event.js';
import { parseConfig } from '../src/config/load-config.js';
import { WasmPolicy } from '../src/evaluator/wasm-policy.js';
import { MetricsService } from '../src/telemetry/metrics.service.js';
import { DECISION_ENTRYPOINT } from '../src/contract/policy-contract.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

/**
 * A mask that answers a string for one tool, conflicts (an evaluation error)
 * for another, is undefined for a third and erases one argument for a fourth.
 */
const MASK = `package system.log

# METADATA
# entrypoint: true
mask := "not-a-list" if input.input.tool.name == "non_array"

mask := ["/input/tool/arguments/a"] if input.input.tool.name == "conflict"

mask := ["/input/tool/arguments/b"] if input.input.tool.name == "conflict"

mask := ["/input/tool/arguments/secret"] if input.input.tool.name == "fine"
`;

const SECRET = 'sk-live-0123456789';

describe('decision-log masking fails closed', () => {
  let ws: PolicyWorkspace;
  let policy: WasmPolicy;
  let revision: string;
  let audit: AuditService;
  let logFile: string;

  beforeAll(async () => {
    ws = await policyWorkspace();
    await ws.write('policies/system/log/mask.rego', MASK);
    const built = await buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: ws.out, runTests: false });
    revision = built.revision;
    policy = await WasmPolicy.load(built.files.get('/policy.wasm')!, JSON.parse(built.files.get('/data.json')!.toString('utf8')), {
      requiredEntrypoints: [DECISION_ENTRYPOINT],
    });
    logFile = path.join(ws.dir, 'decisions.jsonl');
    const config = parseConfig({
      issuers: [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }],
      servers: [{ id: 'demo', resource: 'http://127.0.0.1:3999/mcp', issuers: ['https://idp.example'] }],
      decision_logs: { file: { path: logFile } },
    });
    audit = new AuditService(config, new MetricsService());
  });

  afterAll(async () => {
    await audit?.onApplicationShutdown();
    await ws?.cleanup();
    await rm(logFile, { force: true });
  });

  const event = (id: string, tool: string, rev: string): DecisionEvent => ({
    decision_id: id,
    timestamp: new Date().toISOString(),
    path: DECISION_ENTRYPOINT,
    kind: 'decision',
    input: { server: 'demo', action: 'call', tool: { name: tool, arguments: { secret: SECRET, a: 1, b: 2 } } },
    result: { allow: true, reasons: [], echo: SECRET },
    outcome: { allow: true },
    revision: rev,
    bundles: { toolgate: { revision: rev } },
    labels: { id: 'test', app: 'toolgate' },
    requested_by: 'anonymous',
    // A verified caller's event: the audit trail's, not the unverified stream's.
    token: { issuer: 'https://idp.example', subject: 'alice' },
    metrics: {},
  });

  const logged = async (): Promise<Map<string, Record<string, unknown>>> => {
    await audit.flush();
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
    return new Map(lines.map((l) => [String((JSON.parse(l) as { decision_id: string }).decision_id), JSON.parse(l) as Record<string, unknown>]));
  };

  it('erases input and result when the mask answers a non-array or fails to evaluate, masks nothing when it is undefined', async () => {
    for (const [id, tool] of [
      ['e-non-array', 'non_array'],
      ['e-conflict', 'conflict'],
      ['e-undefined', 'other'],
      ['e-fine', 'fine'],
    ]) {
      audit.record(event(id, tool, revision), policy);
    }
    const events = await logged();
    for (const id of ['e-non-array', 'e-conflict']) {
      const e = events.get(id)!;
      expect(e).toMatchObject({ decision_id: id, erased: ['/input', '/result'], outcome: { allow: true } });
      expect(e).not.toHaveProperty('input');
      expect(e).not.toHaveProperty('result');
      expect(JSON.stringify(e)).not.toContain(SECRET);
    }
    expect(events.get('e-undefined')).toMatchObject({ input: { tool: { arguments: { secret: SECRET } } } });
    expect(events.get('e-undefined')).not.toHaveProperty('erased');
    expect(events.get('e-fine')).toMatchObject({ erased: ['/input/tool/arguments/secret'], input: { tool: { arguments: { a: 1, b: 2 } } } });
    expect(audit.stats()[0].last_error).toMatch(/mask/);
  });

  it('erases input and result when the deciding revision cannot be loaded for masking', async () => {
    // The same compiled policy, cut short: it loads in the request thread but not in the decision-log worker.
    const { wasm, data, options } = policy.source;
    const broken = { source: { wasm: wasm.slice(0, Math.floor(wasm.length / 2)), data, options } } as unknown as WasmPolicy;
    audit.record(event('e-unloadable', 'fine', 'rev-unloadable'), broken);
    const e = (await logged()).get('e-unloadable')!;
    expect(e).toMatchObject({ erased: ['/input', '/result'], revision: 'rev-unloadable' });
    expect(e).not.toHaveProperty('input');
    expect(e).not.toHaveProperty('result');
    expect(JSON.stringify(e)).not.toContain(SECRET);
  });
});
