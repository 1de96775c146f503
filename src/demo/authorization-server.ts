import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** Demo accounts and the claims their access tokens carry (any other login gets no roles). */
export const ACCOUNTS: Record<string, { roles: string[]; projects: string[] }> = {
  alice: { roles: ['support_agent'], projects: ['web'] },
  fred: { roles: ['finance'], projects: [] },
  erin: { roles: ['engineer'], projects: ['api', 'web'] },
  rita: { roles: ['release_manager'], projects: [] },
  'ops-reader': { roles: [], projects: [] },
  'ops-admin': { roles: [], projects: [] },
};

/** What each demo account may do with toolgate's admin API (console sign-in); other accounts get no admin scope. */
export const ADMIN_ACCOUNTS: Record<string, string[]> = {
  'ops-reader': ['toolgate:read'],
  'ops-admin': ['toolgate:read', 'toolgate:admin'],
};

/** The console's OAuth client (public: PKCE, no secret). */
export const CONSOLE_CLIENT_ID = 'toolgate-console';

/** The admin audience and the console's redirect URIs, when the demo signs the console in. */
export interface ConsoleClientOptions {
  /** toolgate's admin.audience: tokens for it carry toolgate:read / toolgate:admin per ADMIN_ACCOUNTS. */
  adminAudience: string;
  /** E.g. `http://127.0.0.1:8181/console/callback`. */
  redirectUris: string[];
}

/** The origins the console runs on: the only browser origins allowed to call the token endpoint cross-origin. */
function consoleOrigins(c: ConsoleClientOptions | undefined): Set<string> {
  return new Set((c?.redirectUris ?? []).map((u) => new URL(u).origin));
}

/** The part of oidc-provider's request context the scope decision reads. */
interface ResourceContext {
  oidc?: { route?: string; entities?: { Grant?: { accountId?: string }; AuthorizationCode?: { accountId?: string } } };
}

/**
 * Scopes a resource server accepts. For toolgate's admin audience: both admin scopes while
 * the user is asked (so the request is valid whoever signs in), then at the token endpoint
 * only what the signed-in account holds (ADMIN_ACCOUNTS), so ops-reader gets a read-only token.
 */
function resourceScopesFor(ctx: ResourceContext, resource: string, mcpScopes: string, c: ConsoleClientOptions | undefined): string {
  if (!c || resource !== c.adminAudience) return mcpScopes;
  if (ctx.oidc?.route !== 'token') return 'toolgate:read toolgate:admin';
  const account = ctx.oidc.entities?.Grant?.accountId ?? ctx.oidc.entities?.AuthorizationCode?.accountId;
  return (account ? (ADMIN_ACCOUNTS[account] ?? []) : []).join(' ');
}

/**
 * A real OAuth 2.1 / OpenID authorization server (oidc-provider) on 127.0.0.1,
 * for the demo and the end-to-end tests (not for production use):
 * dynamic client registration, authorization code with PKCE (required),
 * resource indicators (RFC 8707) issuing JWT access tokens (RFC 9068) for the
 * requested resource, and its development login/consent interactions.
 */
export class DemoAuthorizationServer {
  issuer = '';
  private server?: http.Server;

  static async start(resourceScopes: string, port = 0, consoleClient?: ConsoleClientOptions): Promise<DemoAuthorizationServer> {
    const as = new DemoAuthorizationServer();
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    as.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const origins = consoleOrigins(consoleClient);
    const provider = new Provider(as.issuer, {
      // The console: a static public client (no secret, PKCE S256 enforced below) redirecting back to toolgate.
      clients: consoleClient
        ? [
            {
              client_id: CONSOLE_CLIENT_ID,
              client_name: 'toolgate console',
              application_type: 'web',
              token_endpoint_auth_method: 'none',
              grant_types: ['authorization_code'],
              response_types: ['code'],
              redirect_uris: consoleClient.redirectUris,
              id_token_signed_response_alg: 'ES256',
            },
          ]
        : [],
      // Cross-origin calls from the console's page: discovery and JWKS are open to every origin (oidc-provider
      // serves them with CORS regardless of client); only the token endpoint, which is client-based, is limited
      // to the console client from toolgate's origin. Which admin scopes a token gets is decided per account
      // (ADMIN_ACCOUNTS), not per client.
      clientBasedCORS: (_ctx: unknown, origin: string, client: { clientId: string }) => client.clientId === CONSOLE_CLIENT_ID && origins.has(origin),
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'as-1', alg: 'ES256', use: 'sig' }] },
      features: {
        registration: { enabled: true },
        devInteractions: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => undefined,
          useGrantedResource: () => true,
          getResourceServerInfo: (ctx: ResourceContext, resourceIndicator: string) => ({
            scope: resourceScopesFor(ctx, resourceIndicator, resourceScopes, consoleClient),
            audience: resourceIndicator,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } },
          }),
        },
      },
      findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id }) }),
      extraTokenClaims: async (_ctx: unknown, token: { kind: string; accountId?: string }) =>
        token.kind === 'AccessToken' && token.accountId ? (ACCOUNTS[token.accountId] ?? {}) : undefined,
      pkce: { required: () => true },
      clientDefaults: { token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' },
    } as never);
    server.on('request', provider.callback());
    as.server = server;
    return as;
  }

  /** A handle on an already running server (to register clients and get tokens from another process). */
  static at(issuer: string): DemoAuthorizationServer {
    const as = new DemoAuthorizationServer();
    as.issuer = issuer;
    return as;
  }

  /** Dynamic client registration (RFC 7591) of a public native client with a loopback redirect. */
  async register(): Promise<{ client_id: string; redirect_uri: string }> {
    const redirect_uri = 'http://127.0.0.1/callback';
    const res = await fetch(`${this.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ application_type: 'native', redirect_uris: [redirect_uri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] }),
    });
    if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
    return { client_id: ((await res.json()) as { client_id: string }).client_id, redirect_uri };
  }

  /**
   * Runs the authorization-code flow for `account` through the login and consent
   * interactions, with PKCE S256 unless `pkce` is false, and redeems the code for
   * an access token for `resource`. Throws with the server's error when refused.
   */
  async token(opts: { client_id: string; redirect_uri: string; account: string; scope: string; resource: string; pkce?: boolean }): Promise<string> {
    const jar = new Map<string, string>();
    const send = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      return res;
    };
    const verifier = randomBytes(32).toString('base64url');
    const params = new URLSearchParams({ client_id: opts.client_id, response_type: 'code', redirect_uri: opts.redirect_uri, scope: opts.scope, resource: opts.resource, state: 's1' });
    if (opts.pkce !== false) {
      params.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
      params.set('code_challenge_method', 'S256');
    }
    let res = await send(`${this.issuer}/auth?${params}`);
    for (let step = 0; step < 10; step++) {
      const location = res.headers.get('location');
      if (!location) throw new Error(`authorization stopped at ${res.status}: ${(await res.text()).slice(0, 300)}`);
      const next = new URL(location, this.issuer);
      if (next.href.startsWith(opts.redirect_uri)) {
        const error = next.searchParams.get('error');
        if (error) throw new Error(`authorization refused: ${error}: ${next.searchParams.get('error_description')}`);
        const code = next.searchParams.get('code')!;
        const tokenRes = await fetch(`${this.issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: opts.redirect_uri, client_id: opts.client_id, code_verifier: verifier, resource: opts.resource }),
        });
        const body = (await tokenRes.json()) as { access_token?: string; error?: string; error_description?: string };
        if (!body.access_token) throw new Error(`token refused: ${body.error}: ${body.error_description}`);
        return body.access_token;
      }
      if (/\/interaction\//.test(next.pathname)) {
        const page = await (await send(next.href)).text();
        const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
        const form: Record<string, string> = prompt === 'login' ? { prompt, login: opts.account, password: 'any' } : { prompt: prompt ?? 'consent' };
        res = await send(next.href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
      } else {
        res = await send(next.href);
      }
    }
    throw new Error('authorization did not finish');
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
