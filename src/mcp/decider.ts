import type { DecisionResult, ToolsResult } from '../decision/decision.service.js';

/** A decision request as the MCP guard makes it. */
export interface GuardDecisionRequest {
  token: string;
  server: string;
  action?: 'call' | 'list';
  tool: { name: string; arguments?: Record<string, unknown>; annotations?: Record<string, unknown> };
}

/** A tools/list filtering request as the MCP guard makes it. */
export interface GuardToolsRequest {
  token: string;
  server: string;
  tools: { name: string; annotations?: Record<string, unknown> }[];
}

/**
 * What the MCP guard needs from toolgate: the HTTP API (HttpDecider) or the
 * same engine in the MCP server's own process (createEmbeddedDecider).
 */
export interface Decider {
  decide(req: GuardDecisionRequest): Promise<DecisionResult>;
  filterTools(req: GuardToolsRequest): Promise<ToolsResult>;
  close?(): Promise<void>;
}

function unavailable(reason: string): DecisionResult {
  return { decision_id: '', allow: false, reasons: [reason], revision: null, code: 'toolgate_unavailable', http_status: 503 };
}

/**
 * Calls a toolgate service over HTTP. Fails closed: when toolgate cannot be
 * reached or answers anything but a decision, the answer is a deny with
 * code `toolgate_unavailable` (HTTP 503 for the MCP client).
 */
export class HttpDecider implements Decider {
  constructor(
    private readonly baseUrl: string,
    private readonly opts: { callerToken?: () => string | Promise<string>; timeoutMs?: number } = {},
  ) {}

  private async post(path: string, body: unknown): Promise<{ ok: true; json: unknown } | { ok: false; reason: string }> {
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.opts.callerToken) headers.authorization = `Bearer ${await this.opts.callerToken()}`;
      const res = await fetch(new URL(path, this.baseUrl), {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
      const json = (await res.json()) as unknown;
      if (res.status !== 200) return { ok: false, reason: `toolgate answered ${res.status}: ${JSON.stringify(json).slice(0, 200)}` };
      return { ok: true, json };
    } catch (e) {
      return { ok: false, reason: `toolgate unreachable: ${(e as Error).message}` };
    }
  }

  async decide(req: GuardDecisionRequest): Promise<DecisionResult> {
    const r = await this.post('/v1/decisions', req);
    if (!r.ok) return unavailable(r.reason);
    const d = r.json as DecisionResult;
    return typeof d?.allow === 'boolean' ? d : unavailable('toolgate answered without a decision');
  }

  async filterTools(req: GuardToolsRequest): Promise<ToolsResult> {
    const r = await this.post('/v1/decisions/tools', req);
    if (!r.ok) {
      const u = unavailable(r.reason);
      return { decision_id: '', allowed: [], revision: null, code: u.code, http_status: u.http_status, reasons: u.reasons };
    }
    const t = r.json as ToolsResult;
    return Array.isArray(t?.allowed) ? t : { decision_id: '', allowed: [], revision: null, code: 'toolgate_unavailable', http_status: 503 };
  }
}
