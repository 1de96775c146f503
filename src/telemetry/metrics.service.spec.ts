import { AggregatorRegistry } from 'prom-client';
import { MetricsService } from './metrics.service.js';

const line = (text: string, prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));

describe('MetricsService decision instruments', () => {
  it('exposes what recordDecision and countTokenLookup counted, in prom-client exposition (cumulative buckets, sum, count)', async () => {
    const m = new MetricsService();
    m.recordDecision('decide', true, undefined, 0.3);
    m.recordDecision('decide', true, undefined, 0.04);
    m.recordDecision('decide', false, 'token_revoked', 2);
    m.recordDecision('tools', false, undefined, 0.2);
    m.countTokenLookup(true);
    m.countTokenLookup(true);
    m.countTokenLookup(false);
    const text = await m.registry.metrics();
    expect(line(text, 'toolgate_decisions_total{endpoint="decide",result="allow",code="allowed"}')).toMatch(/ 2$/);
    expect(line(text, 'toolgate_decisions_total{endpoint="decide",result="deny",code="token_revoked"}')).toMatch(/ 1$/);
    expect(line(text, 'toolgate_decisions_total{endpoint="tools",result="deny",code="denied"}')).toMatch(/ 1$/);
    expect(line(text, 'toolgate_decision_duration_seconds_bucket{endpoint="decide",le="0.00005"}')).toMatch(/ 1$/);
    expect(line(text, 'toolgate_decision_duration_seconds_bucket{endpoint="decide",le="0.0005"}')).toMatch(/ 2$/);
    expect(line(text, 'toolgate_decision_duration_seconds_bucket{endpoint="decide",le="+Inf"}')).toMatch(/ 3$/);
    expect(line(text, 'toolgate_decision_duration_seconds_count{endpoint="decide"}')).toMatch(/ 3$/);
    expect(Number(line(text, 'toolgate_decision_duration_seconds_sum{endpoint="decide"}')!.split(' ')[1])).toBeCloseTo(0.00234, 8);
    expect(line(text, 'toolgate_token_cache_total{result="hit"}')).toMatch(/ 2$/);
    expect(line(text, 'toolgate_token_cache_total{result="miss"}')).toMatch(/ 1$/);
    // A second read counts nothing twice.
    m.recordDecision('decide', true, undefined, 0.3);
    const again = await m.registry.metrics();
    expect(line(again, 'toolgate_decisions_total{endpoint="decide",result="allow",code="allowed"}')).toMatch(/ 3$/);
    expect(line(again, 'toolgate_token_cache_total{result="hit"}')).toMatch(/ 2$/);
    // prom-client's own reader of the counter (the console uses it) sees the counts too.
    expect((await m.tokenCache.get()).values.find((v) => v.labels.result === 'hit')?.value).toBe(2);
  });

  it("adds workers' series up in the cluster primary's aggregation", async () => {
    const a = new MetricsService();
    const b = new MetricsService();
    a.recordDecision('decide', true, undefined, 0.3);
    b.recordDecision('decide', true, undefined, 0.07);
    const text = await AggregatorRegistry.aggregate([await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()]).metrics();
    expect(line(text, 'toolgate_decisions_total{endpoint="decide",result="allow",code="allowed"}')).toMatch(/ 2$/);
    expect(line(text, 'toolgate_decision_duration_seconds_bucket{endpoint="decide",le="0.0001"}')).toMatch(/ 1$/);
    expect(line(text, 'toolgate_decision_duration_seconds_count{endpoint="decide"}')).toMatch(/ 2$/);
  });
});
