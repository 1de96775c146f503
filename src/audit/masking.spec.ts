import { applyMask } from './masking.js';

describe('applyMask', () => {
  const doc = () => ({
    input: { claims: { sub: 'a' }, tool: { name: 'refunds.create', arguments: { card_number: '4111111111111111', amount: 5 } } },
    result: { allow: true, reasons: [] as string[] },
  });

  it('erases and upserts along JSON pointers without touching the original', () => {
    const original = doc();
    const m = applyMask(original, [
      '/input/tool/arguments/card_number',
      { op: 'upsert', path: '/input/tool/arguments/card_last4', value: '1111' },
      { op: 'upsert', path: '/result/allow', value: '**' },
    ]);
    expect(m.input).toEqual({ claims: { sub: 'a' }, tool: { name: 'refunds.create', arguments: { amount: 5, card_last4: '1111' } } });
    expect(m.result).toEqual({ allow: '**', reasons: [] });
    expect(m.erased).toEqual(['/input/tool/arguments/card_number']);
    expect(m.masked).toEqual(['/input/tool/arguments/card_last4', '/result/allow']);
    expect(original).toEqual(doc());
    // Untouched branches are shared, not copied.
    expect((m.input as { claims: unknown }).claims).toBe(original.input.claims);
  });

  it('ignores pointers outside /input and /result, missing paths, unknown ops and bad pointers', () => {
    const original = doc();
    const m = applyMask(original, ['/labels/id', '/input/nope/x', '/input/tool/arguments/none', { op: 'explode', path: '/input/claims/sub' }, 'input/claims', { path: 7 } as never, '/input/claims/sub~1x']);
    expect(m.erased).toEqual([]);
    expect(m.masked).toEqual([]);
    expect(m.input).toBe(original.input);
  });

  it('unescapes ~1 and ~0 in pointers', () => {
    const m = applyMask({ input: { 'a/b': { '~c': 1, d: 2 } } }, ['/input/a~1b/~0c']);
    expect(m.input).toEqual({ 'a/b': { d: 2 } });
  });
});
