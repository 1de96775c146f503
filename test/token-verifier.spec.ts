import { parseConfig } from '../src/config/load-config.js';
import { TokenVerifier } from '../src/token/token-verifier.js';
import { makeKey, TestIssuer } from './support/auth-server.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';

async function setup(issuerExtra: Record<string, unknown> = {}, clock?: () => number) {
  const a = await makeKey('ES256', 'a');
  const idp = await TestIssuer.start([a]);
  const config = parseConfig({
    issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256', 'RS256'], ...issuerExtra }],
    servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
  });
  const verifier = new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 100, clock });
  return { a, idp, verifier, server: config.servers[0], config };
}

const claims = { sub: 'alice', aud: RESOURCE, scope: 'x y' };

describe('TokenVerifier against a loopback JWKS', () => {
  it('refetches once for an unknown kid and then respects the cooldown', async () => {
    const { idp, verifier, server } = await setup({ jwks_cooldown_s: 30 });
    try {
      await verifier.verify(await idp.sign(claims), server);
      expect(idp.jwksFetches).toBe(1);
      const ghost = await makeKey('ES256', 'ghost');
      await expect(verifier.verify(await idp.sign(claims, { key: ghost }), server)).rejects.toMatchObject({ code: 'token_invalid_signature' });
      expect(idp.jwksFetches).toBe(2);
      await expect(verifier.verify(await idp.sign(claims, { key: ghost }), server)).rejects.toMatchObject({ code: 'token_invalid_signature' });
      expect(idp.jwksFetches).toBe(2);
    } finally {
      await idp.stop();
    }
  });

  it('picks up a rotated key without restart and drops cached tokens when keys change', async () => {
    const { idp, verifier, server } = await setup({ jwks_cooldown_s: 0 });
    try {
      const oldToken = await idp.sign(claims);
      expect((await verifier.verify(oldToken, server)).cached).toBe(false);
      expect((await verifier.verify(oldToken, server)).cached).toBe(true);
      // Rotate: b replaces a.
      const b = await makeKey('RS256', 'b');
      idp.keys = [b];
      const newToken = await idp.sign(claims, { key: b });
      const v = await verifier.verify(newToken, server);
      expect(v.scopes).toEqual(['x', 'y']);
      // a's key is gone: its cached verification must not survive the key change.
      await expect(verifier.verify(oldToken, server)).rejects.toMatchObject({ code: 'token_invalid_signature' });
    } finally {
      await idp.stop();
    }
  });

  it('finds the JWKS through RFC 8414 discovery', async () => {
    const a = await makeKey('ES256', 'a');
    const idp = await TestIssuer.start([a]);
    try {
      const config = parseConfig({
        issuers: [{ issuer: idp.issuer, discovery: true, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
      });
      const verifier = new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 10 });
      const v = await verifier.verify(await idp.sign(claims), config.servers[0]);
      expect(v.claims.sub).toBe('alice');
    } finally {
      await idp.stop();
    }
  });

  it('an unreachable issuer is issuer_unavailable, and known keys keep working when it goes down later', async () => {
    let now = Date.now();
    const { idp, verifier, server } = await setup({ jwks_max_age_s: 1 }, () => now);
    try {
      idp.down = true;
      await expect(verifier.verify(await idp.sign(claims), server)).rejects.toMatchObject({ code: 'issuer_unavailable' });
      idp.down = false;
      now += 30_000; // the failure started a backoff of jwks_cooldown_s (see test/key-transport.spec.ts)
      await verifier.verify(await idp.sign(claims), server);
      idp.down = true;
      now += 1100;
      const v = await verifier.verify(await idp.sign({ ...claims, jti: 'fresh' }), server);
      expect(v.cached).toBe(false);
    } finally {
      await idp.stop();
    }
  });

  it('caches per server and never past exp', async () => {
    const { idp, verifier, server } = await setup();
    try {
      const exp = Math.floor(Date.now() / 1000) + 2;
      const t = await idp.sign({ ...claims, exp });
      expect((await verifier.verify(t, server)).cached).toBe(false);
      expect((await verifier.verify(t, server)).cached).toBe(true);
      await expect(verifier.verify(t, server, (exp + 31) * 1000)).rejects.toMatchObject({ code: 'token_expired' });
    } finally {
      await idp.stop();
    }
  });

  it('answers from the cache only for the very same token and server: a forged payload under a cached signature is verified in full', async () => {
    const { idp, verifier, server } = await setup();
    try {
      const t = await idp.sign(claims);
      expect((await verifier.verify(t, server)).cached).toBe(false);
      const hit = await verifier.verify(t, server);
      expect(hit.cached).toBe(true);
      // What every later hit returns cannot be changed by one caller.
      expect(Object.isFrozen(hit)).toBe(true);
      // Same signature (the part the cache's map key is made of), different claims: must not ride on the cached entry.
      const [h, , sig] = t.split('.');
      const forgedPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory', iss: idp.issuer, exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
      await expect(verifier.verify(`${h}.${forgedPayload}.${sig}`, server)).rejects.toMatchObject({ code: 'token_invalid_signature' });
      // The same token for another server (audience is per server) is not a hit either.
      expect((await verifier.verify(t, { ...server, id: 'other' })).cached).toBe(false);
      expect((await verifier.verify(t, server)).cached).toBe(true);
    } finally {
      await idp.stop();
    }
  });

  it('HMAC needs a configured secret, and then works', async () => {
    expect(() =>
      parseConfig({
        issuers: [{ issuer: 'https://hs.example', algorithms: ['HS256'] }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://hs.example'] }],
      }),
    ).toThrow(/issuers\[0\]\.algorithms: HMAC algorithms need issuers\[0\]\.secret/);
    const secret = 'a-very-long-shared-secret-of-32-bytes!!';
    const config = parseConfig({
      issuers: [{ issuer: 'https://hs.example', algorithms: ['HS256'], secret }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://hs.example'] }],
    });
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ sub: 's', aud: RESOURCE, iss: 'https://hs.example' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(secret));
    const verifier = new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 10 });
    expect((await verifier.verify(token, config.servers[0])).claims.sub).toBe('s');
  });
});
