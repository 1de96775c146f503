import type { DecisionEvent } from '../audit/decision-event.js';
import { readLogLines } from '../replay/log-files.js';
import { selected, type ReplayFilter } from '../replay/replay.js';
import { replayInputs, type NotReplayableReason, type RecordedEvaluation } from '../replay/replay-inputs.js';
import { clientIdOf } from '../token/client-id.js';

/** Where recorded decisions come from; `lines()` streams them from the start each time it is called. */
export interface EventSource {
  kind: 'files' | 'postgres';
  /** The files read, or the database and table. */
  location: string[];
  lines(): AsyncIterable<string>;
}

/** Decision-log files (as `expandLogPaths` found them), read in order, gzipped or not. */
export function fileSource(files: string[]): EventSource {
  return {
    kind: 'files',
    location: files,
    async *lines() {
      for (const f of files) yield* readLogLines(f);
    },
  };
}

/** What a pass over the source met besides evaluations. */
export interface PassCounts {
  events: number;
  unreadable: number;
  filtered_out: number;
  not_replayable: number;
  not_replayable_by_reason: Partial<Record<NotReplayableReason, number>>;
}

/**
 * One pass over the recorded decisions: parses each line, applies the filter,
 * and hands every evaluation an event holds (one for a call, one per listed
 * item) to `visit`, with the event. The same reading rules as `toolgate
 * replay`, so both count the same events.
 */
export async function eachEvaluation(source: EventSource, filter: ReplayFilter | undefined, visit: (ev: RecordedEvaluation, e: DecisionEvent) => void): Promise<PassCounts> {
  const c: PassCounts = { events: 0, unreadable: 0, filtered_out: 0, not_replayable: 0, not_replayable_by_reason: {} };
  for await (const line of source.lines()) {
    c.events++;
    let e: DecisionEvent;
    try {
      e = JSON.parse(line) as DecisionEvent;
      if (!e || typeof e !== 'object' || typeof e.decision_id !== 'string') throw new Error('not an event');
    } catch {
      c.unreadable++;
      continue;
    }
    if (!selected(e, filter)) {
      c.filtered_out++;
      continue;
    }
    const got = replayInputs(e);
    if (!got.ok) {
      c.not_replayable++;
      c.not_replayable_by_reason[got.reason] = (c.not_replayable_by_reason[got.reason] ?? 0) + 1;
      continue;
    }
    for (const ev of got.evaluations) visit(ev, e);
  }
  return c;
}

/** Who made an evaluation: the subject (`sub` at its issuer) and, when the token names one, the client. */
export interface Caller {
  /** `issuer\nsub`. */
  subjectKey: string;
  issuer: string;
  client?: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The caller of an evaluation, from the event's token summary or, failing that, the claims the policy saw. */
export function callerOf(ev: RecordedEvaluation, e: DecisionEvent): Caller {
  const claims = (ev.input.claims ?? {}) as Record<string, unknown>;
  const client = str(e.token?.client_id) ?? str((ev.input.client as { id?: unknown } | undefined)?.id) ?? clientIdOf(claims);
  const sub = str(e.token?.subject) ?? str(claims.sub) ?? '(no sub)';
  const issuer = str(e.token?.issuer) ?? str(claims.iss) ?? '';
  return { subjectKey: `${issuer}\n${sub}`, issuer, client };
}
