import { readFileSync } from 'node:fs';
import path from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../common/errors.js';
import { parseHostHeader } from '../common/http-edge.js';
import { FileSinkConfig, HMAC_ALGORITHMS, RESERVED_SERVER_ID_PREFIX, ToolgateConfig } from './config.schema.js';
import { resolveShadowPaths, shadowErrors } from './shadow-rules.js';
import { transportErrors } from './transport-rules.js';

function flatten(errors: ValidationError[], prefix = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const key = /^\d+$/.test(e.property) ? `${prefix}[${e.property}]` : prefix ? `${prefix}.${e.property}` : e.property;
    for (const msg of Object.values(e.constraints ?? {})) {
      out.push(`${key}: ${msg.replace(/^property \S+ should not exist$/, 'unknown key')}`);
    }
    out.push(...flatten(e.children ?? [], key));
  }
  return out;
}

/** `new URL(u).href` when `u` parses, so `https://A/x` and `https://a/x` count as the same audience. */
function normalizeUrl(u: string): string {
  try {
    return new URL(u).href;
  } catch {
    return u;
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Cross-field rules class-validator cannot express; each message names its key. */
function semanticErrors(c: ToolgateConfig): string[] {
  const errs: string[] = [];
  const issuers = new Map<string, number>();
  c.issuers.forEach((iss, i) => {
    const key = `issuers[${i}]`;
    if (issuers.has(iss.issuer)) errs.push(`${key}.issuer: duplicate issuer ${iss.issuer}`);
    issuers.set(iss.issuer, i);
    const sources = [iss.jwks_uri, iss.jwks_file, iss.discovery ? 'discovery' : undefined].filter(Boolean);
    const hmacOnly = iss.algorithms.every((a) => HMAC_ALGORITHMS.includes(a));
    if (sources.length !== 1 && !(hmacOnly && sources.length === 0)) {
      errs.push(`${key}.jwks_uri: set exactly one of jwks_uri, jwks_file or discovery: true`);
    }
    if (iss.algorithms.some((a) => HMAC_ALGORITHMS.includes(a)) && !iss.secret) {
      errs.push(`${key}.algorithms: HMAC algorithms need ${key}.secret`);
    }
    if (iss.secret && Buffer.byteLength(iss.secret) < 32) errs.push(`${key}.secret: must be at least 32 bytes`);
  });
  const ids = new Set<string>();
  const paths = new Set<string>();
  c.servers.forEach((s, i) => {
    const key = `servers[${i}]`;
    if (ids.has(s.id)) errs.push(`${key}.id: duplicate server id ${s.id}`);
    if (s.id.startsWith(RESERVED_SERVER_ID_PREFIX)) errs.push(`${key}.id: ids starting with ${RESERVED_SERVER_ID_PREFIX} are reserved for toolgate's own audiences`);
    ids.add(s.id);
    const p = new URL(s.resource).pathname;
    if (paths.has(p)) errs.push(`${key}.resource: another server already uses the path ${p}`);
    paths.add(p);
    s.issuers.forEach((iss, j) => {
      if (!issuers.has(iss)) errs.push(`${key}.issuers[${j}]: ${iss} is not configured under issuers`);
    });
  });
  if (c.policy.mode === 'bundle' && !c.policy.bundle) errs.push('policy.bundle: required when policy.mode is bundle');
  const b = c.policy.bundle;
  if (b && !!b.path === !!b.url) errs.push('policy.bundle.path: set exactly one of policy.bundle.path or policy.bundle.url');
  b?.signing?.keys.forEach((k, i) => {
    if (!!k.key === !!k.key_file) errs.push(`policy.bundle.signing.keys[${i}].key: set exactly one of key or key_file`);
  });
  errs.push(...transportErrors(c));
  const r = c.revocation;
  if (r.postgres && r.postgres.resync_interval_s >= r.max_staleness_s) {
    errs.push('revocation.postgres.resync_interval_s: must be below revocation.max_staleness_s, or healthy rules would turn stale');
  }
  if (!r.postgres && r.file_resync_interval_s >= r.max_staleness_s) {
    errs.push('revocation.file_resync_interval_s: must be below revocation.max_staleness_s, or healthy rules would turn stale');
  }
  errs.push(...shadowErrors(c));
  if (c.admin && !issuers.has(c.admin.issuer)) errs.push('admin.issuer: must name a configured issuer');
  if (c.admin && c.admin.read_scope === c.admin.scope) errs.push('admin.read_scope: must differ from admin.scope, or reading would grant changing');
  // The console reaches data only through the admin API, so without `admin` it could show nothing.
  if (c.console.enabled && !c.admin) errs.push('console.enabled: requires an `admin` section (the console reads through the admin API)');
  // The console's tokens are admin tokens: one the admin API would refuse is no use to sign in with.
  if (c.console.oauth && c.admin && c.console.oauth.issuer !== c.admin.issuer) {
    errs.push(`console.oauth.issuer: must be admin.issuer (${c.admin.issuer}); the admin API accepts only its tokens`);
  }
  // A token minted for an MCP server must never pass as an admin or caller token.
  const resources = new Set(c.servers.flatMap((s) => [s.resource, normalizeUrl(s.resource)]));
  if (c.admin && (resources.has(c.admin.audience) || resources.has(normalizeUrl(c.admin.audience)))) {
    errs.push(`admin.audience: ${c.admin.audience} is a server's resource; use an audience of toolgate's own`);
  }
  const aud = c.callers.audience;
  if (aud && (resources.has(aud) || resources.has(normalizeUrl(aud)))) {
    errs.push(`callers.audience: ${aud} is a server's resource; use an audience of toolgate's own`);
  }
  c.http.allowed_hosts.forEach((h, i) => {
    if (!parseHostHeader(h)) errs.push(`http.allowed_hosts[${i}]: ${JSON.stringify(h)} is not a host name or host:port`);
  });
  c.http.allowed_origins.forEach((o, i) => {
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      // reported below
    }
    if (origin !== o.toLowerCase() || !/^https?:/.test(origin)) errs.push(`http.allowed_origins[${i}]: ${JSON.stringify(o)} is not an http(s) origin (scheme://host[:port], no path)`);
  });
  if (c.callers.auth === 'jwt') {
    if (!c.callers.issuer || !issuers.has(c.callers.issuer)) errs.push('callers.issuer: must name a configured issuer');
    if (!c.callers.audience) errs.push('callers.audience: required when callers.auth is jwt');
    if (!c.callers.scope) errs.push('callers.scope: required when callers.auth is jwt');
  } else if (!LOOPBACK.has(c.listen.host)) {
    errs.push(`callers.auth: must be jwt when listen.host (${c.listen.host}) is not loopback`);
  }
  return errs;
}

/**
 * Parses and validates a configuration document (YAML or JSON). Throws a
 * ConfigError listing every problem, each prefixed by its key.
 */
export function parseConfig(raw: unknown, baseDir = process.cwd()): ToolgateConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError('config: the document must be a mapping');
  }
  const config = plainToInstance(ToolgateConfig, raw, { exposeDefaultValues: true });
  const errors = flatten(validateSync(config, { whitelist: true, forbidNonWhitelisted: true }));
  if (errors.length === 0) errors.push(...semanticErrors(config));
  if (errors.length > 0) throw new ConfigError(`invalid configuration:\n  ${errors.join('\n  ')}`);
  const abs = (p: string) => path.resolve(baseDir, p);
  config.policy.source.policies = abs(config.policy.source.policies);
  config.policy.source.tests = abs(config.policy.source.tests);
  config.policy.source.out = abs(config.policy.source.out);
  const bundle = config.policy.bundle;
  if (bundle?.path) bundle.path = abs(bundle.path);
  for (const k of bundle?.signing?.keys ?? []) if (k.key_file) k.key_file = abs(k.key_file);
  resolveShadowPaths(config, abs);
  for (const iss of config.issuers) if (iss.jwks_file) iss.jwks_file = abs(iss.jwks_file);
  config.revocation.file = abs(config.revocation.file);
  if (config.decision_logs.file) config.decision_logs.file.path = abs(config.decision_logs.file.path);
  const unverified = config.decision_logs.unverified;
  if (unverified.file) unverified.file.path = abs(unverified.file.path);
  else if (config.decision_logs.file) {
    // Next to the audit trail but not one of its names (x, x.N, x.wN), so the console never reads it.
    unverified.file = Object.assign(new FileSinkConfig(), { path: `${config.decision_logs.file.path}.unverified`, max_bytes: 10 * 1024 * 1024, max_files: 2 });
  }
  config.console.reports_dir = abs(config.console.reports_dir);
  for (const pg of [config.revocation.postgres, config.decision_logs.postgres]) {
    const t = pg?.tls;
    if (t?.ca_file) t.ca_file = abs(t.ca_file);
    if (t?.cert_file) t.cert_file = abs(t.cert_file);
    if (t?.key_file) t.key_file = abs(t.key_file);
  }
  return config;
}

/** Reads the file named by `--config <path>` or `TOOLGATE_CONFIG`. Relative paths in it resolve against the working directory. */
export function loadConfigFile(file: string): ToolgateConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  return parseConfig(raw);
}

/** The config path from argv (`--config x` / `--config=x`) or the environment. */
export function configPathFromArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const i = argv.indexOf('--config');
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith('--config='));
  return eq ? eq.slice('--config='.length) : env.TOOLGATE_CONFIG;
}
