import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** The benchmarks' token issuer: one ES256 key, its JWKS written to `dir/jwks.json`. */
export interface BenchIssuer {
  jwksFile: string;
  publicJwk: JWK;
  /** A support agent's token with `refunds:write`, for `resource`; `claims` override. */
  sign(claims?: Record<string, unknown>, ttl?: string): Promise<string>;
}

export async function benchIssuer(dir: string, issuer: string, resource: string): Promise<BenchIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [publicJwk] }));
  return {
    jwksFile,
    publicJwk,
    sign: (claims = {}, ttl = '2h') =>
      new SignJWT({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(typeof claims.aud === 'string' ? claims.aud : resource)
        .setIssuedAt()
        .setExpirationTime(ttl)
        .sign(privateKey),
  };
}
