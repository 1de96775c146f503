import { createHash } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { jwtDecode, jwtDecodeVerify, jwtEncodeSign, jwtEncodeSignRaw, jwtVerifyAsym, jwtVerifyHmac } from './builtins/jwt.js';
import { renderTemplate } from './builtins/go-template.js';
import { jsonPatch } from './builtins/json-patch.js';
import { jsonMatchSchema, jsonVerifySchema } from './builtins/json-schema.js';
import { graphqlIsValid, graphqlParse, graphqlParseAndVerify, graphqlParseQuery, graphqlParseSchema, graphqlSchemaIsValid } from './builtins/graphql.js';
import {
  base64urlEncodeNoPad,
  globQuoteMeta,
  hmac,
  hmacEqual,
  indexofN,
  marshalWithOptions,
  rangeStep,
  reachablePaths,
  stringsSplitN,
  urlqueryDecode,
  urlqueryDecodeObject,
  urlqueryEncode,
  urlqueryEncodeObject,
} from './builtins/misc.js';
import { cidrContainsMatches, cidrExpand, cidrIsValid, cidrMerge } from './builtins/net.js';
import { regexFindN, regexGlobsMatch, regexReplace, regexSplit, regexTemplateMatch } from './builtins/regex.js';
import { semverCompare, semverIsValid } from './builtins/semver.js';
import { parseDurationNs, timeAddDate, timeClock, timeDate, timeDiff, timeFormat, timeParseNs, timeWeekday } from './builtins/time.js';
import { unitsParse, unitsParseBytes } from './builtins/units.js';
import { objectSubsetBuiltin } from './builtins/subset.js';
import { uriIsValid, uriParse } from './builtins/uri.js';
import {
  parsePrivateKeys,
  x509ParseAndVerify,
  x509ParseCertificateRequest,
  x509ParseCertificates,
  x509ParseKeypair,
  x509ParseRsaPrivateKey,
  verifyOptionsFrom,
} from './builtins/x509.js';
import { uuidParse } from './builtins/uuid.js';
import { goSprintf } from './sprintf.js';

/** Per-evaluation facts host builtins may read; fixed for one decision. */
export interface EvalContext {
  /** Request time in nanoseconds since the epoch, whole milliseconds (`time.now_ns` returns it exactly). */
  nowNs: number;
}

type HostFn = (ctx: EvalContext, ...args: unknown[]) => unknown;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Parses RFC 3339 into exact nanoseconds; undefined when malformed or outside int64 (OPA: error -> undefined). */
function parseRfc3339NsExact(value: unknown): bigint | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const ms = Date.parse(value.replace(/\.\d+/, ''));
  if (Number.isNaN(ms)) return undefined;
  const frac = m[7] ? BigInt((m[7].slice(1) + '000000000').slice(0, 9)) : 0n;
  const ns = BigInt(ms) * 1_000_000n + frac;
  return ns < INT64_MIN || ns > INT64_MAX ? undefined : ns;
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  return v;
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw new TypeError('operand must be a string or array of strings');
}

function digest(alg: string) {
  return (_ctx: EvalContext, s: unknown) => createHash(alg).update(str(s), 'utf8').digest('hex');
}

/**
 * Builtins toolgate implements in the host because neither OPA's wasm runtime
 * nor the npm SDK does. Every entry must be deterministic given its arguments
 * and the EvalContext. The capabilities file handed to `opa build` is generated
 * from these names, so anything listed here compiles and anything else fails at
 * build time.
 */
export const HOST_BUILTINS: Readonly<Record<string, HostFn>> = {
  // Replaces the SDK's sprintf (sprintf-js), which has no %v or %q: see sprintf.ts.
  sprintf: (_ctx, format, args) => {
    if (!Array.isArray(args)) throw new TypeError('sprintf: operand 2 must be an array');
    return goSprintf(str(format), args);
  },
  // Exact: the decision time is whole milliseconds, and ms × 10^6 is beyond 2^53.
  'time.now_ns': (ctx) => BigInt(Math.round(ctx.nowNs / 1e6)) * 1_000_000n,
  'time.parse_rfc3339_ns': (_ctx, s) => parseRfc3339NsExact(s),
  'crypto.md5': digest('md5'),
  'crypto.sha1': digest('sha1'),
  'crypto.sha256': digest('sha256'),
  'hex.encode': (_ctx, s) => Buffer.from(str(s), 'utf8').toString('hex'),
  'hex.decode': (_ctx, s) => {
    const h = str(s);
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(h)) throw new TypeError('invalid hex');
    return Buffer.from(h, 'hex').toString('utf8');
  },
  'strings.any_prefix_match': (_ctx, s, p) => {
    const xs = strings(s);
    const ps = strings(p);
    return xs.some((x) => ps.some((q) => x.startsWith(q)));
  },
  'strings.any_suffix_match': (_ctx, s, p) => {
    const xs = strings(s);
    const ps = strings(p);
    return xs.some((x) => ps.some((q) => x.endsWith(q)));
  },
  'time.parse_duration_ns': (_ctx, d) => parseDurationNs(d),
  'time.date': (_ctx, x) => timeDate(x),
  'time.clock': (_ctx, x) => timeClock(x),
  'time.weekday': (_ctx, x) => timeWeekday(x),
  'time.add_date': (_ctx, ns, y, m, d) => timeAddDate(ns, y, m, d),
  'time.format': (_ctx, x) => timeFormat(x),
  'time.parse_ns': (_ctx, layout, value) => timeParseNs(layout, value),
  'time.diff': (_ctx, a, b) => timeDiff(a, b),
  'crypto.hmac.md5': (_ctx, x, k) => hmac('md5')(x, k),
  'crypto.hmac.sha1': (_ctx, x, k) => hmac('sha1')(x, k),
  'crypto.hmac.sha256': (_ctx, x, k) => hmac('sha256')(x, k),
  'crypto.hmac.sha512': (_ctx, x, k) => hmac('sha512')(x, k),
  'crypto.hmac.equal': (_ctx, a, b) => hmacEqual(a, b),
  'crypto.x509.parse_certificates': (_ctx, c) => x509ParseCertificates(c),
  'crypto.x509.parse_and_verify_certificates': (ctx, c) => x509ParseAndVerify(c, ctx.nowNs),
  'crypto.x509.parse_and_verify_certificates_with_options': (ctx, c, o) => {
    const [ok, certs] = x509ParseAndVerify(c, ctx.nowNs, verifyOptionsFrom(o));
    // OPA returns Go's certificates here, without the URIStrings it adds elsewhere.
    return [ok, certs.map(({ URIStrings: _u, ...rest }) => rest)];
  },
  'crypto.x509.parse_certificate_request': (_ctx, c) => x509ParseCertificateRequest(c),
  'crypto.x509.parse_keypair': (_ctx, c, k) => x509ParseKeypair(c, k),
  'crypto.x509.parse_rsa_private_key': (_ctx, k) => x509ParseRsaPrivateKey(k),
  'crypto.parse_private_keys': (_ctx, k) => parsePrivateKeys(k),
  'io.jwt.decode': (_ctx, t) => jwtDecode(t),
  'io.jwt.decode_verify': (ctx, t, c) => jwtDecodeVerify(t, c, ctx.nowNs),
  'io.jwt.encode_sign': (_ctx, h, p, k) => jwtEncodeSign(h, p, k),
  'io.jwt.encode_sign_raw': (_ctx, h, p, k) => jwtEncodeSignRaw(h, p, k),
  ...Object.fromEntries(
    ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'].map((alg) => [
      `io.jwt.verify_${alg.toLowerCase()}`,
      (_ctx: EvalContext, t: unknown, k: unknown) => jwtVerifyAsym(alg)(t, k),
    ]),
  ),
  ...Object.fromEntries(['HS256', 'HS384', 'HS512'].map((alg) => [`io.jwt.verify_${alg.toLowerCase()}`, (_ctx: EvalContext, t: unknown, k: unknown) => jwtVerifyHmac(alg)(t, k)])),
  'semver.is_valid': (_ctx, v) => semverIsValid(v),
  'semver.compare': (_ctx, a, b) => semverCompare(a, b),
  'units.parse': (_ctx, v) => unitsParse(v),
  'units.parse_bytes': (_ctx, v) => unitsParseBytes(v),
  'graphql.parse_query': (_ctx, q) => graphqlParseQuery(q),
  'graphql.parse_schema': (_ctx, v) => graphqlParseSchema(v),
  'graphql.parse': (_ctx, q, v) => graphqlParse(q, v),
  'graphql.parse_and_verify': (_ctx, q, v) => graphqlParseAndVerify(q, v),
  'graphql.is_valid': (_ctx, q, v) => graphqlIsValid(q, v),
  'graphql.schema_is_valid': (_ctx, v) => graphqlSchemaIsValid(v),
  'uri.parse': (_ctx, v) => uriParse(v),
  'uri.is_valid': (_ctx, v) => uriIsValid(v),
  'uuid.parse': (_ctx, v) => uuidParse(v),
  'net.cidr_is_valid': (_ctx, v) => cidrIsValid(v),
  'net.cidr_expand': (_ctx, v) => cidrExpand(v),
  'net.cidr_merge': (_ctx, v) => cidrMerge(v),
  'net.cidr_contains_matches': (_ctx, a, b) => cidrContainsMatches(a, b),
  'object.subset': (_ctx, a, b) => objectSubsetBuiltin(a, b),
  'regex.replace': (_ctx, s, p, v) => regexReplace(s, p, v),
  'regex.find_n': (_ctx, p, s, n) => regexFindN(p, s, n),
  // Replaces the SDK's, a JavaScript RegExp: RE2 syntax and linear time, like the other regex builtins.
  'regex.split': (_ctx, p, s) => regexSplit(p, s),
  'regex.globs_match': (_ctx, a, b) => regexGlobsMatch(a, b),
  'regex.template_match': (_ctx, t, v, s, e) => regexTemplateMatch(t, v, s, e),
  'glob.quote_meta': (_ctx, v) => globQuoteMeta(v),
  'json.patch': (_ctx, t, p) => jsonPatch(t, p),
  'json.verify_schema': (_ctx, s) => jsonVerifySchema(s),
  'json.match_schema': (_ctx, d, s) => jsonMatchSchema(d, s),
  'json.marshal_with_options': (_ctx, x, o) => marshalWithOptions(x, o),
  'base64url.encode_no_pad': (_ctx, x) => base64urlEncodeNoPad(x),
  'urlquery.encode': (_ctx, x) => urlqueryEncode(x),
  'urlquery.decode': (_ctx, x) => urlqueryDecode(x),
  'urlquery.encode_object': (_ctx, x) => urlqueryEncodeObject(x),
  'urlquery.decode_object': (_ctx, x) => urlqueryDecodeObject(x),
  indexof_n: (_ctx, s, sub) => indexofN(s, sub),
  'strings.split_n': (_ctx, x, d, n) => stringsSplitN(x, d, n),
  'strings.render_template': (_ctx, t, v) => renderTemplate(t, v),
  // Replaces the SDK's, which throws on a non-string and checks only the first document.
  'yaml.is_valid': (_ctx, v) => typeof v === 'string' && parseAllDocuments(v).every((d) => d.errors.length === 0),
  'numbers.range_step': (_ctx, a, b, s) => rangeStep(a, b, s),
  'graph.reachable_paths': (_ctx, g, i) => reachablePaths(g, i),
  'strings.count': (_ctx, s, sub) => {
    const hay = str(s);
    const needle = str(sub);
    if (needle === '') return [...hay].length + 1;
    return hay.split(needle).length - 1;
  },
};

/**
 * Builtins whose integer arguments beyond 2^53 reach them as BigInt (exact)
 * rather than as doubles: nanosecond timestamps, and sprintf's %d/%v.
 */
export const EXACT_INTEGER_BUILTINS: ReadonlySet<string> = new Set([
  'time.format', 'time.date', 'time.clock', 'time.weekday', 'time.add_date', 'time.diff', 'sprintf',
]);

/**
 * Binds the host builtins to one evaluation-context slot, in the shape the SDK
 * expects (`{name: (...args) => result}`). A builtin that throws yields
 * `undefined`, which the wasm ABI treats as an undefined expression: OPA's
 * non-strict builtin-error semantics.
 */
export function bindHostBuiltins(
  current: () => EvalContext,
): Record<string, (...args: unknown[]) => unknown> {
  const bound: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, fn] of Object.entries(HOST_BUILTINS)) {
    bound[name] = (...args: unknown[]) => {
      try {
        return fn(current(), ...args);
      } catch {
        return undefined;
      }
    };
  }
  return bound;
}
