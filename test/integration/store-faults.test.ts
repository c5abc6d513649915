/**
 * A State table that stalls or dies, on a DynamoDB Local of this file's own (paused with SIGSTOP,
 * killed with SIGKILL, restarted on its data folder): every answer comes within its deadline — the
 * flow's answer when nothing had to be stored first (its record then goes to the log whole), else
 * a coded 503 STATE_UNAVAILABLE — never a 500, on the HTTP entry and the Connect entry; an
 * Idempotency-Key whose execution called its backend before the store died is never run again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureTables, localDynamoDbClient, startDynamoDbLocal, type DynamoDbLocal } from '#shared/local/dynamodb-local';
import { logger } from '#shared/observability';
import { api, startFunctions, uniqueTables, type TestStack } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

let dataDir: string;
let ddb: DynamoDbLocal;
let stack: TestStack;
let backend: ScriptedServer;
const tables = uniqueTables();

const quick = { id: 'quick', name: 'No I/O', deadlineMs: 1000, outputs: ['route'], steps: [{ id: 'done', type: 'End', configuration: { outcome: 'Done', outputs: { route: 'self-service' } } }] };
const order = {
  id: 'order',
  name: 'Places an order',
  deadlineMs: 3000,
  inputs: ['base'],
  outputs: ['http_status_code'],
  steps: [
    { id: 'place', type: 'HTTPRequest', configuration: { url: '{{base}}/orders', method: 'POST', headers: { 'Idempotency-Key': '{{flow_execution_id}}' }, body: { item: 1 } }, next: 'done' },
    { id: 'done', type: 'End', configuration: { outcome: 'Placed' } },
  ],
};

/** A call whose backend answers after 1.5 s: its Idempotency-Key stays in progress that long. */
const slowOrder = {
  id: 'slow-order',
  name: 'Places an order slowly',
  deadlineMs: 3000,
  inputs: ['base'],
  steps: [
    { id: 'place', type: 'HTTPRequest', configuration: { url: '{{base}}/slow', method: 'POST', timeout: 2500, body: { item: 1 } }, next: 'done' },
    { id: 'done', type: 'End', configuration: { outcome: 'Placed' } },
  ],
};

const execute = (flowId: string, body: Record<string, unknown> = {}, key?: string) => api(stack.api.url, 'POST', `/flows/${flowId}/executions`, body, key ? { 'Idempotency-Key': key } : {});
const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
  const t0 = Date.now();
  const value = await work();
  return { value, ms: Date.now() - t0 };
};

/** The Connect entry: ConnectInvoke through the local Lambda Invoke API. */
async function invokeConnect(flowId: string): Promise<Record<string, unknown>> {
  const event = { Name: 'ContactFlowEvent', Details: { ContactData: { ContactId: `contact-${Date.now()}` }, Parameters: { flowId } } };
  const res = await fetch(`${stack.api.url}/2015-03-31/functions/ConnectInvoke/invocations`, { method: 'POST', body: JSON.stringify(event) });
  expect(res.headers.get('x-amz-function-error')).toBeNull();
  return (await res.json()) as Record<string, unknown>;
}

/** The record_write_failed lines logged while `work` runs. */
async function recordLines<T>(work: () => Promise<T>): Promise<{ value: T; lines: Array<Record<string, unknown>> }> {
  const spy = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
  try {
    const value = await work();
    return { value, lines: spy.mock.calls.filter(([message]) => message === 'record_write_failed').map(([, extra]) => extra as unknown as Record<string, unknown>) };
  } finally {
    spy.mockRestore();
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ivrflow-store-faults-'));
  ddb = await startDynamoDbLocal({ dataDir });
  // A long cache: the flows stay in memory while the table is away.
  stack = await startFunctions({ dynamodbEndpoint: ddb.endpoint, tables, flowCacheTtlMs: 600_000 });
  backend = await startScriptedServer((req) => {
    if (req.url.includes('kill')) ddb.signal('SIGKILL');
    if (req.url.includes('slow')) return { status: 200, body: { ok: true }, delayMs: 1500 };
    return { status: 200, body: { ok: true } };
  });
  for (const flow of [quick, order, slowOrder]) expect((await api(stack.api.url, 'PUT', `/flows/${flow.id}`, flow)).status).toBe(201);
  expect((await execute('quick')).status).toBe(200);
  // Each function has its own instance (as in Lambda): connect-invoke reads the flow once too.
  expect(await invokeConnect('quick')).toMatchObject({ ivrflow_status: 'SUCCEEDED' });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await backend?.close();
  await ddb?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('DynamoDB Local paused (SIGSTOP): it accepts connections and never answers', () => {
  it('a run that needs no state first answers the flow within its 1000 ms deadline, its record in the log; one that does answers 503 in time', async () => {
    ddb.signal('SIGSTOP');
    try {
      const { value: plain, lines } = await recordLines(() => timed(() => execute('quick')));
      expect(plain.value).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'Done', variables: { route: 'self-service' } } });
      expect(plain.ms).toBeLessThan(1000);
      expect(lines).toEqual([expect.objectContaining({ event: 'record_write_failed', executionId: plain.value.body.executionId, record: expect.objectContaining({ status: 'SUCCEEDED', branch: 'Done' }) as unknown })]);

      const keyed = await timed(() => execute('quick', {}, 'paused-1'));
      expect(keyed.value).toMatchObject({ status: 503, body: { error: { code: 'STATE_UNAVAILABLE' } } });
      expect(keyed.ms).toBeLessThan(1000);

      // A flow this instance has not read: its deadline is the caller's (deadlineMs 800).
      const unknown = await timed(() => execute('never-read', { deadlineMs: 800 }));
      expect(unknown.value).toMatchObject({ status: 503, body: { error: { code: 'STATE_UNAVAILABLE' } } });
      expect(unknown.ms).toBeLessThan(800 + 100);

      // Connect always sends an idempotency key: a coded answer its contact flow can branch on, within the flow's deadline.
      const connect = await timed(() => invokeConnect('quick'));
      expect(connect.value).toMatchObject({ ivrflow_status: 'ERROR', ivrflow_error: 'STATE_UNAVAILABLE' });
      expect(connect.ms).toBeLessThan(1000);
    } finally {
      ddb.signal('SIGCONT');
    }
    // Once it answers again, so does everything (the claim that landed late was released: the key runs).
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(await execute('quick', {}, 'paused-1')).toMatchObject({ status: 200, body: { status: 'SUCCEEDED' } });
  }, 30_000);

  it('a repeat of a key in progress whose polls the store stops answering: 409 in progress within its deadline, not 503', async () => {
    const body = { variables: { base: backend.url } };
    const first = recordLines(() => execute('slow-order', body, 'slow-1'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The repeat reads the key (in progress) and polls it; the store stops answering while it polls.
    const repeat = timed(() => execute('slow-order', body, 'slow-1'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    ddb.signal('SIGSTOP');
    try {
      const { value, ms } = await repeat;
      expect(value).toMatchObject({ status: 409, body: { error: { code: 'IDEMPOTENCY_IN_PROGRESS' } } });
      expect(ms).toBeLessThan(3000 + 200);
    } finally {
      ddb.signal('SIGCONT');
    }
    expect((await first).value).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'Placed' } });
  }, 30_000);
});

describe('DynamoDB Local killed (SIGKILL): connections are refused', () => {
  it('no 500: the flow answers (record in the log) or a coded 503, fast', async () => {
    ddb.signal('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const answers = await recordLines(() => Promise.all(Array.from({ length: 20 }, (_, i) => timed(() => (i % 2 ? execute('quick') : execute('quick', {}, `killed-${i}`))))));
    for (const [i, { value, ms }] of answers.value.entries()) {
      expect(ms).toBeLessThan(1000);
      if (i % 2) expect(value).toMatchObject({ status: 200, body: { status: 'SUCCEEDED' } });
      else expect(value).toMatchObject({ status: 503, body: { error: { code: 'STATE_UNAVAILABLE' } } });
    }
    expect(answers.lines).toHaveLength(10);
    expect((await invokeConnect('quick'))['ivrflow_error']).toBe('STATE_UNAVAILABLE');
    await ddb.restart();
    // Its data folder kept the tables and the items.
    await ensureTables(localDynamoDbClient(ddb.endpoint), tables);
    expect(await execute('quick', {}, 'after-restart')).toMatchObject({ status: 200, body: { status: 'SUCCEEDED' } });
  }, 60_000);

  it('an Idempotency-Key whose backend was called before the store died: the caller gets its answer, a repeat is 409 (in progress, then in doubt), the backend is called once', async () => {
    const before = backend.requests.length;
    const body = { variables: { base: `${backend.url}/kill` } };
    const { value: first, lines } = await recordLines(() => execute('order', body, 'order-1'));
    expect(first).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'Placed', variables: { http_status_code: 200 } } });
    expect(lines).toHaveLength(1);
    await ddb.restart();
    // Its tables answer again (a cold DynamoDB Local under a loaded machine can outlast the deadline once).
    await ensureTables(localDynamoDbClient(ddb.endpoint), tables);
    const repeat = await execute('order', body, 'order-1');
    expect(repeat.status).toBe(409);
    expect(['IDEMPOTENCY_IN_PROGRESS', 'IDEMPOTENCY_IN_DOUBT']).toContain(repeat.body.error.code);
    // Its lock (the deadline, 3 s, + 2 s) has passed: in doubt, never run again.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await execute('order', body, 'order-1')).toMatchObject({ status: 409, body: { error: { code: 'IDEMPOTENCY_IN_DOUBT', details: { executionId: first.body.executionId } } } });
    expect(backend.requests.length - before).toBe(1);
  }, 60_000);
});
