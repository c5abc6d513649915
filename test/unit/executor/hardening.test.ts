/**
 * What a hostile flow, caller or backend sends never crashes, stalls or leaks: budgets, the
 * run-time host policy, the circuit key, containment and redaction, at the executor level.
 */
import { JSONPath } from 'jsonpath-plus';
import { describe, expect, it, vi } from 'vitest';
import { MAX_JSON_DEPTH } from '#shared/budgets';
import { FakeClock, type Randomness } from '#shared/clock';
import { BudgetExceededError } from '#shared/errors';
import { runFlow, runFlowWithVariables, type ExecutorDeps } from '#shared/executor/executor';
import { fitRecord } from '#shared/executor/record';
import { evaluate } from '#shared/expressions/evaluator';
import { PATH_CACHE_SIZE } from '#shared/expressions/jsonpath';
import type { Flow } from '#shared/flow/schema';
import { NodeHttpClient, type HttpClient, type HttpRequest, type HttpResponse } from '#shared/http/client';
import { compileJsonSchema } from '#shared/steps/data-api';
import { parsed } from '../../support/flows';

/** Answers every request with `body` (200), recording what was asked. */
class RecordingHttp implements HttpClient {
  readonly requests: HttpRequest[] = [];
  constructor(private readonly body: string = '{"ok":true}') {}
  send(request: HttpRequest): Promise<HttpResponse> {
    this.requests.push(request);
    return Promise.resolve({ kind: 'response', status: 200, headers: {}, body: Buffer.from(this.body) });
  }
}

const fixedRandom: Randomness = { id: () => 'exec-1', random: () => 0.5 };
function deps(http: HttpClient = new RecordingHttp(), flows: Flow[] = []): ExecutorDeps {
  return { clock: new FakeClock(1_000_000), randomness: fixedRandom, http, resolveFlow: (id) => Promise.resolve(flows.find((f) => f.id === id)) };
}
const end = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'End', configuration: { outcome: id, ...extra } });
const evaluateStep = (id: string, expression: string, outputVariable: string, next?: string) => ({ id, type: 'DataAPI', configuration: { operation: 'evaluate', expression, outputVariable }, ...(next ? { next } : {}) });

describe('budgets: values', () => {
  it('four string-helper steps that would build hundreds of millions of characters fail BUDGET_EXCEEDED, before allocating', async () => {
    const flow = await parsed([
      evaluateStep('a', "padStart('x', 1024, 'ab')", 's', 'b'),
      evaluateStep('b', "replaceAll(s, '', s)", 's', 'c'),
      evaluateStep('c', "replaceAll(s, '', s)", 's', 'd'),
      evaluateStep('d', "join(split(s, ''), s)", 's'),
    ]);
    const before = process.memoryUsage().heapUsed;
    const result = await runFlow(flow, {}, deps());
    expect(result).toMatchObject({ status: 'FAILED', branch: 'BudgetExceeded', error: { code: 'BUDGET_EXCEEDED', budget: 'valueBytes' } });
    expect(result.trace.map((t) => [t.stepId, t.status])).toEqual([
      ['a', 'SUCCEEDED'],
      ['b', 'FAILED'],
    ]);
    // 1024 × 1024 characters were never built: the heap grew by far less than that string's size.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });

  it.each([
    ["replaceAll(s, '', s)", 'replaceAll'],
    ["join(list, '')", 'join'],
    ['s + s + s', "'+'"],
    ['toJson([s, s, s])', 'array literal'],
    ["'{{s}}{{s}}{{s}}'", "'+'"],
  ])('%s on a 30 KiB string throws BudgetExceededError naming %s', (expression, name) => {
    const s = 'x'.repeat(30 * 1024);
    const scope = { s, list: [s, s, s] };
    expect(() => evaluate(expression, scope)).toThrow(BudgetExceededError);
    try {
      evaluate(expression, scope);
    } catch (err) {
      expect((err as Error).message).toContain(name);
    }
  });

  it('a value nested deeper than 64 levels fails valueDepth; all variables together past 256 KiB fail variablesBytes', async () => {
    const nest = await parsed([evaluateStep('wrap', '[[[[[[[[v]]]]]]]]', 'v', 'wrap')], { maxSteps: 100 });
    expect(await runFlow(nest, { variables: { v: 1 } }, deps())).toMatchObject({ status: 'FAILED', error: { code: 'BUDGET_EXCEEDED', budget: 'valueDepth' } });
    const big = "replaceAll(padStart('', 1000, 'y'), 'y', padStart('', 55, 'z'))"; // 55,000 characters: within the value budget
    const grow = await parsed(['a', 'b', 'c', 'd', 'e'].map((name, i, all) => evaluateStep(name, big, name, all[i + 1])));
    const result = await runFlow(grow, {}, deps());
    expect(result).toMatchObject({ status: 'FAILED', error: { code: 'BUDGET_EXCEEDED', budget: 'variablesBytes' } });
    expect(result.trace.at(-1)).toMatchObject({ stepId: 'e', status: 'FAILED' });
  });

  it('caller variables nested deeper than 64 levels fail the execution with a coded error, not a crash', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 5000; i++) deep = [deep];
    const flow = await parsed([end('done')]);
    const result = await runFlow(flow, { variables: { deep } }, deps());
    expect(result).toMatchObject({ status: 'FAILED', error: { code: 'BUDGET_EXCEEDED', budget: 'valueDepth' } });
  });
});

describe('budgets: steps across sub-flows', () => {
  it('a flow that calls itself three times per run stops at the root maxSteps, with a bounded trace', async () => {
    const fanOut = await parsed(
      [
        { id: 's1', type: 'SubFlow', configuration: { flowId: 'fan' }, next: 's2', branches: { OnError: 's2' } },
        { id: 's2', type: 'SubFlow', configuration: { flowId: 'fan' }, next: 's3', branches: { OnError: 's3' } },
        { id: 's3', type: 'SubFlow', configuration: { flowId: 'fan' } },
      ],
      { id: 'fan', maxSteps: 300 },
    );
    const result = await runFlow(fanOut, {}, deps(new RecordingHttp(), [fanOut]));
    expect(result).toMatchObject({ status: 'FAILED', branch: 'BudgetExceeded', error: { code: 'BUDGET_EXCEEDED', budget: 'steps' } });
    const count = (trace: typeof result.trace): number => trace.reduce((n, t) => n + 1 + (t.subFlow ? count(t.subFlow.trace) : 0), 0);
    expect(count(result.trace)).toBeLessThanOrEqual(301);
  });
});

describe('run-time host policy', () => {
  const templated = (url: string) =>
    parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url, headers: { 'X-API-Key': '{{key}}' } }, branches: { OnError: 'refused' } }, end('refused')], {
      allowedHosts: ['api.example.com', '*.crm.example.com'],
    });

  it.each([
    ['https://{{host}}/x', { host: 'evil.example' }],
    ['{{base}}/x', { base: 'https://evil.example' }],
    ['{{base}}/x', { base: 'https://api.example.com.evil.example' }],
    ['https://{{host}}/x', { host: 'api.example.com@evil.example' }],
  ])('%s with %j is refused before sending: no request, no credential leaves', async (url, variables) => {
    const http = new RecordingHttp();
    const result = await runFlow(await templated(url), { variables: { ...variables, key: 'k-123456' } }, deps(http));
    expect(http.requests).toHaveLength(0);
    expect(result.branch).toBe('refused');
    expect(result.variables['http_error']).toMatchObject({ type: 'invalid_request' });
  });

  it('the URL actually requested is allowed when its host is on the list', async () => {
    const http = new RecordingHttp();
    const result = await runFlow(await templated('https://{{host}}/x'), { variables: { host: 'eu.crm.example.com', key: 'k' } }, deps(http));
    expect(result.status).toBe('SUCCEEDED');
    expect(http.requests[0]!.url.hostname).toBe('eu.crm.example.com');
  });

  it('a value right after a literal host cannot extend it', async () => {
    const http = new RecordingHttp();
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: 'https://api.example.com{{path}}' }, branches: { OnError: 'refused' } }, end('refused')]);
    const result = await runFlow(flow, { variables: { path: '.evil.example' } }, deps(http));
    expect(http.requests).toHaveLength(0);
    expect(result.branch).toBe('refused');
  });
});

describe('circuit key', () => {
  it('no caller value can move a call onto another path’s circuit', async () => {
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: '{{base}}/v2/accounts/{{id}}', circuitBreaker: {} } }], { allowedHosts: ['crm.example.com'] });
    const keyOf = async (variables: Record<string, unknown>) => (await runFlow(flow, { variables }, deps())).trace[0]!.circuit?.key;
    const legit = await keyOf({ base: 'https://crm.example.com', id: '42' });
    expect(legit).toBe('GET crm.example.com/v2/accounts/{}');
    expect(await keyOf({ base: 'https://crm.example.com', id: '7#/v1/tickets' })).toBe(legit);
    expect(await keyOf({ base: 'https://crm.example.com/v1/tickets?', id: '42' })).not.toBe(legit);
    expect(await keyOf({ base: 'https://crm.example.com/v1/tickets#', id: '42' })).not.toBe(legit);
  });
});

describe('containment: data the engine did not expect routes, never throws', () => {
  it('a header value with a non-Latin-1 or control character takes OnError before sending', async () => {
    const http = new RecordingHttp();
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: 'https://api.example.com/x', headers: { 'X-Caller': '{{name}}' } }, branches: { OnError: 'bad' } }, end('bad')]);
    for (const name of ['Zoë ☃', 'a\u0007b', 'line\r\nX-Evil: 1']) {
      const result = await runFlow(flow, { variables: { name } }, deps(http));
      expect(result.branch).toBe('bad');
      expect(result.variables['http_error']).toMatchObject({ type: 'invalid_request' });
    }
    expect(http.requests).toHaveLength(0);
  });

  it('the real HTTP client answers `invalid` for a header Node refuses, instead of throwing', async () => {
    const client = new NodeHttpClient({ allowPrivateNetworks: true });
    try {
      const result = await client.send({ url: new URL('http://127.0.0.1:9/x'), method: 'GET', headers: { 'x-bad': 'snow ☃' }, timeoutMs: 1000 });
      expect(result).toMatchObject({ kind: 'invalid' });
    } finally {
      client.close();
    }
  });

  it('a response body nested 5,000 levels deep takes OnError (invalid_response), the fallback runs', async () => {
    const http = new RecordingHttp('['.repeat(5000) + ']'.repeat(5000));
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: 'https://api.example.com/x', responseMapping: { all: '$' } }, branches: { OnError: 'fallback' } }, end('fallback')]);
    const result = await runFlow(flow, {}, deps(http));
    expect(result.branch).toBe('fallback');
    expect(result.variables['http_error']).toMatchObject({ type: 'invalid_response' });
  });

  it('parseJson of a deeply nested text is null, not a stack overflow later', () => {
    expect(evaluate('parseJson(t)', { t: '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1) })).toBeNull();
    expect(evaluate('parseJson(t)', { t: '[[1]]' })).toEqual([[1]]);
  });
});

describe('JSON Schema and JSONPath from flows and callers', () => {
  it('a schema with an $id compiles again after the flow cache refreshed (a new object, the same $id)', async () => {
    const def = { id: 'schema-flow', steps: [{ id: 'v', type: 'DataAPI', configuration: { operation: 'validate', input: 'x', schema: { $id: 'https://example.com/caller.json', type: 'string' } } }] };
    for (let i = 0; i < 3; i++) {
      const flow = await parsed(structuredClone(def.steps), { id: def.id }); // a fresh parse, as after a cache refresh
      const result = await runFlow(flow, { variables: { x: 'abc' } }, deps());
      expect(result).toMatchObject({ status: 'SUCCEEDED', variables: { is_valid: true } });
    }
    // Two flows may even use one $id for different schemas.
    expect((await compileJsonSchema({ $id: 'https://example.com/caller.json', type: 'number' }))(5)).toBe(true);
  });

  it('a catastrophic-backtracking pattern runs in linear time (RE2) and answers', async () => {
    const validate = await compileJsonSchema({ type: 'string', pattern: '^(a+)+$' });
    // With a backtracking engine this input takes minutes; the test would time out.
    expect(validate(`${'a'.repeat(5000)}!`)).toBe(false);
    expect(validate('aaaa')).toBe(true);
  });

  it('jsonPath() refuses paths over 1,024 characters, and the parsed-path cache stays bounded', () => {
    // A union that would match (it returns [1, 1, …] when allowed) but is longer than 1,024 characters.
    const longMatching = `$[${Array.from({ length: 300 }, () => "'a'").join(',')}]`;
    expect(longMatching.length).toBeGreaterThan(1024);
    expect(evaluate('jsonPath(v, p)', { v: { a: 1 }, p: "$['a','a']" })).toEqual([1, 1]);
    expect(evaluate('jsonPath(v, p)', { v: { a: 1 }, p: longMatching })).toBeNull();
    const clear = vi.spyOn(JSONPath, 'clearCache');
    // Indefinite paths go through jsonpath-plus (definite ones are walked directly, their parsed names in an LRU of the same size).
    for (let i = 0; i <= PATH_CACHE_SIZE; i++) evaluate('jsonPath(v, p)', { v: { a: 1 }, p: `$..k${i}` });
    expect(clear).toHaveBeenCalled();
    clear.mockRestore();
  });
});

describe('secrets and outputs', () => {
  const flow = () =>
    parsed([
      {
        id: 'call',
        type: 'HTTPRequest',
        configuration: {
          url: 'https://api.example.com/x',
          authentication: { type: 'apiKey', headerName: 'X-API-Key', headerValue: '{{api_key}}' },
          circuitBreaker: { key: 'crm-{{api_key}}' },
          responseMapping: { echoed: '$.echo' },
        },
        next: 'copy',
      },
      { id: 'copy', type: 'DataAPI', configuration: { operation: 'assign', variables: { note: 'key was {{api_key}}' } } },
    ]);

  it('a flow without declared outputs returns only what its steps set, never the caller input', async () => {
    const result = await runFlow(await flow(), { variables: { api_key: 'sk-live-123456', dtmf: '1234' } }, deps(new RecordingHttp('{"echo":"sk-live-123456"}')));
    expect(Object.keys(result.variables).sort()).toEqual(['echoed', 'http_error', 'http_status_code', 'note']);
  });

  it('credentials the flow sent are *** in outputs, trace (circuit key) and the variables returned for a session', async () => {
    const { result, variables } = await runFlowWithVariables(await flow(), { variables: { api_key: 'sk-live-123456' } }, deps(new RecordingHttp('{"echo":"sk-live-123456"}')));
    const text = JSON.stringify({ result, variables });
    expect(text).not.toContain('sk-live-123456');
    expect(result.variables).toMatchObject({ echoed: '***', note: 'key was ***' });
    expect(result.trace[0]!.circuit?.key).toBe('crm-***');
    expect(variables['api_key']).toBe('***');
  });
});

describe('records', () => {
  it('a record over the budget is shrunk, the trace first, never the outcome', () => {
    const entry = (i: number) => ({ stepId: `s${i}`, type: 'DataAPI', branch: 'OnSuccess', status: 'SUCCEEDED' as const, durationMs: 0 });
    const result = {
      executionId: 'e',
      flowId: 'f',
      flowVersion: 1,
      status: 'FAILED' as const,
      branch: 'MaxStepsExceeded',
      variables: { kept: 'x'.repeat(1000) },
      trace: Array.from({ length: 5000 }, (_, i) => ({ ...entry(i), subFlow: { flowId: 'c', version: 1, status: 'SUCCEEDED' as const, trace: [entry(i)] } })),
      error: { code: 'MAX_STEPS_EXCEEDED', message: 'm' },
      startedAt: 'now',
      durationMs: 1,
    };
    const fitted = fitRecord(result, 100 * 1024);
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(100 * 1024);
    expect(fitted).toMatchObject({ status: 'FAILED', branch: 'MaxStepsExceeded', error: { code: 'MAX_STEPS_EXCEEDED' }, variables: { kept: 'x'.repeat(1000) }, truncated: true });
    expect(fitted.trace.length).toBeGreaterThan(100);
    expect(fitted.trace[0]).toMatchObject({ stepId: 's0', subFlow: { trace: [] } });
    const small = { ...result, trace: [] };
    expect(fitRecord(small)).toBe(small);
  });
});
