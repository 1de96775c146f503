import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { CommandFailedError } from '../common/command-errors.js';

/** The demo issuer named in config/demo.yaml. */
export const DEMO_ISSUER = 'https://auth.demo.toolgate.test';

/**
 * Creates an ES256 key pair for the demo issuer under `dir` (private.jwk.json,
 * jwks.json) unless one exists. For local demos only: production keys belong
 * to a real authorization server.
 */
export async function ensureDemoKeys(dir: string): Promise<string> {
  const jwksPath = path.join(dir, 'jwks.json');
  const privPath = path.join(dir, 'private.jwk.json');
  if (existsSync(jwksPath) && existsSync(privPath)) return jwksPath;
  await mkdir(dir, { recursive: true });
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `demo-${Date.now().toString(36)}`;
  const pub: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const priv: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
  await writeFile(privPath, JSON.stringify(priv), { mode: 0o600 });
  await writeFile(jwksPath, JSON.stringify({ keys: [pub] }, null, 2));
  return jwksPath;
}

/** Claims of a demo access token. */
export interface DemoTokenClaims {
  sub: string;
  roles: string[];
  scope: string;
  projects: string[];
  aud: string;
  ttlSeconds: number;
}

/**
 * Signs an RFC 9068-style access token with the demo key in `dir`. The key is
 * never created here (only `toolgate demo-keys` does): a token signed by a key
 * made on the spot is one no running toolgate trusts.
 */
export async function mintDemoToken(dir: string, c: DemoTokenClaims): Promise<string> {
  const privPath = path.join(dir, 'private.jwk.json');
  if (!existsSync(privPath) || !existsSync(path.join(dir, 'jwks.json'))) {
    throw new CommandFailedError('demo_keys_missing', `no demo key pair in ${dir} (private.jwk.json and jwks.json); create it with: toolgate demo-keys --out ${dir}`);
  }
  const priv = JSON.parse(await readFile(privPath, 'utf8')) as JWK;
  const key = await importJWK(priv, 'ES256');
  return new SignJWT({ scope: c.scope, roles: c.roles, projects: c.projects, client_id: 'demo-client' })
    .setProtectedHeader({ alg: 'ES256', kid: priv.kid, typ: 'at+jwt' })
    .setIssuer(DEMO_ISSUER)
    .setSubject(c.sub)
    .setAudience(c.aud)
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime(`${c.ttlSeconds}s`)
    .sign(key);
}
