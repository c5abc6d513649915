import { describe, expect, it } from 'vitest';
import { ExpressionError } from '#shared/errors';
import { queryJsonPath } from '#shared/expressions/jsonpath';
import { applyResponseMapping, compileMapping } from '#shared/expressions/response-mapping';

const guideMapping = {
  customer_profile: '$.data[0]',
  integration_status: '$.status',
  loyalty_tier: '$.data[0].attributes.loyalty_tier',
  has_open_tickets: '$.data[0].attributes.support_tickets > 0',
};

describe('response mapping', () => {
  it('maps a CRM customer-lookup response', () => {
    const body = { status: 'ok', data: [{ id: 'ACC-1', attributes: { loyalty_tier: 'GOLD', support_tickets: 3 } }] };
    expect(applyResponseMapping(guideMapping, body)).toEqual({ customer_profile: body.data[0], integration_status: 'ok', loyalty_tier: 'GOLD', has_open_tickets: true });
  });

  it('an empty data array gives nulls and false, never an exception (the empty-array case)', () => {
    expect(applyResponseMapping(guideMapping, { status: 'ok', data: [] })).toEqual({ customer_profile: null, integration_status: 'ok', loyalty_tier: null, has_open_tickets: false });
    expect(applyResponseMapping({ p: '$.data && $.data.length > 0 ? $.data[0] : null' }, { data: [] })).toEqual({ p: null });
  });

  it('a missing body (empty or not JSON) maps to nulls', () => {
    expect(applyResponseMapping(guideMapping, undefined)).toEqual({ customer_profile: null, integration_status: null, loyalty_tier: null, has_open_tickets: false });
  });

  it('indefinite JSONPaths (.., *, filters) return every match', () => {
    const body = { data: [{ id: 1, n: 5 }, { id: 2, n: 50 }, { id: 3 }] };
    expect(applyResponseMapping({ ids: '$..id', all: '$.data[*].id', big: '$.data[?(@.n > 10)].id', none: '$.nothing[*]' }, body)).toEqual({ ids: [1, 2, 3], all: [1, 2, 3], big: [2], none: [] });
  });

  it('classifies plain paths and expressions', () => {
    expect(compileMapping('$.data[0].id').kind).toBe('jsonpath');
    expect(compileMapping('$..id').kind).toBe('jsonpath');
    expect(compileMapping('$.data.length > 0').kind).toBe('expression');
  });

  it('filters never reach a JavaScript evaluator', () => {
    const body = { data: [{ id: 1 }] };
    const hostile = "$.data[?(@.constructor.constructor('return process')())]";
    // Deploy-time: the filter is checked with ivrflow's expression language and refused.
    expect(() => compileMapping(hostile)).toThrow(/no method calls/);
    expect(() => compileMapping('$.data[?(@.constructor)]')).toThrow(ExpressionError);
    // Run time: even unchecked, the filter runs in ivrflow's evaluator, which refuses it, so nothing matches.
    expect(queryJsonPath(body, hostile)).toEqual([]);
  });

  it('rejects mappings that do not parse', () => {
    expect(() => compileMapping('$.data[0')).toThrow(ExpressionError);
    expect(() => compileMapping('data[0] >')).toThrow(ExpressionError);
    expect(() => compileMapping('')).toThrow(ExpressionError);
  });
});
