import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pw from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_AUDIENCE, buildConsole, startConsoleStack, writeReplayReport, type ConsoleStack } from './support/console-stack.js';
import { ROOT } from './support/policy-fixtures.js';

const CHROMIUM = process.env.TOOLGATE_CHROMIUM ?? '/usr/bin/chromium';
const FAILURES = path.join(ROOT, 'build', 'console-failures');
const SCREENSHOT = path.join(ROOT, 'docs', 'console-overview.png');
/** Generous: a cold Chromium, a policy rebuild and the decision-log flush on a shared 2-core machine. */
const SLOW = 120_000;

/**
 * The operator console in a real browser (Debian's Chromium through
 * playwright-core) against the real stack: oidc-provider as authorization
 * server, toolgate serving /console and the admin API, the demo MCP server
 * guarded by toolgate, and the official MCP client making the tool calls.
 * The tests run in order and share one signed-in page.
 */
describe('operator console in Chromium', () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Access tokens the authorization server handed to the browser (to prove they never reach storage or the DOM). */
  const issued: string[] = [];
  const cspViolations: string[] = [];
  /** Headers of the console's API calls to toolgate. */
  const toToolgate: { cookie: boolean; bearer: boolean }[] = [];
  const pageErrors: string[] = [];

  /** Runs a test body; on failure keeps a screenshot under build/console-failures/. */
  const step = async (name: string, body: () => Promise<void>) => {
    try {
      await body();
    } catch (e) {
      await mkdir(FAILURES, { recursive: true });
      await page?.screenshot({ path: path.join(FAILURES, `${name}.png`), fullPage: true }).catch(() => undefined);
      throw e;
    }
  };

  const mcpToken = (account: string, scope: string) => stack.as.token({ ...stack.mcpClient, account, scope, resource: stack.resource });
  const mcpConnect = async (token: string) => {
    const c = new Client({ name: 'console-e2e', version: '0.0.0' });
    await c.connect(new StreamableHTTPClientTransport(new URL(stack.mcp.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return c;
  };

  /** Signs in through the console's button, the authorization server's login form and its consent page. */
  const signIn = async (account: string) => {
    await page.goto(`${stack.url}/console/`);
    await page.getByRole('button', { name: /^Sign in with/ }).click();
    await page.locator('input[name="login"]').fill(account);
    await page.locator('input[name="password"]').fill('any');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    // Consent is asked once per account and client.
    await page.waitForURL((u) => u.href.startsWith(`${stack.url}/console/`) || /\/interaction\//.test(u.pathname));
    if (/\/interaction\//.test(new URL(page.url()).pathname)) await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByTestId('who').waitFor();
  };

  /** Opens a console route (hash) and waits for its heading. */
  const open = async (hash: string, heading: string) => {
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };

  /**
   * Runs `action` and waits for the decision list to load a page after it: the previous page
   * stays on screen until the new one arrives, and `data-seq` tells them apart. (Polled with
   * page.evaluate: waitForFunction with a string needs eval, which the console's CSP forbids.)
   */
  const freshList = async (action: () => Promise<void>) => {
    const seq = "Number(document.querySelector('[data-testid=decisions-source]')?.dataset.seq ?? 0)";
    const before = (await page.evaluate(seq)) as number;
    await action();
    for (let j = 0; ((await page.evaluate(seq)) as number) <= before; j++) {
      if (j > 400) throw new Error('the decision list did not reload');
      await page.waitForTimeout(25);
    }
  };

  /** Re-applies the decision filters until a row matches (the file sink flushes in the background). */
  const waitForDecisionRow = async (selector: string) => {
    for (let i = 0; ; i++) {
      await freshList(() => page.getByRole('button', { name: 'Apply filters' }).click());
      if ((await page.locator(selector).count()) > 0) return;
      if (i > 200) throw new Error(`no decision row matching ${selector}`);
      await page.waitForTimeout(250);
    }
  };

  beforeAll(async () => {
    buildConsole();
    stack = await startConsoleStack();
    browser = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    await newOperator();
  }, SLOW);

  /** A fresh browser context (no cookies at the authorization server: another operator) and its page, watched. */
  const newOperator = async () => {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    // Every violation the browser enforces becomes a console error the listener below sees
    // (init scripts are injected by the browser, so the CSP does not apply to this one).
    await context.addInitScript(
      "document.addEventListener('securitypolicyviolation', (e) => console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))",
    );
    page = await context.newPage();
    const p = page;
    p.on('console', (m) => {
      if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspViolations.push(`${p.url()}: ${m.text()}`);
    });
    p.on('pageerror', (e) => pageErrors.push(String(e)));
    p.on('request', async (req) => {
      if (req.url().startsWith(`${stack.url}/v1/`)) {
        const h = await req.allHeaders();
        toToolgate.push({ cookie: 'cookie' in h, bearer: /^Bearer \S+$/.test(h.authorization ?? '') });
      }
    });
    p.on('response', async (res) => {
      if (res.url().startsWith(stack.as.issuer) && new URL(res.url()).pathname === '/token' && res.request().method() === 'POST') {
        const body = (await res.json().catch(() => ({}))) as { access_token?: string };
        if (body.access_token) issued.push(body.access_token);
      }
    });
  };

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('serves the console with a strict CSP and signs in through the authorization server (code + PKCE); the token stays in memory', () =>
    step('sign-in', async () => {
      const res = await fetch(`${stack.url}/console/`);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toMatch(/style-src 'self'(;|$)/);
      expect(csp).not.toContain('unsafe-inline');

      await signIn('ops-admin');
      await expect(page.getByTestId('who').textContent()).resolves.toContain('admin');
      expect(issued).toHaveLength(1);
      const token = issued[0];
      const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      expect(claims).toMatchObject({ aud: ADMIN_AUDIENCE, sub: 'ops-admin', client_id: stack.consoleClient.client_id });
      // Nothing of the round trip or the token is left in storage, cookies, the URL or the page.
      // (Evaluated in the page, hence a string: the test's tsconfig has no DOM types.)
      const storage = await page.evaluate('({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, url: location.href })');
      expect(storage).toEqual({ local: 0, session: 0, cookie: '', url: `${stack.url}/console/` });
      expect(await page.content()).not.toContain(token);
      // Every call to toolgate carried the bearer token and no cookie (the authorization server's
      // session cookies are for the same host, so omitting credentials matters).
      expect(toToolgate.length).toBeGreaterThan(0);
      for (const h of toToolgate) expect(h).toEqual({ cookie: false, bearer: true });
    }),
    SLOW,
  );

  it('shows a denied MCP tool call in Decisions with its reasons', () =>
    step('denied-call', async () => {
      const c = await mcpConnect(await mcpToken('alice', 'refunds:write invoices:read deploy:write'));
      try {
        expect((await c.callTool({ name: 'refunds.create', arguments: { order_id: 'o-1', amount: 40, currency: 'EUR' } })).isError).toBeFalsy();
        const denied = await c.callTool({ name: 'deploy.trigger', arguments: { service: 'api', environment: 'staging' } });
        expect(denied.isError).toBe(true);
      } finally {
        await c.close();
      }
      await open('#/decisions', 'Decisions');
      await waitForDecisionRow('tr:has(td.tool:text-is("deploy.trigger"))');
      const row = page.locator('tr:has(td.tool:text-is("deploy.trigger"))').first();
      await expect(row.locator('.badge').textContent()).resolves.toBe('deny');
      await row.getByRole('link').click();
      await page.getByTestId('detail-reasons').waitFor();
      await expect(page.getByTestId('detail-result').textContent()).resolves.toBe('deny');
      await expect(page.getByTestId('detail-reasons').textContent()).resolves.toContain('requires one of the roles');
      await expect(page.getByRole('heading', { name: 'Input (masked)' }).isVisible()).resolves.toBe(true);
    }),
    SLOW,
  );

  it("links a decision to its shadow outcome; the Policy view shows the shadow's divergences", () =>
    step('shadow', async () => {
      // The candidate lowers support agents' refund limit to 30: alice's refund of 40 above diverges.
      await open('#/decisions?tool=refunds.create', 'Decisions');
      await waitForDecisionRow('tr:has(td:text-is("allow_to_deny"))');
      await page.locator('tr:has(td:text-is("allow_to_deny"))').first().getByRole('link').click();
      await page.getByTestId('detail-shadow').waitFor();
      await expect(page.getByTestId('detail-result').textContent()).resolves.toBe('allow');
      await expect(page.getByTestId('detail-shadow').locator('dt:text-is("result") + dd').textContent()).resolves.toBe('allow_to_deny');
      await page.getByTestId('detail-shadow').getByRole('link').click();
      await page.getByTestId('shadow').waitFor();
      await expect(page.getByTestId('shadow').textContent()).resolves.toContain('allow_to_deny');
      // And back: the divergence links to the decision it came from.
      await page.getByTestId('shadow').locator('tr:has(td:text-is("allow_to_deny"))').first().getByRole('link').click();
      await page.getByTestId('detail-shadow').waitFor();
    }),
    SLOW,
  );

  it('filters decisions by tool', () =>
    step('filter-tool', async () => {
      await open('#/decisions', 'Decisions');
      await page.getByLabel('Tool').fill('refunds.create');
      await waitForDecisionRow('tr:has(td.tool:text-is("refunds.create"))');
      const tools = await page.locator('table.decisions tbody td.tool').allTextContents();
      expect(tools.length).toBeGreaterThan(0);
      expect(new Set(tools)).toEqual(new Set(['refunds.create']));
      expect(new URL(page.url()).hash).toContain('tool=refunds.create');
    }),
    SLOW,
  );

  it('pages through decisions with before (Older / Newest)', () =>
    step('paging', async () => {
      // Enough decisions for more than one page of 10, whatever ran before.
      const c = await mcpConnect(await mcpToken('fred', 'refunds:write'));
      try {
        for (let i = 0; i < 12; i++) await c.callTool({ name: 'refunds.create', arguments: { order_id: `p-${i}`, amount: 5, currency: 'GBP' } });
      } finally {
        await c.close();
      }
      await open('#/decisions', 'Decisions');
      await page.getByLabel('Per page').selectOption('10');
      await page.getByLabel('Subject (or fingerprint)').fill('fred');
      await waitForDecisionRow('table.decisions tbody tr >> nth=9');
      const ids = () => page.locator('table.decisions tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-decision')));
      const first = await ids();
      expect(first).toHaveLength(10);
      await freshList(() => page.getByRole('link', { name: 'Older' }).click());
      const second = await ids();
      expect(second).toHaveLength(2);
      expect(second.filter((id) => first.includes(id))).toEqual([]);
      await freshList(() => page.getByRole('link', { name: 'Newest' }).click());
      expect(await ids()).toEqual(first);
    }),
    SLOW,
  );

  it('shows the Overview (chart, active revision) and saves its screenshot for the README', () =>
    step('overview', async () => {
      // Some traffic of each kind for the chart: allowed refunds, a refund over the agent's limit, a tool outside the role.
      const c = await mcpConnect(await mcpToken('alice', 'refunds:write deploy:write'));
      try {
        for (let i = 0; i < 6; i++) await c.callTool({ name: 'refunds.create', arguments: { order_id: `o-${i}`, amount: i < 4 ? 20 : 900, currency: 'USD' } });
        await c.callTool({ name: 'deploy.trigger', arguments: { service: 'web', environment: 'staging' } });
      } finally {
        await c.close();
      }
      await open('#/decisions', 'Decisions');
      await waitForDecisionRow('tr:has(td.tool:text-is("refunds.create")) >> nth=6');
      await open('#/overview', 'Overview');
      await page.locator('.chart canvas').waitFor();
      await page.getByTestId('active-revision').waitFor();
      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }),
    SLOW,
  );

  it('revokes the subject from the console; the next MCP tool call is denied token_revoked; deleting needs a confirmation', () =>
    step('revoke', async () => {
      const c = await mcpConnect(await mcpToken('alice', 'invoices:read'));
      try {
        expect((await c.callTool({ name: 'invoices.read', arguments: { invoice_id: 'i-1' } })).isError).toBeFalsy();
        // From the decision to the revocation form, prefilled with the caller's subject and issuer.
        await open('#/decisions?tool=invoices.read', 'Decisions');
        await waitForDecisionRow('tr:has(td.tool:text-is("invoices.read"))');
        await page.locator('tr:has(td.tool:text-is("invoices.read"))').first().getByRole('link').click();
        await page.getByRole('link', { name: 'Revoke subject alice…' }).click();
        await page.getByRole('heading', { level: 1, name: 'Revocations' }).waitFor();
        await expect(page.getByLabel('Kind').inputValue()).resolves.toBe('sub');
        await expect(page.getByLabel('Value').inputValue()).resolves.toBe('alice');
        await expect(page.getByLabel('Issuer (optional)').inputValue()).resolves.toBe(stack.as.issuer);
        await page.getByLabel('Reason').fill('laptop lost');
        await page.getByRole('button', { name: 'Revoke' }).click();
        await page.getByRole('status').filter({ hasText: 'Revoked sub alice' }).waitFor();
        await page.locator('tr:has(td:text-is("laptop lost"))').waitFor();
        await expect(c.callTool({ name: 'invoices.read', arguments: { invoice_id: 'i-2' } })).rejects.toThrow(/revoked/);
      } finally {
        await c.close();
      }
      expect(stack.mcp.invocations.filter((i) => i.tool === 'invoices.read').map((i) => i.args.invoice_id)).toEqual(['i-1']);

      await open('#/decisions', 'Decisions');
      await page.getByLabel('Code').fill('token_revoked');
      await waitForDecisionRow('tr:has(td:text-is("token_revoked"))');

      await open('#/revocations', 'Revocations');
      await page.getByRole('button', { name: 'Delete revocation of sub alice' }).click();
      await page.getByRole('button', { name: 'Yes, delete' }).click();
      await page.getByText('No revocations.').waitFor();
    }),
    SLOW,
  );

  it('opens the diff between two revisions after a hot reload', () =>
    step('diff', async () => {
      const catalogPath = 'policies/catalog/data.json';
      const catalog = JSON.parse(await readFile(path.join(stack.policies.dir, catalogPath), 'utf8'));
      catalog.servers.demo.tools['refunds.create'].arguments.amount.max_by_role.finance = 4321;
      await stack.policies.write(catalogPath, JSON.stringify(catalog, null, 2));
      // The watcher rebuilds and activates the edited policy; reload the list until it shows two revisions.
      await open('#/policy', 'Policy');
      for (let i = 0; (await page.locator('[data-testid="revisions"] tbody tr').count()) < 2; i++) {
        if (i > 400) throw new Error('the second revision never appeared');
        await page.waitForTimeout(250);
        await open('#/overview', 'Overview');
        await open('#/policy', 'Policy');
      }
      const hashes = await page.locator('#diff-from option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value).filter(Boolean));
      expect(hashes.length).toBeGreaterThanOrEqual(2);
      // Newest first: compare the older revision to the newer one.
      await page.getByLabel('From').selectOption(hashes[1]);
      await page.getByLabel('To').selectOption(hashes[0]);
      await page.getByRole('button', { name: 'Show diff' }).click();
      await page.getByTestId('diff').waitFor();
      // The bundle's data.json is one line: the old limit removed, the new one added.
      await expect(page.locator('.d-add').allTextContents()).resolves.toEqual(expect.arrayContaining([expect.stringContaining('"finance":4321')]));
      await expect(page.locator('.d-del').allTextContents()).resolves.toEqual(expect.arrayContaining([expect.stringContaining('"finance":5000')]));

      // A broken edit is refused: decisions stay on the active revision and the Overview names the file and line.
      await stack.policies.write('policies/mcp/authz/broken.rego', 'package mcp.authz\n\nbroken_rule if {\n');
      await open('#/overview', 'Overview');
      for (let i = 0; (await page.getByTestId('last-failure').count()) === 0; i++) {
        if (i > 400) throw new Error('the failed activation never showed');
        await page.getByRole('button', { name: 'Refresh' }).click();
        await page.waitForTimeout(250);
      }
      await expect(page.getByTestId('last-failure').textContent()).resolves.toMatch(/broken\.rego:\d+/);
      await stack.policies.remove('policies/mcp/authz/broken.rego');
    }),
    SLOW,
  );

  it('a toolgate:read account cannot revoke: the controls are disabled and the API answers 403', () =>
    step('read-only', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: /^Sign in with/ }).waitFor();
      // Another operator, in a browser without the first one's session at the authorization server.
      await newOperator();
      const before = issued.length;
      await signIn('ops-reader');
      await expect(page.getByTestId('who').textContent()).resolves.toContain('read only');
      await open('#/revocations', 'Revocations');
      await expect(page.getByRole('button', { name: 'Revoke' }).isDisabled()).resolves.toBe(true);
      await expect(page.getByLabel('Value').isDisabled()).resolves.toBe(true);
      // The same token the browser holds, straight to the API: refused.
      expect(issued.length).toBe(before + 1);
      const res = await fetch(`${stack.url}/v1/revocations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${issued[before]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'sub', value: 'alice' }),
      });
      expect(res.status).toBe(403);
      // Reading still works with it.
      expect((await fetch(`${stack.url}/v1/revocations`, { headers: { authorization: `Bearer ${issued[before]}` } })).status).toBe(200);
      // Even with the form forced open in the page, the server refuses and the console shows why.
      await page.evaluate("document.querySelector('form.revoke fieldset').disabled = false");
      await page.getByLabel('Value').fill('alice');
      await page.getByRole('button', { name: 'Revoke' }).click();
      await expect(page.getByRole('alert').textContent()).resolves.toMatch(/^403 caller_forbidden/);
      expect(((await (await fetch(`${stack.url}/v1/revocations`, { headers: { authorization: `Bearer ${issued[before]}` } })).json()) as any).revocations).toEqual([]);
    }),
    SLOW,
  );

  it('signs in with a pasted token (make run); a token for another audience is refused with the reason', () =>
    step('paste-token', async () => {
      await newOperator();
      await page.goto(`${stack.url}/console/`);
      const wrong = await mcpToken('alice', 'refunds:write');
      await page.getByLabel('Access token', { exact: true }).fill(wrong);
      await page.getByRole('button', { name: 'Use token' }).click();
      await expect(page.getByRole('alert').textContent()).resolves.toMatch(/^401 caller_unauthenticated/);
      // The pasted field is cleared at once; the token was never echoed into the page.
      await expect(page.getByLabel('Access token', { exact: true }).inputValue()).resolves.toBe('');
      expect(await page.content()).not.toContain(wrong);
      const reader = await stack.as.token({ ...stack.consoleClient, account: 'ops-reader', scope: 'openid toolgate:read', resource: ADMIN_AUDIENCE });
      await page.getByLabel('Access token', { exact: true }).fill(reader);
      await page.getByRole('button', { name: 'Use token' }).click();
      await expect(page.getByTestId('who').textContent()).resolves.toMatch(/ops-reader.*read only/);
      expect(await page.content()).not.toContain(reader);
    }),
    SLOW,
  );

  it('lists a replay report written by toolgate replay and opens it readably', () =>
    step('report', async () => {
      // A real report: the edited policy (finance limit 4321) replayed against the recorded decisions.
      const out = await writeReplayReport(stack, 'replay-console.json');
      const report = JSON.parse(await readFile(out, 'utf8'));
      expect(report.replayed).toBeGreaterThan(0);
      await open('#/policy?tab=reports', 'Policy');
      await page.getByRole('link', { name: 'replay-console.json' }).click();
      await page.getByTestId('report').waitFor();
      // Top-level fields as a definition list: the count the CLI wrote is the one shown.
      await expect(page.getByTestId('report').locator('dt:text-is("replayed") + dd').first().textContent()).resolves.toBe(String(report.replayed));
    }),
    SLOW,
  );

  it('revoking the signed-in operator ends the console session at its next call; a reload signs out', () =>
    step('session-end', async () => {
      // This page is signed in as ops-reader (pasted token); an admin revokes that subject.
      await open('#/revocations', 'Revocations');
      const res = await fetch(`${stack.url}/v1/revocations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${issued[0]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'sub', value: 'ops-reader', reason: 'console test' }),
      });
      expect(res.status).toBe(201);
      await page.evaluate(`location.hash = '#/overview'`);
      await page.getByRole('button', { name: /^Sign in with/ }).waitFor();
      await expect(page.getByRole('alert').textContent()).resolves.toContain('no longer accepts this sign-in');
      await page.reload();
      await page.getByRole('button', { name: /^Sign in with/ }).waitFor();
      await page.getByTestId('who').waitFor({ state: 'detached' });
    }),
    SLOW,
  );

  it('no CSP violation or script error happened in any view', () =>
    step('csp', async () => {
      expect(cspViolations).toEqual([]);
      expect(pageErrors).toEqual([]);
      // The watch itself works: an inline style attribute, as a careless component would write, is blocked and seen.
      await page.evaluate(`document.body.insertAdjacentHTML('beforeend', '<p style="color: red">inline</p>')`);
      for (let i = 0; cspViolations.length === 0; i++) {
        if (i > 400) throw new Error('the CSP violation was not reported');
        await page.waitForTimeout(25);
      }
      expect(cspViolations[0]).toContain('style-src');
    }),
    SLOW,
  );
});
