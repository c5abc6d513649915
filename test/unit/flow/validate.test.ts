import { describe, expect, it } from 'vitest';
import { validateFlow } from '../../../shared/flow/validate';
import { flowOf } from '../../support/flows';

const http = (id: string, configuration: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id, type: 'HTTPRequest', configuration: { url: 'https://api.example.com/x', ...configuration }, ...extra });
const end = (id: string) => ({ id, type: 'End', configuration: {} });

async function codes(raw: unknown, options = {}) {
  const r = await validateFlow(raw, options);
  return { errors: r.errors.map((e) => `${e.code} ${e.path}`), warnings: r.warnings.map((e) => `${e.code} ${e.path}`), valid: r.valid };
}

describe('validateFlow: one test per error code', () => {
  it('accepts a valid flow and applies defaults', async () => {
    const r = await validateFlow(flowOf([http('a', {}, { next: 'b' }), end('b')]));
    expect(r.errors).toEqual([]);
    expect(r.flow?.deadlineMs).toBe(8000);
    expect(r.flow?.maxSteps).toBe(200);
  });

  it('INVALID_VALUE: wrong types', async () => {
    expect((await codes({ ...flowOf([end('a')]), name: 42 })).errors).toEqual(['INVALID_VALUE name']);
  });

  it('MISSING_FIELD: a required key is absent', async () => {
    expect((await codes(flowOf([{ id: 'a', type: 'HTTPRequest', configuration: {} }]))).errors).toEqual(['MISSING_FIELD steps[0].configuration.url']);
  });

  it('UNKNOWN_KEY: keys the schema does not define, at every level', async () => {
    const r = await codes({ ...flowOf([http('a', { colour: 'red' }, { extra: 1 })]), owner: 'x' });
    expect(r.errors.sort()).toEqual(['UNKNOWN_KEY owner', 'UNKNOWN_KEY steps[0].configuration.colour', 'UNKNOWN_KEY steps[0].extra'].sort());
  });

  it('UNKNOWN_STEP_TYPE', async () => {
    const r = await validateFlow(flowOf([{ id: 'a', type: 'SendFax', configuration: {} }]));
    expect(r.errors.map((e) => `${e.code} ${e.path}`)).toEqual(['UNKNOWN_STEP_TYPE steps[0].type']);
    expect(r.errors[0]!.message).toMatch(/HTTPRequest/);
  });

  it('UNKNOWN_BRANCH: a branch the step type cannot take', async () => {
    expect((await codes(flowOf([{ id: 'a', type: 'DataAPI', configuration: { operation: 'assign', variables: {} }, branches: { OnTimeout: 'a' } }]))).errors).toEqual(['UNKNOWN_BRANCH steps[0].branches.OnTimeout']);
  });

  it('OUT_OF_BOUNDS: timeouts, retries, deadline, maxSteps', async () => {
    const r = await codes(flowOf([http('a', { timeout: 60000, retryPolicy: { maxRetries: 9 } })], { deadlineMs: 50, maxSteps: 0 }));
    expect(r.errors.sort()).toEqual(['OUT_OF_BOUNDS deadlineMs', 'OUT_OF_BOUNDS maxSteps', 'OUT_OF_BOUNDS steps[0].configuration.retryPolicy.maxRetries', 'OUT_OF_BOUNDS steps[0].configuration.timeout'].sort());
  });

  it('DUPLICATE_STEP_ID', async () => {
    expect((await codes(flowOf([end('a'), end('a')]))).errors).toEqual(['DUPLICATE_STEP_ID steps[1].id']);
  });

  it('MISSING_STEP: next, branches, condition targets and startStepId', async () => {
    const r = await codes(
      flowOf(
        [
          http('a', {}, { next: 'nowhere', branches: { OnError: 'gone' } }),
          { id: 'c', type: 'Condition', configuration: { conditions: [{ expression: 'true', nextStepId: 'lost' }], defaultStepId: 'void' } },
        ],
        { startStepId: 'start' },
      ),
    );
    expect(r.errors.sort()).toEqual(
      ['MISSING_STEP startStepId', 'MISSING_STEP steps[0].next', 'MISSING_STEP steps[0].branches.OnError', 'MISSING_STEP steps[1].configuration.conditions[0].nextStepId', 'MISSING_STEP steps[1].configuration.defaultStepId'].sort(),
    );
  });

  it('MISSING_FLOW: a sub-flow that does not exist', async () => {
    const raw = flowOf([{ id: 's', type: 'SubFlow', configuration: { flowId: 'ghost' } }]);
    expect((await codes(raw, { flowExists: async (id: string) => id === 'real' })).errors).toEqual(['MISSING_FLOW steps[0].configuration.flowId']);
    expect((await codes(raw)).errors).toEqual([]);
  });

  it('BAD_EXPRESSION: expressions and templates that do not parse, unknown functions, forbidden access', async () => {
    const r = await codes(
      flowOf([
        { id: 'c', type: 'Condition', configuration: { conditions: [{ expression: '{{http_status_code}} >=', nextStepId: 'c' }, { expression: 'hack()', nextStepId: 'c' }, { expression: 'x.constructor', nextStepId: 'c' }] } },
        http('h', { headers: { 'X-Id': '{{ unclosed' }, body: { a: '{{ 1 + }}' } }),
      ]),
    );
    expect(r.errors.sort()).toEqual(
      [
        'BAD_EXPRESSION steps[0].configuration.conditions[0].expression',
        'BAD_EXPRESSION steps[0].configuration.conditions[1].expression',
        'BAD_EXPRESSION steps[0].configuration.conditions[2].expression',
        'BAD_EXPRESSION steps[1].configuration.headers.X-Id',
        'BAD_EXPRESSION steps[1].configuration.body.a',
      ].sort(),
    );
  });

  it('BAD_JSONPATH: response mappings that do not parse', async () => {
    expect((await codes(flowOf([http('a', { responseMapping: { x: '$.data[0', y: '$.data[?(@.constructor)]' } })]))).errors.sort()).toEqual(
      ['BAD_JSONPATH steps[0].configuration.responseMapping.x', 'BAD_JSONPATH steps[0].configuration.responseMapping.y'].sort(),
    );
  });

  it('BAD_URL: relative URLs and other schemes', async () => {
    expect((await codes(flowOf([http('a', { url: '/v1/x' }), http('b', { url: 'ftp://example.com/x' })]))).errors).toEqual(['BAD_URL steps[0].configuration.url', 'BAD_URL steps[1].configuration.url']);
  });

  it('LITERAL_SECRET: literal passwords, API keys and Authorization headers', async () => {
    const r = await codes(
      flowOf([
        http('a', { authentication: { type: 'apiKey', headerName: 'X-API-Key', headerValue: 'sk_live_123' } }),
        http('b', { authentication: { type: 'basic', username: 'svc', password: 'hunter2' } }),
        http('c', { headers: { Authorization: 'Bearer abc' } }),
        http('d', { authentication: { type: 'apiKey', headerValue: '{{api_key}}' } }),
      ]),
    );
    expect(r.errors).toEqual(['LITERAL_SECRET steps[0].configuration.authentication.headerValue', 'LITERAL_SECRET steps[1].configuration.authentication.password', 'LITERAL_SECRET steps[2].configuration.headers.Authorization']);
  });

  it('PRIVATE_HOST: loopback, private and link-local hosts unless allowed', async () => {
    const raw = flowOf([http('a', { url: 'http://169.254.169.254/latest/meta-data' }), http('b', { url: 'http://127.0.0.1:8080/x' }), http('c', { url: 'http://10.1.2.3/x' }), http('d', { url: 'http://localhost/x' })]);
    expect((await codes(raw)).errors).toEqual(['PRIVATE_HOST steps[0].configuration.url', 'PRIVATE_HOST steps[1].configuration.url', 'PRIVATE_HOST steps[2].configuration.url', 'PRIVATE_HOST steps[3].configuration.url']);
    expect((await codes(raw, { allowPrivateHosts: true })).errors).toEqual([]);
  });

  it('HOST_NOT_ALLOWED: hosts outside allowedHosts', async () => {
    const raw = flowOf([http('a', { url: 'https://api.example.com/x' }), http('b', { url: 'https://evil.example.net/x' })], { allowedHosts: ['*.example.com'] });
    expect((await codes(raw)).errors).toEqual(['HOST_NOT_ALLOWED steps[1].configuration.url']);
  });

  it('INVALID_VALUE: a flow that is not an object', async () => {
    expect((await codes('nope')).errors).toEqual(['INVALID_VALUE ']); // path '' is the root
  });

  it('lists every problem at once, including those in other steps', async () => {
    const r = await codes(flowOf([{ id: 'a', type: 'Nope', configuration: {} }, http('b', { timeout: -1 }, { next: 'zzz' }), end('b')]));
    expect(r.errors.sort()).toEqual(['DUPLICATE_STEP_ID steps[2].id', 'MISSING_STEP steps[1].next', 'OUT_OF_BOUNDS steps[1].configuration.timeout', 'UNKNOWN_STEP_TYPE steps[0].type'].sort());
  });
});

describe('validateFlow: warnings', () => {
  it('UNREACHABLE_STEP', async () => {
    const r = await codes(flowOf([end('a'), end('b')]));
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual(['UNREACHABLE_STEP steps[1]']);
  });
  it('UNSET_VARIABLE: read but never set; inputs, built-ins and step outputs count as set', async () => {
    const r = await codes(
      flowOf(
        [
          http('a', { url: 'https://api.example.com/{{account}}?p={{phone}}', headers: { 'X-Request-Id': '{{flow_execution_id}}' }, responseMapping: { tier: '$.tier' } }, { next: 'b' }),
          { id: 'b', type: 'Condition', configuration: { conditions: [{ expression: "tier == 'GOLD' && http_status_code == 200 && mystery", nextStepId: 'a' }] } },
        ],
        { inputs: ['account'] },
      ),
    );
    expect(r.warnings.sort()).toEqual(['UNSET_VARIABLE steps[0].configuration.url', 'UNSET_VARIABLE steps[1].configuration.conditions[0].expression'].sort());
  });
});
