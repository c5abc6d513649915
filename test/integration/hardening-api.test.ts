/**
 * Hostile callers and oversized executions against the real handlers on DynamoDB Local: bad
 * bodies are 4xx (a fast-check property), a record past DynamoDB's item limit is shrunk and
 * written, and an idempotency key whose execution called a backend is never released.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { logger } from '#shared/observability';
import { api, startTestStack } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;
let base: string;
let backend: ScriptedServer;
/** When set, the next TransactWriteItems (record write + idempotency completion) fails once. */
let failNextRecordWrite = false;

/** A flow that calls the backend once, then loops `rounds` times: a trace far past DynamoDB's 400 KB item limit. */
const bigTraceFlow = (rounds: number) => ({
  id: 'big-trace',
  name: 'Big trace',
  maxSteps: 10000,
  inputs: ['base'],
  outputs: ['n', 'http_status_code'],
  steps: [
    { id: 'call', type: 'HTTPRequest', configuration: { url: '{{base}}/orders', method: 'POST', headers: { 'Idempotency-Key': '{{flow_execution_id}}' }, body: { order: 1 } }, next: 'inc' },
    { id: 'inc', type: 'DataAPI', configuration: { operation: 'evaluate', expression: '(n ?? 0) + 1', outputVariable: 'n' }, next: 'check' },
    { id: 'check', type: 'Condition', configuration: { conditions: [{ expression: `n < ${rounds}`, nextStepId: 'inc' }], defaultStepId: 'done' } },
    { id: 'done', type: 'End', configuration: { outcome: 'Done' } },
  ],
});

beforeAll(async () => {
  stack = await startTestStack();
  base = stack.api.url;
  stack.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (failNextRecordWrite && context.commandName === 'TransactWriteItemsCommand') {
        failNextRecordWrite = false;
        throw new Error('injected: DynamoDB failed the record write');
      }
      return next(args);
    },
    { step: 'initialize', name: 'injectRecordWriteFailure' },
  );
  backend = await startScriptedServer(() => ({ status: 200, body: { ok: true } }));
  expect((await api(base, 'PUT', '/flows/big-trace', bigTraceFlow(2500))).status).toBe(201);
  expect((await api(base, 'PUT', '/flows/echo', { id: 'echo', name: 'Echo', steps: [{ id: 'done', type: 'End', configuration: { outputs: { got: '{{x}}' } } }] })).status).toBe(201);
});
afterAll(async () => {
  await stack.close();
  await backend.close();
});

describe('bodies the engine did not expect', () => {
  it('variables nested 5,000 levels deep → 400 UNSAFE_JSON, not a 500', async () => {
    const body = `{"variables":{"x":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    const res = await api(base, 'POST', '/flows/echo/executions', body);
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'UNSAFE_JSON' } } });
    expect(res.body.error.message).toMatch(/64 levels/);
  });

  it('a __proto__ key anywhere in a body → 400 UNSAFE_JSON', async () => {
    const res = await api(base, 'POST', '/flows/echo/executions', '{"variables":{"x":{"__proto__":{"polluted":true}}}}');
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'UNSAFE_JSON' } } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('random bodies and headers to the execution and deploy routes: always an answer below 500 (fast-check)', async () => {
    const bodies = fc.oneof(
      fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
      fc.record({ variables: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 }), deadlineMs: fc.oneof(fc.integer(), fc.double(), fc.string()) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
    );
    await fc.assert(
      fc.asyncProperty(bodies, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'), fc.option(fc.string({ maxLength: 300 }), { nil: undefined }), async (body, contentType, key) => {
        const headers: Record<string, string> = { 'content-type': contentType };
        if (key !== undefined && /^[\x20-\x7e]*$/.test(key)) headers['Idempotency-Key'] = key;
        const run = await fetch(`${base}/flows/echo/executions`, { method: 'POST', headers, body });
        expect(run.status, `POST ${body}`).toBeLessThan(500);
        const deploy = await fetch(`${base}/flows/prop-target`, { method: 'PUT', headers, body });
        expect(deploy.status, `PUT ${body}`).toBeLessThan(500);
      }),
      { numRuns: 120, seed: 11 },
    );
  });
});

describe('records and idempotency keys', () => {
  it('a record past the 400 KB item limit is shrunk and written; a retry with the key gets the first answer, not a second call', async () => {
    const before = backend.requests.length;
    const first = await api(base, 'POST', '/flows/big-trace/executions', { variables: { base: backend.url } }, { 'Idempotency-Key': 'order-1' });
    expect(first).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'Done', truncated: true, variables: { n: 2500, http_status_code: 200 } } });
    expect(Buffer.byteLength(JSON.stringify(first.body))).toBeLessThanOrEqual(350 * 1024);
    const stored = await api(base, 'GET', `/executions/${first.body.executionId}`);
    expect(stored.body).toEqual(first.body);
    const retry = await api(base, 'POST', '/flows/big-trace/executions', { variables: { base: backend.url } }, { 'Idempotency-Key': 'order-1' });
    expect(retry.body).toEqual(first.body);
    expect(backend.requests.length - before).toBe(1);
  });

  it('a record write that fails after the backend was called: the caller still gets its answer, the record goes to the log whole, and the key is never run again', async () => {
    const before = backend.requests.length;
    const logged = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    failNextRecordWrite = true;
    const call = () => api(base, 'POST', '/flows/big-trace/executions', { variables: { base: backend.url }, deadlineMs: 1000 }, { 'Idempotency-Key': 'order-2' });
    const first = await call();
    expect(first).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'Done' } });
    const line = logged.mock.calls.find(([message]) => message === 'record_write_failed');
    expect(line?.[1]).toMatchObject({ event: 'record_write_failed', executionId: first.body.executionId, record: { executionId: first.body.executionId, status: 'SUCCEEDED' } });
    logged.mockRestore();
    // The key could not be completed: a repeat waits for the first answer, then (its lock expired) is told the first is in doubt.
    const waiting = await call();
    expect(waiting).toMatchObject({ status: 409, body: { error: { code: 'IDEMPOTENCY_IN_PROGRESS', details: { executionId: first.body.executionId } } } });
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const doubt = await call();
    expect(doubt).toMatchObject({ status: 409, body: { error: { code: 'IDEMPOTENCY_IN_DOUBT', details: { executionId: first.body.executionId } } } });
    expect(backend.requests.length - before).toBe(1);
  }, 15_000);
});
