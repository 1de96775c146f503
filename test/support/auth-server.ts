import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** One signing key of a test issuer. */
export interface TestKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Creates a signing key with its public JWK. */
export async function makeKey(alg: TestKey['alg'], kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/**
 * A real authorization-server stand-in on 127.0.0.1: serves RFC 8414 and
 * OpenID discovery documents and a JWKS whose keys a test can rotate. Counts
 * JWKS fetches so tests can assert refetch and cooldown behaviour.
 */
export class TestIssuer {
  keys: TestKey[] = [];
  jwksFetches = 0;
  down = false;
  private server?: http.Server;
  issuer = '';

  static async start(keys: TestKey[]): Promise<TestIssuer> {
    const t = new TestIssuer();
    t.keys = keys;
    t.server = http.createServer((req, res) => t.handle(req, res));
    await new Promise<void>((r) => t.server!.listen(0, '127.0.0.1', () => r()));
    t.issuer = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    return t;
  }

  get jwksUri(): string {
    return `${this.issuer}/jwks`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.down) {
      res.writeHead(503).end();
      return;
    }
    const send = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/jwks') {
      this.jwksFetches++;
      send({ keys: this.keys.map((k) => k.publicJwk) });
    } else if (req.url === '/.well-known/oauth-authorization-server' || req.url === '/.well-known/openid-configuration') {
      send({ issuer: this.issuer, jwks_uri: this.jwksUri, token_endpoint: `${this.issuer}/token` });
    } else {
      res.writeHead(404).end();
    }
  }

  /** Signs a token with `key` (default: the first key), issuer and a 5-minute expiry unless overridden. */
  async sign(claims: JWTPayload & Record<string, unknown>, opts: { key?: TestKey; header?: Record<string, unknown>; noExp?: boolean; crit?: Record<string, boolean> } = {}): Promise<string> {
    const key = opts.key ?? this.keys[0];
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = { iss: this.issuer, iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims };
    if (opts.noExp) delete payload.exp;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...opts.header })
      .sign(key.privateKey, opts.crit ? { crit: opts.crit } : undefined);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}
