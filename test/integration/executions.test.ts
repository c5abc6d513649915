import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionService } from '#shared/api/execution-service';
import { FakeClock, systemRandomness } from '#shared/clock';
import { parseFlow } from '#shared/flow/validate';
import { NodeHttpClient } from '#shared/http/client';
import { ensureTables } from '#shared/local/dynamodb-local';
import { CachedFlowStore } from '#shared/stores/cached-flow-store';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import { api, countingClient, startTestStack, uniqueTables } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;
let base: string;
let backend: ScriptedServer;

beforeAll(async () => {
  stack = await startTestStack();
  base = stack.api.url;
  // A backend that takes 300 ms, so concurrent requests really overlap.
  backend = await startScriptedServer(() => ({ status: 200, body: { id: 'ACC-1', tier: 'GOLD' }, delayMs: 300 }));
  const lookup = {
    id: 'lookup',
    name: 'Lookup',
    inputs: ['base'],
    outputs: ['tier', 'http_status_code'],
    steps: [{ id: 'call', type: 'HTTPRequest', configuration: { url: '{{base}}/accounts?x={{flow_execution_id}}', responseMapping: { tier: '$.tier' } } }],
  };
  expect((await api(base, 'PUT', '/flows/lookup', lookup)).status).toBe(201);
});
afterAll(async () => {
  await stack.close();
  await backend.close();
});

describe('executions through the API', () => {
  it('runs a flow, returns declared outputs, and reads the record back', async () => {
    const run = await api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url } });
    expect(run).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', flowVersion: 1, variables: { tier: 'GOLD', http_status_code: 200 } } });
    expect(Object.keys(run.body.variables).sort()).toEqual(['http_status_code', 'tier']);
    const back = await api(base, 'GET', `/executions/${run.body.executionId}`);
    expect(back).toMatchObject({ status: 200, body: { executionId: run.body.executionId, status: 'SUCCEEDED', trace: [{ stepId: 'call', statusCode: 200, attempts: 1 }] } });
    expect(back.body.variables).toEqual(run.body.variables);
  });

  it('a warm execution makes exactly one DynamoDB request (the record write, with its search items in the same transaction)', async () => {
    await api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url } });
    stack.resetCalls();
    await api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url } });
    expect(stack.calls).toEqual(['TransactWriteItemsCommand']);
  });

  it('10 concurrent POSTs with one Idempotency-Key: the backend is called once, all get the same result', async () => {
    const before = backend.requests.length;
    const answers = await Promise.all(Array.from({ length: 10 }, () => api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url } }, { 'Idempotency-Key': 'call-7781' })));
    expect(backend.requests.length - before).toBe(1);
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((a) => a.body.executionId)).size).toBe(1);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    // A later repeat returns the first answer too, without running the flow.
    const again = await api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url } }, { 'Idempotency-Key': 'call-7781' });
    expect(again.body).toEqual(answers[0]!.body);
    expect(backend.requests.length - before).toBe(1);
  });

  it('the same key with the same body in another key order → the first answer, one backend call (the hash is over key-sorted JSON)', async () => {
    const before = backend.requests.length;
    const first = await api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url, a: 1, nested: { x: 1, y: [1, 2] } }, contactId: 'c-1' }, { 'Idempotency-Key': 'reordered-1' });
    const again = await api(base, 'POST', '/flows/lookup/executions', `{"contactId":"c-1","variables":{"nested":{"y":[1,2],"x":1},"a":1,"base":"${backend.url}"}}`, { 'Idempotency-Key': 'reordered-1' });
    expect(first.status).toBe(200);
    expect(again).toMatchObject({ status: 200, body: first.body });
    expect(backend.requests.length - before).toBe(1);
  });

  it('a flow of flowType Workflow is not executed directly: 409 WORKFLOW_NOT_DIRECTLY_EXECUTABLE (it runs through WorkflowExecute)', async () => {
    expect((await api(base, 'PUT', '/flows/wf-direct', { id: 'wf-direct', name: 'A workflow', flowType: 'Workflow', steps: [{ id: 'done', type: 'End', configuration: {} }] })).status).toBe(201);
    const r = await api(base, 'POST', '/flows/wf-direct/executions', { variables: {} });
    expect(r).toMatchObject({ status: 409, body: { error: { code: 'WORKFLOW_NOT_DIRECTLY_EXECUTABLE' } } });
    expect(r.body.error.message).toMatch(/WorkflowExecute/);
  });

  it('the same key with another body → 422 IDEMPOTENCY_KEY_REUSED', async () => {
    await api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url } }, { 'Idempotency-Key': 'k-2' });
    const r = await api(base, 'POST', '/flows/lookup/executions', { variables: { base: backend.url, extra: 1 } }, { 'Idempotency-Key': 'k-2' });
    expect(r).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
  });

  it.each([
    ['an unknown flow', '/flows/ghost/executions', { variables: {} }, {}, 404, 'NOT_FOUND'],
    ['variables that are not an object', '/flows/lookup/executions', { variables: [1] }, {}, 422, 'INVALID_BODY'],
    ['an unknown key', '/flows/lookup/executions', { variables: {}, extra: true }, {}, 422, 'INVALID_BODY'],
    ['a deadline out of bounds', '/flows/lookup/executions', { deadlineMs: 10 }, {}, 422, 'INVALID_BODY'],
    ['a bad variable name', '/flows/lookup/executions', { variables: { 'a-b': 1 } }, {}, 422, 'INVALID_BODY'],
    ['not JSON', '/flows/lookup/executions', '{', {}, 400, 'INVALID_JSON'],
    ['a bad idempotency key', '/flows/lookup/executions', {}, { 'Idempotency-Key': 'spaces are not allowed' }, 400, 'INVALID_IDEMPOTENCY_KEY'],
  ])('%s is refused', async (_label, path, body, headers, status, code) => {
    const r = await api(base, 'POST', path, body, headers);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
  });

  it('an unknown execution → 404', async () => {
    expect((await api(base, 'GET', '/executions/nope')).status).toBe(404);
  });
});

describe('re-dial sessions', () => {
  const sessionFlow = {
    id: 'redial',
    name: 'Re-dial',
    flowType: 'IVR',
    version: 1,
    inputs: ['phone_number', 'attempts'],
    session: { key: '{{phone_number}}', ttlSeconds: 900, variables: ['attempts', 'last_menu'] },
    steps: [{ id: 'count', type: 'DataAPI', configuration: { operation: 'assign', variables: { attempts: '{{(attempts ?? 0) + 1}}', last_menu: 'billing' } } }],
  };

  it('restores session variables for the same caller and expires them after ttlSeconds', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const { client } = countingClient();
    const tables = uniqueTables();
    await ensureTables(client, tables);
    const flows = new CachedFlowStore(new DynamoFlowStore({ tableName: tables.definitionsTable, client }), { clock });
    await flows.putFlowVersion({ ...(await parseFlow(sessionFlow)), version: 1 }, new Date(clock.now()).toISOString());
    const http = new NodeHttpClient();
    const service = new ExecutionService({ flows, state: new DynamoStateStore({ tableName: tables.stateTable, client, now: () => clock.now() }), http, clock, randomness: systemRandomness });

    const first = await service.start('redial', { variables: { phone_number: '+12125551234' } });
    expect(first.variables['attempts']).toBe(1);
    clock.advance(60_000);
    const second = await service.start('redial', { variables: { phone_number: '+12125551234' } });
    expect(second.variables).toMatchObject({ attempts: 2, last_menu: 'billing' });
    const other = await service.start('redial', { variables: { phone_number: '+13125557788' } });
    expect(other.variables['attempts']).toBe(1);
    clock.advance(901_000);
    const expired = await service.start('redial', { variables: { phone_number: '+12125551234' } });
    expect(expired.variables['attempts']).toBe(1);
    http.close();
  });
});
