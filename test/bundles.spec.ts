import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { CompactSign } from 'jose';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BundleFiles } from '../src/policy-compiler/bundle-archive.js';
import { readBundleArchive } from '../src/policy-compiler/bundle-archive.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { canonicalJsonHash } from '../src/policy-store/canonical-json.js';
import { loadBundleKeys, verifyBundleSignature } from '../src/policy-store/bundle-signature.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { spellings } from './support/spellings.js';
import { writeTarGz } from './support/tar.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';

function rsaPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    pub: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

interface Status {
  active: { revision: string } | null;
  last_failure: { at: string; step: string; code: string; message: string } | null;
  last_poll?: { result: string; etag: string | null };
  history: { revision: string }[];
  warnings: string[];
}

describe('signed bundles built by the real opa and verified with jose', () => {
  let ws: PolicyWorkspace;
  let good: BundleFiles;
  let goodArchive: Buffer;
  let keys: ReturnType<typeof loadBundleKeys>;
  let other: ReturnType<typeof rsaPair>;

  beforeAll(async () => {
    ws = await policyWorkspace();
    const ci = rsaPair();
    other = rsaPair();
    await ws.write('ci.pem', ci.priv);
    await ws.write('ci.pub.pem', ci.pub);
    await ws.write('other.pem', other.priv);
    const built = await buildPolicyBundle({
      policyDir: ws.policies,
      outDir: ws.out,
      runTests: false,
      signing: { keyPath: path.join(ws.dir, 'ci.pem'), keyId: 'ci', scope: 'toolgate' },
    });
    good = built.files;
    goodArchive = await readFile(built.bundlePath);
    keys = loadBundleKeys({ keys: [{ keyid: 'ci', algorithm: 'RS256', key_file: path.join(ws.dir, 'ci.pub.pem') }], scope: 'toolgate' });
  });

  afterAll(() => ws.cleanup());

  it('a good signed bundle verifies', async () => {
    const v = await verifyBundleSignature(good, keys, 'toolgate');
    expect(v.keyid).toBe('ci');
    expect(v.files).toEqual(expect.arrayContaining(['data.json', 'policy.wasm', '.manifest', 'mcp/authz/decision.rego']));
  });

  it('hashes JSON as OPA does: key order and whitespace do not matter, number literals do', () => {
    expect(canonicalJsonHash('{"b": [1, 2.50], "a": {"y": null, "x": "\\u00e9"}}', 'sha256')).toBe(
      canonicalJsonHash('{"a":{"x":"é","y":null},"b":[1,2.50]}', 'sha256'),
    );
    expect(canonicalJsonHash('{"a": 2.50}', 'sha256')).not.toBe(canonicalJsonHash('{"a": 2.5}', 'sha256'));
  });

  const tamper = async (mutate: (f: BundleFiles) => Promise<void> | void) => {
    const files: BundleFiles = new Map([...good].map(([k, v]) => [k, Buffer.from(v)]));
    await mutate(files);
    return files;
  };

  const resign = async (opts: { key: string; keyId: string; scope?: string }) => {
    const built = await buildPolicyBundle({ policyDir: ws.policies, outDir: path.join(ws.dir, 'resign'), runTests: false, signing: { keyPath: path.join(ws.dir, opts.key), keyId: opts.keyId, scope: opts.scope } });
    return built.files;
  };

  it.each([
    ['edited data.json', () => tamper((f) => void f.set('/data.json', Buffer.from(f.get('/data.json')!.toString().replace('"support_agent":100', '"support_agent":100000')))), /data\.json: digest mismatch/],
    ['edited data.json, same JSON re-ordered (allowed: hashed canonically)', null, null],
    ['edited policy.wasm', () => tamper((f) => {
      const w = f.get('/policy.wasm')!;
      w[w.length - 10] ^= 0xff;
    }), /policy\.wasm: digest mismatch/],
    ['removed file', () => tamper((f) => void f.delete('/mcp/authz/arguments.rego')), /missing from the bundle: mcp\/authz\/arguments\.rego/],
    ['added file', () => tamper((f) => void f.set('/mcp/authz/backdoor.rego', Buffer.from('package mcp.authz\n'))), /backdoor\.rego is in the bundle but not in its signature/],
    ['removed signature', () => tamper((f) => void f.delete('/.signatures.json')), /not signed/],
    ['wrong key (same key id)', () => resign({ key: 'other.pem', keyId: 'ci', scope: 'toolgate' }), /does not verify/],
    ['unknown key id', () => resign({ key: 'other.pem', keyId: 'intruder', scope: 'toolgate' }), /"intruder", which is not configured/],
    ['wrong scope', () => resign({ key: 'ci.pem', keyId: 'ci', scope: 'staging' }), /scope "staging" does not match/],
    ['no scope when one is required', () => resign({ key: 'ci.pem', keyId: 'ci' }), /scope "" does not match/],
    ['two signatures', () => tamper((f) => {
      const s = JSON.parse(f.get('/.signatures.json')!.toString()).signatures[0];
      f.set('/.signatures.json', Buffer.from(JSON.stringify({ signatures: [s, s] })));
    }), /exactly one signature/],
  ] as [string, (() => Promise<BundleFiles>) | null, RegExp | null][])('%s', async (_name, make, error) => {
    if (!make) {
      const files = await tamper((f) => {
        const reverseKeys = (v: unknown): unknown =>
          Array.isArray(v)
            ? v.map(reverseKeys)
            : v && typeof v === 'object'
              ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)]))
              : v;
        const text = f.get('/data.json')!.toString();
        const reordered = JSON.stringify(reverseKeys(JSON.parse(text)), null, 4);
        expect(reordered).not.toBe(text);
        f.set('/data.json', Buffer.from(reordered));
      });
      await expect(verifyBundleSignature(files, keys, 'toolgate')).resolves.toMatchObject({ keyid: 'ci' });
      return;
    }
    await expect(verifyBundleSignature(await make(), keys, 'toolgate')).rejects.toMatchObject({ code: 'bundle_signature_invalid', step: 'verify', message: expect.stringMatching(error!) });
  });

  it('a signature spelled in non-canonical base64url is refused, each spelling naming its segment; the canonical one verifies', async () => {
    const jws = JSON.parse(good.get('/.signatures.json')!.toString()).signatures[0] as string;
    const variants = spellings(jws);
    // RS256 with a 2048-bit key: 256 bytes, 342 characters, 4 unused bits: padding and a flipped bit apply.
    expect(variants.filter((v) => v.segment === 'signature').map((v) => v.name)).toEqual([
      'signature: a space inside',
      'signature: a tab inside',
      'signature: = padding',
      'signature: an unused bit set in the last character',
    ]);
    for (const v of variants) {
      const files = await tamper((f) => void f.set('/.signatures.json', Buffer.from(JSON.stringify({ signatures: [v.jws] }))));
      await expect(verifyBundleSignature(files, keys, 'toolgate')).rejects.toMatchObject({
        code: 'bundle_signature_invalid',
        step: 'verify',
        message: expect.stringContaining(`the bundle signature's ${v.segment} is not canonical base64url (RFC 7515): it `),
      });
    }
    await expect(verifyBundleSignature(good, keys, 'toolgate')).resolves.toMatchObject({ keyid: 'ci' });
  });

  it.each([
    ['MD5', false, 'md5'],
    ['SHA-1', false, 'sha1'],
    ['SHA-224', false, 'sha224'],
    ['SHA-512', true, 'sha512'],
    ['SHA-384', true, 'sha384'],
  ] as [string, boolean, string][])('file hashes with %s in a signature by the trusted key: accepted %s', async (name, accepted, alg) => {
    // Re-sign the real bundle's file list with the trusted key, hashing every file with `alg`:
    // only the hash-strength check can refuse this.
    const structured = (n: string) => /(^|\/)(data\.json|\.manifest)$/.test(n);
    const entries = [...good].filter(([n]) => n !== '/.signatures.json').map(([n, bytes]) => ({
      name: n.replace(/^\//, ''),
      hash: structured(n) ? canonicalJsonHash(bytes.toString('utf8'), alg) : createHash(alg).update(bytes).digest('hex'),
      algorithm: name,
    }));
    const priv = createPrivateKey(await readFile(path.join(ws.dir, 'ci.pem'), 'utf8'));
    const jws = await new CompactSign(Buffer.from(JSON.stringify({ files: entries, keyid: 'ci', scope: 'toolgate' })))
      .setProtectedHeader({ alg: 'RS256', kid: 'ci' })
      .sign(priv);
    const files: BundleFiles = new Map(good);
    files.set('/.signatures.json', Buffer.from(JSON.stringify({ signatures: [jws] })));
    if (accepted) {
      await expect(verifyBundleSignature(files, keys, 'toolgate')).resolves.toMatchObject({ keyid: 'ci' });
    } else {
      await expect(verifyBundleSignature(files, keys, 'toolgate')).rejects.toMatchObject({
        code: 'bundle_signature_invalid',
        message: expect.stringMatching(new RegExp(`hash algorithm ${name} is not accepted`)),
      });
    }
  });

  describe('the service activates only verified bundles and keeps the last good one', () => {
    let idp: TestIssuer;
    let app: RunningApp;
    let token: string;
    const bundlePath = () => path.join(ws.dir, 'served', 'bundle.tar.gz');
    const status = async () => (await app.get('/v1/status')).body as Status;

    beforeAll(async () => {
      idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
      await ws.write('served/bundle.tar.gz', '');
      await writeFile(bundlePath(), goodArchive);
      app = await startApp({
        policy: {
          mode: 'bundle',
          bundle: { path: bundlePath(), signing: { keys: [{ keyid: 'ci', algorithm: 'RS256', key_file: path.join(ws.dir, 'ci.pub.pem') }], scope: 'toolgate' } },
        },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
      });
      token = await idp.sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 3600 });
    });

    afterAll(async () => {
      await app?.close();
      await idp?.stop();
    });

    it('loads the signed bundle, rejects tampered ones written over it, and keeps answering', async () => {
      const first = await status();
      expect(first.active).not.toBeNull();
      const rev = first.active!.revision;
      const refund = (amount: number) => app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o', amount, currency: 'USD' } } });
      expect((await refund(500)).body).toMatchObject({ allow: false, revision: rev });

      const evil = new Map(good);
      evil.set('/data.json', Buffer.from(good.get('/data.json')!.toString().replace('"support_agent":100', '"support_agent":100000')));
      let lastAt = first.last_failure?.at;
      for (const archive of [writeTarGz(evil), writeTarGz(new Map([...good].filter(([k]) => k !== '/.signatures.json'))), Buffer.from('not a bundle')]) {
        await writeFile(bundlePath(), archive);
        const f = await waitFor(async () => {
          const s = await status();
          return s.last_failure && s.last_failure.at !== lastAt && s.last_failure;
        });
        lastAt = f.at;
        expect(['verify', 'bundle']).toContain(f.step);
        expect((await refund(500)).body).toMatchObject({ allow: false, revision: rev });
      }
      expect((await status()).active!.revision).toBe(rev);
    });
  });
});

describe('bundle URL polling with ETags', () => {
  it('downloads once, then gets 304s, picks up a new revision, and keeps serving when the server is down', async () => {
    const ws = await policyWorkspace();
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const first = await buildPolicyBundle({ policyDir: ws.policies, outDir: path.join(ws.dir, 'b1'), runTests: false, revision: 'rev-1' });
    const second = await buildPolicyBundle({ policyDir: ws.policies, outDir: path.join(ws.dir, 'b2'), runTests: false, revision: 'rev-2' });
    let current = { body: await readFile(first.bundlePath), etag: '"rev-1"' };
    const seen = { full: 0, notModified: 0 };
    const server = http.createServer((req, res) => {
      if (req.headers['if-none-match'] === current.etag) {
        seen.notModified++;
        res.writeHead(304).end();
        return;
      }
      seen.full++;
      res.writeHead(200, { etag: current.etag, 'content-type': 'application/gzip' }).end(current.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles/toolgate.tar.gz`;
    const app = await startApp({
      // Unsigned on purpose: this test is about polling; the opt-out must be explicit and is reported.
      policy: { mode: 'bundle', bundle: { url, poll_interval_s: 1, timeout_ms: 1000, allow_unsigned: true } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    });
    const status = async () => (await app.get('/v1/status')).body as Status;
    try {
      expect((await status()).active!.revision).toBe('rev-1');
      expect((await status()).warnings).toEqual([expect.stringContaining('policy.bundle.allow_unsigned')]);
      await waitFor(() => seen.notModified >= 2, 10_000, 'two 304s');
      expect(seen.full).toBe(1);
      expect((await status()).last_poll).toMatchObject({ result: 'not_modified', etag: '"rev-1"' });

      current = { body: await readFile(second.bundlePath), etag: '"rev-2"' };
      await waitFor(async () => (await status()).active?.revision === 'rev-2', 10_000, 'rev-2');
      expect(seen.full).toBe(2);

      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      const f = await waitFor(async () => (await status()).last_failure, 10_000, 'a fetch failure');
      expect(f).toMatchObject({ step: 'fetch', code: 'bundle_fetch_failed' });
      expect((await app.get('/readyz')).status).toBe(200);
      const s = await status();
      expect(s.active!.revision).toBe('rev-2');
      expect(s.history.map((h) => h.revision)).toEqual(['rev-2', 'rev-1']);
    } finally {
      await app.close();
      await idp.stop();
      server.close();
      await ws.cleanup();
    }
  });

  it('a bundle whose wasm fails to load keeps the last good revision (unsigned file mode)', async () => {
    const ws = await policyWorkspace();
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const built = await buildPolicyBundle({ policyDir: ws.policies, outDir: ws.out, runTests: false, revision: 'good' });
    const file = path.join(ws.dir, 'bundle.tar.gz');
    await writeFile(file, await readFile(built.bundlePath));
    const app = await startApp({
      policy: { mode: 'bundle', bundle: { path: file } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    });
    const status = async () => (await app.get('/v1/status')).body as Status;
    try {
      expect((await status()).active!.revision).toBe('good');
      const broken = new Map(built.files);
      broken.set('/policy.wasm', Buffer.from('\0asm garbage'));
      broken.set('/.manifest', Buffer.from(JSON.stringify({ revision: 'broken' })));
      await writeFile(file, writeTarGz(broken));
      const f = await waitFor(async () => (await status()).last_failure, 10_000, 'load failure');
      expect(f).toMatchObject({ step: 'load', code: 'load_invalid_wasm' });
      expect((await status()).active!.revision).toBe('good');
    } finally {
      await app.close();
      await idp.stop();
      await ws.cleanup();
    }
  });

  it('reads bundles written by our tar writer the same as opa\'s', async () => {
    const files = new Map([['/a.json', Buffer.from('{}')]]);
    expect(readBundleArchive(writeTarGz(files))).toEqual(files);
  });
});
