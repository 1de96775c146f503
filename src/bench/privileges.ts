/**
 * `toolgate privileges` throughput on a month of a busy deployment: N
 * recorded decisions (default 1,000,000) over 30 days from 5,000 subjects
 * using 196 clients (28 per kind of work), in sessions of one token each (a burst of calls, often
 * the same call again, as polling agents make), with denied calls, tools
 * lists and masked refunds among them. Written as one gzipped decision-log
 * file, then analysed by `analyzePrivileges()` exactly as the command runs it,
 * suggestion and its verifying second pass included, on the reference policy.
 * One process, one core. `--write` puts the result into BENCHMARKS.md
 * (privileges markers); PRIVILEGES_EVENTS sets N.
 */
import 'reflect-metadata';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { Logger } from '@nestjs/common';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { fileSource } from '../privileges/events.js';
import { analyzePrivileges } from '../privileges/privileges.js';
import { loadReplayPolicy } from '../replay/policy-loader.js';
import { machine, report } from './report.js';

const N = Number(process.env.PRIVILEGES_EVENTS ?? 1_000_000);
const SUBJECTS = 5000;
const CLIENTS = 196;
const MONTH_MS = 30 * 86_400_000;
const ISSUER = 'https://idp.bench.example';

/** mulberry32: a small seeded generator, so every run writes the same month. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reference catalog's roles per tool, for the recorded outcome of a tools list. */
const TOOL_ROLES: Record<string, string[]> = {
  'refunds.create': ['support_agent', 'finance'],
  'invoices.read': ['support_agent', 'finance'],
  'issues.create': ['engineer', 'support_agent'],
  'deploy.trigger': ['engineer', 'release_manager'],
};

type Call = { name: string; arguments: Record<string, unknown> };

/** Who a subject is: the roles its tokens claim, the scopes they carry, and the calls it makes. */
interface Profile {
  roles: string[];
  scopes: string[];
  call: (r: () => number, sub: number) => Call;
}

const PROFILES: Profile[] = [
  { roles: ['support_agent'], scopes: ['refunds:write', 'invoices:read'], call: (r, s) => (r() < 0.6 ? refund(r, 90) : { name: 'invoices.read', arguments: { invoice_id: `inv-${s}-${Math.floor(r() * 5)}` } }) },
  { roles: ['support_agent'], scopes: ['refunds:write', 'invoices:read', 'issues:write'], call: (r) => refund(r, 60) },
  { roles: ['finance'], scopes: ['refunds:write', 'invoices:read'], call: (r, s) => (r() < 0.5 ? refund(r, 3000) : { name: 'invoices.read', arguments: { invoice_id: `inv-${s}-${Math.floor(r() * 5)}` } }) },
  { roles: ['engineer'], scopes: ['issues:write', 'deploy:write'], call: (r) => (r() < 0.7 ? { name: 'issues.create', arguments: { project: 'core', title: `t${Math.floor(r() * 50)}` } } : deploy(r, 'staging')) },
  { roles: ['engineer'], scopes: ['issues:write', 'deploy:write', 'deploy:production'], call: (r) => deploy(r, 'staging') },
  { roles: ['release_manager'], scopes: ['deploy:write', 'deploy:production'], call: (r) => deploy(r, r() < 0.5 ? 'production' : 'staging') },
  { roles: [], scopes: ['role:support', 'refunds:write'], call: (r) => refund(r, 80) },
];

function refund(r: () => number, max: number): Call {
  return { name: 'refunds.create', arguments: { order_id: `o-${Math.floor(r() * 1e6)}`, amount: 1 + Math.floor(r() * max), currency: ['USD', 'EUR', 'GBP'][Math.floor(r() * 3)] } };
}

function deploy(r: () => number, environment: string): Call {
  return { name: 'deploy.trigger', arguments: { service: `svc-${Math.floor(r() * 30)}`, environment } };
}

/** Writes the month; returns how many events were written. */
async function writeMonth(file: string): Promise<number> {
  const r = rng(19);
  const gz = createGzip({ level: 1 });
  const out = gz.pipe(createWriteStream(file));
  const t0 = Date.parse('2026-10-01T00:00:00Z');
  const step = MONTH_MS / N;
  let n = 0;
  const put = async (e: object) => {
    n++;
    if (!gz.write(JSON.stringify(e) + '\n')) await once(gz, 'drain');
  };
  while (n < N) {
    // One session: one token, a burst of calls, about half of them the previous call again.
    const sub = Math.floor(r() * SUBJECTS);
    const p = PROFILES[sub % PROFILES.length];
    // Clients serve one kind of work (a support desk, a release bot): each profile has its own, now and then another's.
    const perProfile = Math.floor(CLIENTS / PROFILES.length);
    const home = (sub % PROFILES.length) * perProfile + (Math.floor(sub / PROFILES.length) % perProfile);
    const client = `client-${r() < 0.97 ? home : Math.floor(r() * perProfile * PROFILES.length)}`;
    const iat = Math.floor((t0 + n * step) / 1000);
    const claims = { iss: ISSUER, sub: `user-${sub}`, aud: 'https://mcp.bench.example', client_id: client, iat, exp: iat + 3600, jti: `j-${n}`, roles: p.roles, projects: ['core'], scope: p.scopes.join(' ') };
    const base = { claims, scopes: p.scopes, client: { id: client }, server: 'demo' };
    const token = { issuer: ISSUER, subject: claims.sub, client_id: client, fingerprint: `fp-${n}` };
    const burst = 1 + Math.floor(r() * 20);
    let prev: Call | undefined;
    for (let i = 0; i < burst && n < N; i++) {
      const time = new Date(t0 + n * step).toISOString();
      const common = { decision_id: `d-${n}`, timestamp: time, path: DECISION_ENTRYPOINT, revision: 'bench', bundles: { toolgate: { revision: 'bench' } }, labels: {}, requested_by: 'anonymous', token, metrics: {} };
      // Engineering agents list their tools at the start of a session; the support desks do not.
      if (i === 0 && (p.roles.includes('engineer') || p.roles.includes('release_manager')) && r() < 0.5) {
        const names = ['refunds.create', 'invoices.read', 'issues.create', 'deploy.trigger'];
        const items = names.map((name) => ({ tool: { name, arguments: {}, annotations: {} } }));
        const roles = new Set([...p.roles, ...(p.scopes.includes('role:support') ? ['support_agent'] : [])]);
        const allowed = names.filter((name) => TOOL_ROLES[name].some((x) => roles.has(x)));
        await put({ ...common, kind: 'tools', input: { ...base, action: 'list', kind: 'tool', items, time }, outcome: { allow: true, allowed } });
        continue;
      }
      if (r() < 0.05) {
        // Off-profile: a tool the subject may not use; recorded as denied.
        const off: Call = p.roles.includes('engineer') || p.roles.includes('release_manager') ? refund(r, 10) : { name: 'issues.create', arguments: { project: 'core', title: 'x' } };
        await put({ ...common, kind: 'decision', input: { ...base, action: 'call', tool: { ...off, annotations: {} }, time }, outcome: { allow: false, code: 'policy_denied', http_status: 403 } });
        continue;
      }
      const c = prev && r() < 0.5 ? prev : p.call(r, sub);
      prev = c;
      const masked = c.name === 'refunds.create' && r() < 0.02;
      const args = masked ? { ...c.arguments, card_last4: '1111' } : c.arguments;
      await put({ ...common, kind: 'decision', input: { ...base, action: 'call', tool: { name: c.name, arguments: args, annotations: {} }, time }, outcome: { allow: true }, ...(masked ? { masked: ['/input/tool/arguments/card_last4'], erased: ['/input/tool/arguments/card_number'] } : {}) });
    }
  }
  gz.end();
  await once(out, 'finish');
  return n;
}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-bench-privileges-'));
  try {
    const policy = await loadReplayPolicy({ location: 'policies', tests: 'rego-tests', out: path.join(dir, 'b') });
    const file = path.join(dir, 'decisions.jsonl.1.gz');
    const g0 = performance.now();
    const events = await writeMonth(file);
    const genS = (performance.now() - g0) / 1000;
    const load0 = os.loadavg()[0];
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const files = fileSource([file]);
    let passes = 0;
    const source = { ...files, lines: () => (passes++, files.lines()) };
    const r = await analyzePrivileges({ policy: { ...policy, location: 'policies' }, source, suggest: true });
    const wallS = (performance.now() - w0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const e = r.evidence;
    const unusedClients = r.clients.filter((c) => c.unused.scopes.length + c.unused.roles.length > 0).length;
    const fmt = (x: number) => Math.round(x).toLocaleString('en');
    const text = [
      `${machine()}, one process on one core, ${fmt(events)} recorded decisions over 30 days (one gzipped file), ${SUBJECTS.toLocaleString('en')} subjects, ${CLIENTS} clients, the reference policy; load average ${load0.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end (2 cores).`,
      '',
      '| measurement | value |',
      '|---|---:|',
      `| wall time: analysis, joint check, suggestion and its verification (${passes} passes over the file) | ${wallS.toFixed(1)} s |`,
      `| CPU time of the process | ${cpuS.toFixed(1)} s |`,
      `| rate per CPU-second | ${fmt(events / cpuS)} events/s |`,
      `| rate, wall clock | ${fmt(events / wallS)} events/s |`,
      `| allowed calls / list items examined | ${fmt(e.allowed_calls)} / ${fmt(e.allowed_list_items)} |`,
      `| distinct inputs (time ignored: ${e.time_ignored}) | ${fmt(e.distinct_inputs)} |`,
      `| policy evaluations run (all passes) | ${fmt(e.evaluations)} |`,
      `| denied / masked / drift / not replayable | ${fmt(e.denied)} / ${fmt(e.masked)} / ${fmt(e.drift)} / ${fmt(e.not_replayable)} |`,
      `| clients with an unused scope or role / clients | ${unusedClients} / ${r.clients.length} |`,
      `| suggested changes / withdrawn | ${r.suggestion?.changes.length ?? 0} / ${r.suggestion?.withdrawn.length ?? 0} |`,
      `| peak RSS | ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB |`,
      `| writing the month (generate + gzip, not part of the rate) | ${genS.toFixed(1)} s |`,
    ].join('\n');
    await report('privileges', text);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
