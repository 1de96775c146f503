import os from 'node:os';
import { clusterPlan, DEFAULT_EVALUATION_MS } from '../src/cluster/workers-config.js';
import { heartbeatEvery, workerLogPath } from '../src/cluster/worker.js';
import { parseConfig } from '../src/config/load-config.js';

const base = {
  issuers: [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }],
  servers: [{ id: 'demo', resource: 'http://127.0.0.1:3999/mcp', issuers: ['https://idp.example'] }],
};

describe('workers and limits.evaluation_ms configuration', () => {
  it('the default is one process with no primary and no watchdog (make run unchanged)', () => {
    const c = parseConfig(base);
    expect(c.workers).toBe(1);
    expect(c.limits.evaluation_ms).toBeUndefined();
    expect(clusterPlan(c)).toEqual({ workers: 0 });
  });

  it('more workers always come with the watchdog; auto is one per core', () => {
    expect(clusterPlan(parseConfig({ ...base, workers: 3 }))).toEqual({ workers: 3, evaluationMs: DEFAULT_EVALUATION_MS });
    expect(clusterPlan(parseConfig({ ...base, workers: 'auto', limits: { evaluation_ms: 500 } }))).toEqual({ workers: os.availableParallelism(), evaluationMs: 500 });
    // A watchdog with one worker: a supervised worker behind a primary.
    expect(clusterPlan(parseConfig({ ...base, limits: { evaluation_ms: 800 } }))).toEqual({ workers: 1, evaluationMs: 800 });
  });

  it.each([
    [{ workers: 0 }, 'workers'],
    [{ workers: 2.5 }, 'workers'],
    [{ workers: 'many' }, 'workers'],
    [{ workers: '2' }, 'workers'],
    [{ limits: { evaluation_ms: 10 } }, 'limits.evaluation_ms'],
  ])('refuses %j', (extra, key) => {
    expect(() => parseConfig({ ...base, ...extra })).toThrow(key);
  });

  it('each worker slot has its own decision log file, so rotation has one writer', () => {
    expect(workerLogPath('logs/decisions.jsonl', 0)).toBe('logs/decisions.jsonl.w0');
    expect(workerLogPath('logs/decisions.jsonl', 2)).toBe('logs/decisions.jsonl.w2');
  });

  it('the heartbeat is a quarter of the limit, between 10 and 250 ms', () => {
    expect(heartbeatEvery(100)).toBe(25);
    expect(heartbeatEvery(20)).toBe(10);
    expect(heartbeatEvery(2000)).toBe(250);
  });
});
