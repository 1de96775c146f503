/** Semantic Versioning 2.0.0: validation and precedence (semver.is_valid, semver.compare). */
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export function semverIsValid(v: unknown): boolean {
  return typeof v === 'string' && SEMVER.test(v);
}

function cmpIdent(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) return Math.sign(Number(BigInt(a) - BigInt(b)));
  if (na) return -1;
  if (nb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** -1, 0 or 1; throws for invalid versions (undefined in Rego). Build metadata is ignored. */
export function semverCompare(a: unknown, b: unknown): number {
  if (typeof a !== 'string' || typeof b !== 'string') throw new TypeError('operands must be strings');
  const ma = SEMVER.exec(a);
  const mb = SEMVER.exec(b);
  if (!ma || !mb) throw new TypeError('invalid semantic version');
  for (let i = 1; i <= 3; i++) {
    const d = cmpIdent(ma[i], mb[i]);
    if (d !== 0) return d;
  }
  const pa = ma[4];
  const pb = mb[4];
  if (!pa && !pb) return 0;
  if (!pa) return 1;
  if (!pb) return -1;
  const xa = pa.split('.');
  const xb = pb.split('.');
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    if (xa[i] === undefined) return -1;
    if (xb[i] === undefined) return 1;
    const d = cmpIdent(xa[i], xb[i]);
    if (d !== 0) return d;
  }
  return 0;
}
