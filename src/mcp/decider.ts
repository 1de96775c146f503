import type { DecisionAction, ListKind } from '../decision/decision-request.js';
import type { DecisionResult, ToolsResult } from '../decision/decision-result.js';

/** A decision request as the MCP guard makes it (the body of `POST /v1/decisions`). */
export interface GuardDecisionRequest {
  token: string;
  server: string;
  action?: DecisionAction;
  kind?: ListKind;
  tool?: { name: string; arguments?: Record<string, unknown>; annotations?: Record<string, unknown> };
  resource?: { uri: string };
  prompt?: { name: string; arguments?: Record<string, unknown> };
  completion?: { ref: { type: string; name?: string; uri?: string }; argument: { name: string; value: string }; context?: { arguments?: Record<string, unknown> } };
}

/** A list filtering request (`POST /v1/decisions/list`): items carry `name` (tools, prompts) or `uri` (resources). */
export interface GuardListRequest {
  token: string;
  server: string;
  kind: ListKind;
  items: { name?: string; uri?: string; annotations?: Record<string, unknown> }[];
}

/** Authentication of a request no policy action covers (`POST /v1/decisions/authenticate`). */
export interface GuardAuthenticateRequest {
  token: string;
  server: string;
}

/**
 * What the MCP guard needs from toolgate: the HTTP API (HttpDecider) or the
 * same engine in the MCP server's own process (createEmbeddedDecider).
 * Total: every method resolves, never rejects; anything but an explicit
 * allow is a deny with a code, and both implementations give the same code
 * for the same input.
 */
export interface Decider {
  decide(req: GuardDecisionRequest): Promise<DecisionResult>;
  filterList(req: GuardListRequest): Promise<ToolsResult>;
  authenticate(req: GuardAuthenticateRequest): Promise<DecisionResult>;
  close?(): Promise<void>;
}

/** A deny that no policy made: `decision_id` and `revision` are empty. */
export function denial(code: string, httpStatus: number, reason: string): DecisionResult {
  return { decision_id: '', allow: false, reasons: [reason], revision: null, code, http_status: httpStatus };
}

/** The same deny as a list answer: nothing is visible. */
export function listDenial(d: DecisionResult): ToolsResult {
  return { decision_id: d.decision_id, allowed: [], revision: d.revision, code: d.code, http_status: d.http_status, www_authenticate: d.www_authenticate, reasons: d.reasons };
}

function isErrorBody(v: unknown): v is { code: string; message: string } {
  const o = v as { code?: unknown; message?: unknown } | null;
  return !!o && typeof o === 'object' && typeof o.code === 'string' && /^[a-z_]{1,64}$/.test(o.code) && typeof o.message === 'string';
}

/**
 * Turns a toolgate answer other than 200 into a deny. A 400 is the request's
 * fault (arguments too deep, a name too long): retrying cannot help, so it
 * keeps toolgate's code and status, as the embedded decider does. A
 * `policy_unavailable` 503 keeps its code too. Any other 4xx (the MCP
 * server's own credentials for toolgate, a wrong URL) is the MCP server's
 * misconfiguration: toolgate's code with 500. Other 5xx, and answers that
 * are not toolgate's `{code, message}`, are `toolgate_unavailable` (503).
 */
export function denialForAnswer(status: number, body: unknown): DecisionResult {
  if (isErrorBody(body)) {
    if (status === 400) return denial(body.code, 400, body.message);
    if (status === 503 && body.code === 'policy_unavailable') return denial(body.code, 503, body.message);
    if (status > 400 && status < 500) return denial(body.code, 500, `toolgate refused the MCP server (${status}): ${body.message}`);
  }
  return denial('toolgate_unavailable', 503, `toolgate answered ${status}: ${JSON.stringify(body)?.slice(0, 200)}`);
}

function isDecision(v: unknown): v is DecisionResult {
  const d = v as Partial<DecisionResult> | null;
  return !!d && typeof d === 'object' && typeof d.allow === 'boolean' && typeof d.decision_id === 'string' && Array.isArray(d.reasons);
}

function isList(v: unknown): v is ToolsResult {
  const t = v as Partial<ToolsResult> | null;
  return !!t && typeof t === 'object' && typeof t.decision_id === 'string' && Array.isArray(t.allowed) && t.allowed.every((a) => typeof a === 'string');
}

/**
 * Calls a toolgate service over HTTP. Fails closed: when toolgate cannot be
 * reached or answers anything but a decision, the answer is a deny (see
 * denialForAnswer for the codes).
 */
export class HttpDecider implements Decider {
  constructor(
    private readonly baseUrl: string,
    private readonly opts: { callerToken?: () => string | Promise<string>; timeoutMs?: number } = {},
  ) {}

  private async post(path: string, body: unknown): Promise<{ ok: true; status: number; json: unknown } | { ok: false; reason: string }> {
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.opts.callerToken) headers.authorization = `Bearer ${await this.opts.callerToken()}`;
      const res = await fetch(new URL(path, this.baseUrl), {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        json = text.slice(0, 200);
      }
      return { ok: true, status: res.status, json };
    } catch (e) {
      return { ok: false, reason: `toolgate unreachable: ${(e as Error).message}` };
    }
  }

  private async decision(path: string, body: unknown): Promise<DecisionResult> {
    const r = await this.post(path, body);
    if (!r.ok) return denial('toolgate_unavailable', 503, r.reason);
    if (r.status !== 200) return denialForAnswer(r.status, r.json);
    return isDecision(r.json) ? r.json : denial('toolgate_unavailable', 503, 'toolgate answered without a decision');
  }

  private async list(path: string, body: unknown): Promise<ToolsResult> {
    const r = await this.post(path, body);
    if (!r.ok) return listDenial(denial('toolgate_unavailable', 503, r.reason));
    if (r.status !== 200) return listDenial(denialForAnswer(r.status, r.json));
    return isList(r.json) ? r.json : listDenial(denial('toolgate_unavailable', 503, 'toolgate answered without a list'));
  }

  decide(req: GuardDecisionRequest): Promise<DecisionResult> {
    return this.decision('/v1/decisions', req);
  }

  authenticate(req: GuardAuthenticateRequest): Promise<DecisionResult> {
    return this.decision('/v1/decisions/authenticate', req);
  }

  filterList(req: GuardListRequest): Promise<ToolsResult> {
    return this.list('/v1/decisions/list', req);
  }
}
