/**
 * uuid.parse with the input forms and fields OPA reports (it uses
 * github.com/google/uuid): 36-char canonical, "urn:uuid:" (any case) prefix,
 * 38 chars with any one-byte wrapper, 32 hex digits. Versions 1 and 2 add the
 * time (ns since the Unix epoch), node id, clock sequence; version 2 adds the
 * DCE domain and id.
 */
function toBytes(s: string): Buffer | undefined {
  let t = s;
  if (t.length === 36 + 9) {
    if (t.slice(0, 9).toLowerCase() !== 'urn:uuid:') return undefined;
    t = t.slice(9);
  } else if (t.length === 38) {
    t = t.slice(1, 37);
  } else if (t.length === 32) {
    return /^[0-9a-fA-F]{32}$/.test(t) ? Buffer.from(t, 'hex') : undefined;
  }
  if (t.length !== 36) return undefined;
  if (t[8] !== '-' || t[13] !== '-' || t[18] !== '-' || t[23] !== '-') return undefined;
  const hex = t.slice(0, 8) + t.slice(9, 13) + t.slice(14, 18) + t.slice(19, 23) + t.slice(24);
  return /^[0-9a-fA-F]{32}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

function variant(b: number): string {
  if ((b & 0xc0) === 0x80) return 'RFC4122';
  if ((b & 0xe0) === 0xe0) return 'Future';
  if ((b & 0xe0) === 0xc0) return 'Microsoft';
  return 'Reserved';
}

function macVars(b: number): string {
  if ((b & 0b11) === 0b11) return 'local:multicast';
  if ((b & 0b01) === 0b01) return 'global:multicast';
  if ((b & 0b10) === 0b10) return 'local:unicast';
  return 'global:unicast';
}

const GREGORIAN_TO_UNIX_100NS = 122192928000000000n;

export function uuidParse(v: unknown): Record<string, unknown> | undefined {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  const u = toBytes(v);
  if (!u) return undefined;
  const version = u[6] >> 4;
  const out: Record<string, unknown> = { version, variant: variant(u[8]) };
  if (version === 1 || version === 2) {
    const t = BigInt(u.readUInt32BE(0)) | (BigInt(u.readUInt16BE(4)) << 32n) | (BigInt(u.readUInt16BE(6) & 0xfff) << 48n);
    const since = t - GREGORIAN_TO_UNIX_100NS;
    const sec = since / 10_000_000n;
    const nsec = (since % 10_000_000n) * 100n;
    out.time = sec * 1_000_000_000n + nsec;
    out.nodeid = [...u.subarray(10, 16)].map((b) => b.toString(16).padStart(2, '0')).join('-');
    out.macvariables = macVars(u[10]);
    out.clocksequence = u.readUInt16BE(8) & 0x3fff;
    if (version === 2) {
      out.id = u.readUInt32BE(0);
      const d = u[9];
      out.domain = d === 0 ? 'Person' : d === 1 ? 'Group' : d === 2 ? 'Org' : `Domain${d}`;
    }
  }
  return out;
}

