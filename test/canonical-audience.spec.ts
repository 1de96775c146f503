import { parseConfig } from '../src/config/load-config.js';
import { TokenVerifier } from '../src/token/token-verifier.js';
import { makeKey, TestIssuer } from './support/auth-server.js';

// MCP authorization spec, "Canonical server URI": servers SHOULD accept an upper-case
// scheme and host in `aud`; nothing looser. Every token is signed with the trusted key,
// so only the audience check decides.
const RESOURCE = 'https://mcp.example.com/mcp';

describe('aud: canonical server URIs', () => {
  let idp: TestIssuer;
  let verifier: TokenVerifier;
  let server: ReturnType<typeof parseConfig>['servers'][number];

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const config = parseConfig({
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    });
    server = config.servers[0];
    verifier = new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 100 });
  });

  afterAll(() => idp.stop());

  it.each([
    ['HTTPS://MCP.EXAMPLE.COM/mcp'],
    ['https://MCP.Example.com/mcp'],
    ['Https://mcp.example.com/mcp'],
  ])('accepts %s (scheme and host compare without case)', async (aud) => {
    const v = await verifier.verify(await idp.sign({ sub: 'alice', aud }), server);
    expect(v.claims.aud).toBe(aud);
  });

  it('accepts the upper-case form inside an aud array', async () => {
    const v = await verifier.verify(await idp.sign({ sub: 'alice', aud: ['https://other.example/api', 'HTTPS://MCP.EXAMPLE.COM/mcp'] }), server);
    expect(v.issuer).toBe(idp.issuer);
  });

  it.each([
    ['trailing slash', 'https://mcp.example.com/mcp/'],
    ['fragment', 'https://mcp.example.com/mcp#x'],
    ['prefix of the path', 'https://mcp.example.com/mc'],
    ['path in another case (paths are case-sensitive)', 'https://mcp.example.com/MCP'],
    ['upper-case host and another path case', 'HTTPS://MCP.EXAMPLE.COM/MCP'],
    ['explicit default port', 'https://mcp.example.com:443/mcp'],
    ['another scheme', 'http://mcp.example.com/mcp'],
    ['query', 'https://mcp.example.com/mcp?x=1'],
    ['userinfo', 'https://MCP.EXAMPLE.COM@mcp.example.com/mcp'],
    ['host only', 'https://mcp.example.com'],
  ])('refuses a %s variant (%s)', async (_what, aud) => {
    await expect(verifier.verify(await idp.sign({ sub: 'alice', aud }), server)).rejects.toMatchObject({ code: 'token_audience_mismatch' });
  });
});
