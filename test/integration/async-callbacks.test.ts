/**
 * Async backends end to end on the local stack (DynamoDB Local, the local Secrets Manager
 * endpoint, the real handlers over HTTP): a real loopback backend answers 202 Accepted and later
 * POSTs a Standard Webhooks-signed callback to the callback URL; the execution waits, the
 * webhook-callback function resumes it, the long poll returns it. Duplicates, bad signatures,
 * late callbacks, the deadline (on poll and by the sweeper) and its race with a callback.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CLIENT, exampleConnections } from '../../cli/serve';
import { startCrmServer } from '../../examples/backends/crm-server';
import { startOAuthServer } from '../../examples/backends/oauth-server';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseCallbackToken } from '#shared/callbacks/callback-token';
import { CLAIM_LEASE_MS } from '#shared/api/continuations';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import { systemClock, type Clock } from '#shared/clock';
import type { ExecutionResult } from '#shared/steps/types';
import { startTestStack, type TestStack } from '../support/local';

const SECRET = `whsec_${Buffer.from('async-callbacks-test-signing-key-32b').toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.from('a-different-signing-key-of-32-bytes').toString('base64')}`;

/** Real time, shifted by hand: moves an execution past its deadline without waiting for it. */
let offset = 0;
const clock: Clock = { now: () => Date.now() + offset, sleep: (ms, signal) => systemClock.sleep(ms, signal) };

/**
 * The async backend: `POST /jobs` with `{ execution, mode, value, callback_url }` remembers the
 * callback URL by execution and answers by `mode`: `auto` 202, then the signed callback
 * `{ result: value }` after 1 s; `manual` 202 and nothing (the test delivers); `sync` 200 with
 * the result at once; `fail` 500. `POST /after` is the step that follows the wait: counted.
 */
interface Backend {
  url: string;
  callbackUrls: Map<string, string[]>;
  after: string[];
  deliveries: number[];
  close(): Promise<void>;
}

async function startBackend(): Promise<Backend> {
  const callbackUrls = new Map<string, string[]>();
  const after: string[] = [];
  const deliveries: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { execution?: string; mode?: string; value?: string; callback_url?: string; result?: string };
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (req.url === '/after') {
        after.push(String(body.result));
        // Slow enough that duplicate deliveries arrive while the first is still running.
        const t = setTimeout(() => reply(200, { ok: true }), 300);
        timers.add(t);
        return;
      }
      if (body.callback_url) callbackUrls.set(body.execution ?? '', [...(callbackUrls.get(body.execution ?? '') ?? []), body.callback_url]);
      if (body.mode === 'sync') return reply(200, { result: `now-${body.value}` });
      if (body.mode === 'early') {
        // Calls back before it answers its own 202 (the execution has not suspended yet), twice.
        void signedPost(body.callback_url!, { result: body.value })
          .then(async (first) => [first, await signedPost(body.callback_url!, { result: 'second-delivery' })])
          .then((replies) => {
            early.push(...replies.map((r) => `${r.status} ${r.body.status}`));
            reply(202, { status: 'pending' });
          });
        return;
      }
      if (body.mode === 'fail') return reply(500, { error: 'down' });
      if (body.mode === 'auto') {
        const t = setTimeout(() => {
          timers.delete(t);
          void signedPost(body.callback_url!, { result: body.value }).then((r) => deliveries.push(r.status));
        }, 1000);
        timers.add(t);
      }
      reply(202, { status: 'pending' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    callbackUrls,
    after,
    deliveries,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Reply {
  status: number;
  body: { status?: string; executionId?: string; executionStatus?: string; error?: { code: string; message: string } };
}

/** What the `early` backend's callbacks were answered (status and body status). */
const early: string[] = [];

/** POSTs a callback signed as Standard Webhooks describes, or with the changes a test asks for. */
async function signedPost(url: string, payload: unknown, options: { secret?: string; id?: string; at?: Date; omit?: string[]; tamper?: (text: string) => string; raw?: string } = {}): Promise<Reply> {
  const text = options.raw ?? JSON.stringify(payload);
  const id = options.id ?? `msg_${randomUUID()}`;
  const at = options.at ?? new Date();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(options.secret ?? SECRET).sign(id, at, text),
  };
  for (const name of options.omit ?? []) delete headers[name];
  const res = await fetch(url, { method: 'POST', headers, body: options.tamper ? options.tamper(text) : text });
  return { status: res.status, body: (await res.json()) as Reply['body'] };
}

let stack: TestStack;
let backend: Backend;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: ExecutionResult & { error?: { code: string } } }> {
  const res = await fetch(`${stack.api.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as ExecutionResult & { error?: { code: string } } };
}

async function deploy(flow: Record<string, unknown>): Promise<void> {
  const res = await call('PUT', `/flows/${flow['id'] as string}`, flow);
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
}

const submit = (id: string, connection: string, next: { OnSuccess: string; OnTimeout: string }, mapping = 'result', maxWaitMs = 5000) => ({
  id,
  type: 'HTTPRequest',
  configuration: {
    url: '/jobs',
    method: 'POST',
    authentication: { connection },
    body: { execution: '{{flow_execution_id}}', mode: '{{mode}}', value: '{{value}}', callback_url: '{{callback_url}}' },
    async: { maxWaitMs, callbackMapping: { [mapping]: '$.result' } },
    responseMapping: { [mapping]: '$.result' },
  },
  branches: { ...next, OnError: 'failed' },
});
const afterStep = (next: string) => ({ id: 'after', type: 'HTTPRequest', configuration: { url: '/after', method: 'POST', authentication: { connection: 'jobs' }, body: { result: '{{result}}' } }, next });
const end = (id: string, outcome: string) => ({ id, type: 'End', configuration: { outcome } });

/** The callback URL the backend got for an execution (the n-th one). */
function callbackUrl(executionId: string, n = 0): string {
  const url = backend.callbackUrls.get(executionId)?.[n];
  if (!url) throw new Error(`no callback URL for ${executionId}`);
  return url;
}

async function start(flowId: string, variables: Record<string, unknown>): Promise<ExecutionResult> {
  const res = await call('POST', `/flows/${flowId}/executions`, { variables });
  expect(res.status).toBe(200);
  return res.body;
}

beforeAll(async () => {
  backend = await startBackend();
  stack = await startTestStack({ clock, flowCacheTtlMs: 0 });
  for (const [name, secret] of [
    ['jobs', SECRET],
    ['jobs-unsigned', undefined],
  ] as const) {
    const res = await fetch(`${stack.api.url}/connections/${name}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ baseUrl: backend.url, authentication: { type: 'none' }, ...(secret ? { webhookSigningSecret: secret } : {}) }),
    });
    expect(res.status).toBe(201);
  }
  await deploy({
    id: 'async-job',
    name: 'Async job',
    flowType: 'IVR',
    inputs: ['mode', 'value'],
    outputs: ['result'],
    steps: [submit('submit', 'jobs', { OnSuccess: 'after', OnTimeout: 'fallback' }), afterStep('done'), end('done', 'Done'), end('fallback', 'Fallback'), end('failed', 'Failed')],
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await backend?.close();
});

describe('202 → WAITING → callback → the flow continues', () => {
  it('answers WAITING at once, and the long poll returns the finished execution after the backend calls back (1 s later)', async () => {
    const started = await start('async-job', { mode: 'auto', value: 'alpha' });
    expect(started).toMatchObject({ status: 'WAITING', branch: 'Waiting', pollAfterMs: 1000 });
    expect(Date.parse(started.waitUntil!) - Date.parse(started.startedAt)).toBeGreaterThanOrEqual(5000);
    const url = callbackUrl(started.executionId);
    expect(url.startsWith(`${stack.api.url}/callbacks/`)).toBe(true);
    expect(parseCallbackToken(url.slice(url.lastIndexOf('/') + 1))?.executionId).toBe(started.executionId);

    const polled = Date.now();
    const done = await call('GET', `/executions/${started.executionId}?waitMs=8000`);
    const waited = Date.now() - polled;
    expect(done.body).toMatchObject({ status: 'SUCCEEDED', branch: 'Done', variables: { result: 'alpha' } });
    expect(done.body.trace.map((t) => `${t.stepId}:${t.branch}`)).toEqual(['submit:OnSuccess', 'after:Default', 'done:Done']);
    expect(done.body.trace[0]).toMatchObject({ statusCode: 202, attempts: 1 });
    expect(waited).toBeLessThan(4000);
    expect(backend.deliveries).toEqual([200]);
  });

  it('a callback before the execution suspended (a backend faster than its own 202) is kept (202 accepted), never 404: the execution continues with it at once', async () => {
    const done = await start('async-job', { mode: 'early', value: 'quick' });
    expect(early).toEqual(['202 accepted', '200 duplicate']);
    // The caller never sees WAITING: the stored callback is applied when the execution suspends.
    expect(done).toMatchObject({ status: 'SUCCEEDED', branch: 'Done', variables: { result: 'quick' } });
    expect(done.trace.map((t) => `${t.stepId}:${t.branch}`)).toEqual(['submit:OnSuccess', 'after:Default', 'done:Done']);
    expect(backend.after).toContain('quick');
    expect(backend.after).not.toContain('second-delivery');
    // A later delivery of the same callback is acknowledged and changes nothing.
    expect(await signedPost(callbackUrl(done.executionId), { result: 'late' })).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect((await call('GET', `/executions/${done.executionId}`)).body).toMatchObject({ status: 'SUCCEEDED', variables: { result: 'quick' } });
  });

  it('an early callback is verified like any other: a bad signature is 401 and nothing is kept', async () => {
    const started = await start('async-job', { mode: 'manual', value: 'm' });
    const url = callbackUrl(started.executionId);
    const token = url.slice(url.lastIndexOf('/') + 1);
    // A second registered wait of a running execution, as the step registers it before sending its request.
    const store = new DynamoStateStore({ tableName: stack.config.stateTable, client: (stack as TestStack & { client: DynamoDBClient }).client, now: () => clock.now() });
    const otherToken = `${token.slice(0, token.lastIndexOf('.') + 1)}${'C'.repeat(43)}`;
    const other = parseCallbackToken(otherToken)!;
    await store.registerWait(started.executionId, other.waitId, { until: clock.now() + 60_000, connection: 'jobs' });
    const otherUrl = `${url.slice(0, url.lastIndexOf('/') + 1)}${otherToken}`;
    expect(await signedPost(otherUrl, { result: 'x' }, { secret: OTHER_SECRET })).toMatchObject({ status: 401 });
    expect(await store.getWait(started.executionId, other.waitId)).toMatchObject({ state: 'registered', received: false });
  });

  it('a backend that answers 200 at once: no wait, the flow runs through', async () => {
    const done = await start('async-job', { mode: 'sync', value: 'beta' });
    expect(done).toMatchObject({ status: 'SUCCEEDED', branch: 'Done', variables: { result: 'now-beta' } });
    expect(done.waitUntil).toBeUndefined();
  });

  it('a backend failure routes as without async', async () => {
    const done = await start('async-job', { mode: 'fail', value: 'x' });
    expect(done).toMatchObject({ status: 'SUCCEEDED', branch: 'Failed' });
  });

  it('a poll without waitMs answers at once; waitMs past 10,000 is refused', async () => {
    const started = await start('async-job', { mode: 'manual', value: 'p' });
    const t0 = Date.now();
    expect((await call('GET', `/executions/${started.executionId}`)).body).toMatchObject({ status: 'WAITING' });
    const short = await call('GET', `/executions/${started.executionId}?waitMs=300`);
    expect(short.body).toMatchObject({ status: 'WAITING' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect((await call('GET', `/executions/${started.executionId}?waitMs=10001`)).status).toBe(400);
  });
});

describe('duplicate deliveries', () => {
  it('10 sequential deliveries of one callback (same webhook-id): the first resumes, the others are acknowledged; the step after the wait runs once', async () => {
    const started = await start('async-job', { mode: 'manual', value: 'seq' });
    const url = callbackUrl(started.executionId);
    const before = backend.after.length;
    const answers: Reply[] = [];
    for (let i = 0; i < 10; i++) answers.push(await signedPost(url, { result: 'seq-result' }, { id: 'msg_sequential' }));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(answers.map((a) => a.body.status)).toEqual(['resumed', ...Array<string>(9).fill('duplicate')]);
    expect(answers[0]!.body.executionStatus).toBe('SUCCEEDED');
    expect(backend.after.length - before).toBe(1);
    expect((await call('GET', `/executions/${started.executionId}`)).body).toMatchObject({ status: 'SUCCEEDED', variables: { result: 'seq-result' } });
  });

  it('10 concurrent deliveries (some while the first is still running): one resumes, nine are acknowledged with 200; the step after the wait runs once', async () => {
    for (let round = 0; round < 3; round++) {
      const started = await start('async-job', { mode: 'manual', value: `con-${round}` });
      const url = callbackUrl(started.executionId);
      const before = backend.after.length;
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => signedPost(url, { result: `con-${round}` }, { id: i % 2 ? 'msg_same' : `msg_${i}` })));
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
      expect(answers.filter((a) => a.body.status === 'resumed')).toHaveLength(1);
      expect(answers.filter((a) => a.body.status === 'duplicate')).toHaveLength(9);
      expect(backend.after.length - before).toBe(1);
      const done = await call('GET', `/executions/${started.executionId}?waitMs=3000`);
      expect(done.body).toMatchObject({ status: 'SUCCEEDED', branch: 'Done' });
    }
  });
});

describe('refused callbacks change nothing', () => {
  it('tampered body, wrong secret, old or future timestamp, missing headers → 401; the execution still waits, and the right delivery then resumes it', async () => {
    const started = await start('async-job', { mode: 'manual', value: 'sig' });
    const url = callbackUrl(started.executionId);
    const view = async () => {
      const { body } = await call('GET', `/executions/${started.executionId}`);
      return { status: body.status, trace: body.trace, waitUntil: body.waitUntil };
    };
    const waiting = await view();
    const refused = [
      await signedPost(url, { result: 'evil' }, { tamper: (t) => t.replace('evil', 'EVIL') }),
      await signedPost(url, { result: 'evil' }, { secret: OTHER_SECRET }),
      await signedPost(url, { result: 'evil' }, { at: new Date(Date.now() - 10 * 60_000) }),
      await signedPost(url, { result: 'evil' }, { at: new Date(Date.now() + 10 * 60_000) }),
      await signedPost(url, { result: 'evil' }, { omit: ['webhook-signature'] }),
      await signedPost(url, { result: 'evil' }, { omit: ['webhook-id'] }),
      await signedPost(url, { result: 'evil' }, { omit: ['webhook-timestamp'] }),
      await signedPost(url, { result: 'evil' }, { omit: ['webhook-id', 'webhook-timestamp', 'webhook-signature'] }),
    ];
    for (const r of refused) expect(r).toMatchObject({ status: 401, body: { error: { code: 'INVALID_SIGNATURE' } } });
    expect(refused[2]!.body.error!.message).toMatch(/too old/);
    expect(await view()).toEqual(waiting);
    const ok = await signedPost(url, { result: 'good' });
    expect(ok).toMatchObject({ status: 200, body: { status: 'resumed' } });
    expect((await call('GET', `/executions/${started.executionId}`)).body).toMatchObject({ status: 'SUCCEEDED', variables: { result: 'good' } });
  });

  it('unknown or malformed token → 404; body over 256 KiB → 413; a signed body that is not JSON → 400, the execution still waits', async () => {
    const started = await start('async-job', { mode: 'manual', value: 'bad' });
    const url = callbackUrl(started.executionId);
    const forged = `${url.slice(0, url.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
    expect(await signedPost(forged, { result: 'x' })).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await signedPost(`${stack.api.url}/callbacks/not-a-token`, { result: 'x' })).toMatchObject({ status: 404 });
    expect(await signedPost(url, { result: 'x'.repeat(300 * 1024) })).toMatchObject({ status: 413, body: { error: { code: 'BODY_TOO_LARGE' } } });
    expect(await signedPost(url, undefined, { raw: 'result=not-json' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
    expect(await signedPost(url, undefined, { raw: '' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
    expect(await signedPost(url, undefined, { raw: '{"__proto__": {"polluted": true}}' })).toMatchObject({ status: 400, body: { error: { code: 'UNSAFE_JSON' } } });
    expect((await call('GET', `/executions/${started.executionId}`)).body.status).toBe('WAITING');
  });

  it('a connection without a signing secret takes unsigned callbacks (the token alone authenticates)', async () => {
    await deploy({
      id: 'async-unsigned',
      name: 'Async job, unsigned callbacks',
      flowType: 'IVR',
      inputs: ['mode', 'value'],
      outputs: ['result'],
      steps: [submit('submit', 'jobs-unsigned', { OnSuccess: 'done', OnTimeout: 'fallback' }), end('done', 'Done'), end('fallback', 'Fallback'), end('failed', 'Failed')],
    });
    const started = await start('async-unsigned', { mode: 'manual', value: 'u' });
    const res = await fetch(callbackUrl(started.executionId), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ result: 'unsigned-ok' }) });
    expect(res.status).toBe(200);
    expect((await call('GET', `/executions/${started.executionId}`)).body).toMatchObject({ status: 'SUCCEEDED', variables: { result: 'unsigned-ok' } });
  });
});

describe('the deadline', () => {
  it('a callback after the deadline gets 410 and changes nothing; the next poll takes OnTimeout, once; later callbacks get 410', async () => {
    const started = await start('async-job', { mode: 'manual', value: 'late' });
    const url = callbackUrl(started.executionId);
    offset += 6000;
    const late = await signedPost(url, { result: 'too-late' });
    expect(late).toMatchObject({ status: 410, body: { error: { code: 'CALLBACK_TOO_LATE' } } });
    const polled = await call('GET', `/executions/${started.executionId}`);
    expect(polled.body).toMatchObject({ status: 'SUCCEEDED', branch: 'Fallback', variables: { result: null } });
    expect(polled.body.trace[0]).toMatchObject({ stepId: 'submit', branch: 'OnTimeout', status: 'FAILED', statusCode: 202, error: { type: 'timeout' } });
    expect((await call('GET', `/executions/${started.executionId}`)).body.trace).toEqual(polled.body.trace);
    expect(await signedPost(url, { result: 'too-late' })).toMatchObject({ status: 410 });
  });

  it('the wait-sweeper times out what nobody polls, once; a callback after it gets 410', async () => {
    const ids = [(await start('async-job', { mode: 'manual', value: 's1' })).executionId, (await start('async-job', { mode: 'manual', value: 's2' })).executionId];
    offset += 6000;
    const first = await stack.sweepWaits();
    expect(first.failed).toEqual([]);
    expect(first.timedOut).toBeGreaterThanOrEqual(2);
    for (const id of ids) {
      expect((await call('GET', `/executions/${id}`)).body).toMatchObject({ status: 'SUCCEEDED', branch: 'Fallback' });
      expect(await signedPost(callbackUrl(id), { result: 'late' })).toMatchObject({ status: 410 });
    }
    expect(await stack.sweepWaits()).toMatchObject({ due: 0, timedOut: 0 });
  });

  it('a callback racing the deadline: exactly one of resume or timeout wins, every time (40 iterations); the losing callback gets 410', async () => {
    const outcomes = { resumed: 0, timedOut: 0 };
    for (let i = 0; i < 40; i++) {
      const started = await start('async-job', { mode: 'manual', value: `race-${i}` });
      const url = callbackUrl(started.executionId);
      const until = Date.parse(started.waitUntil!);
      // Land from 400 ms before to 40 ms after the deadline (a request takes tens of ms) while both race.
      offset += until - clock.now() - 400 + (i % 9) * 55;
      const before = backend.after.length;
      const [callback, poll, sweep] = await Promise.all([signedPost(url, { result: `race-${i}` }), call('GET', `/executions/${started.executionId}`), stack.sweepWaits()]);
      const final = (await call('GET', `/executions/${started.executionId}?waitMs=3000`)).body;
      const submitted = final.trace.filter((t) => t.stepId === 'submit');
      expect(submitted).toHaveLength(1);
      if (callback.status === 200) {
        expect(callback.body.status).toBe('resumed');
        expect(final).toMatchObject({ status: 'SUCCEEDED', branch: 'Done', variables: { result: `race-${i}` } });
        expect(backend.after.length - before).toBe(1);
        outcomes.resumed++;
      } else {
        expect(callback).toMatchObject({ status: 410, body: { error: { code: 'CALLBACK_TOO_LATE' } } });
        expect(final).toMatchObject({ status: 'SUCCEEDED', branch: 'Fallback' });
        expect(backend.after.length - before).toBe(0);
        outcomes.timedOut++;
      }
      expect(poll.status).toBe(200);
      expect(sweep.failed).toEqual([]);
    }
    // Both sides won some races (the landing spread is wide enough for either).
    expect(outcomes.resumed).toBeGreaterThan(0);
    expect(outcomes.timedOut).toBeGreaterThan(0);
  }, 60_000);
});

describe('a continuation that dies is never left RUNNING', () => {
  it('the flow is gone when the callback comes: 500, the execution ends FAILED (ENGINE_ERROR), a repeat is acknowledged and runs nothing', async () => {
    await deploy({
      id: 'async-doomed',
      name: 'Deleted while waiting',
      flowType: 'IVR',
      inputs: ['mode', 'value'],
      outputs: ['result'],
      steps: [submit('submit', 'jobs', { OnSuccess: 'done', OnTimeout: 'fallback' }), end('done', 'Done'), end('fallback', 'Fallback'), end('failed', 'Failed')],
    });
    const started = await start('async-doomed', { mode: 'manual', value: 'doomed' });
    expect((await fetch(`${stack.api.url}/flows/async-doomed`, { method: 'DELETE' })).status).toBe(204);
    const url = callbackUrl(started.executionId);
    expect((await signedPost(url, { result: 'r' })).status).toBe(500);
    expect((await call('GET', `/executions/${started.executionId}`)).body).toMatchObject({ status: 'FAILED', branch: 'EngineError', error: { code: 'ENGINE_ERROR' } });
    expect(await signedPost(url, { result: 'r' })).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect(await signedPost(url, { result: 'r' }, { secret: OTHER_SECRET })).toMatchObject({ status: 401 });
  });

  it('a claim whose resumer died is failed by the sweeper once its lease expires; meanwhile another token of the execution gets 409 (retry)', async () => {
    const started = await start('async-job', { mode: 'manual', value: 'dead' });
    const url = callbackUrl(started.executionId);
    const token = url.slice(url.lastIndexOf('/') + 1);
    const store = new DynamoStateStore({ tableName: stack.config.stateTable, client: (stack as TestStack & { client: DynamoDBClient }).client, now: () => clock.now() });
    // A resumer claims the wait and dies before saving.
    expect((await store.claimWait(started.executionId, parseCallbackToken(token)!.waitId, 'payload')).claimed).toBe(true);
    expect((await call('GET', `/executions/${started.executionId}`)).body.status).toBe('RUNNING');
    expect(await signedPost(`${url.slice(0, url.lastIndexOf('.') + 1)}${'B'.repeat(43)}`, { result: 'x' })).toMatchObject({ status: 409, body: { error: { code: 'CALLBACK_NOT_READY' } } });
    expect(await signedPost(url, { result: 'x' })).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect((await stack.sweepWaits()).abandoned).toBe(0);
    offset += CLAIM_LEASE_MS + 1000;
    const swept = await stack.sweepWaits();
    expect(swept.failed).toEqual([]);
    expect(swept.abandoned).toBeGreaterThanOrEqual(1);
    expect((await call('GET', `/executions/${started.executionId}`)).body).toMatchObject({ status: 'FAILED', branch: 'EngineError', error: { code: 'ENGINE_ERROR' } });
    expect(backend.after).not.toContain('x');
  });
});

describe('waits in sequence and in sub-flows; idempotent starts', () => {
  it('two async waits in sequence: each callback resumes its own wait; the first token, used again, is a duplicate', async () => {
    await deploy({
      id: 'async-twice',
      name: 'Two async steps',
      flowType: 'IVR',
      inputs: ['mode', 'value'],
      outputs: ['first', 'second'],
      steps: [
        submit('one', 'jobs', { OnSuccess: 'two', OnTimeout: 'fallback' }, 'first'),
        submit('two', 'jobs', { OnSuccess: 'done', OnTimeout: 'fallback' }, 'second'),
        end('done', 'Done'),
        end('fallback', 'Fallback'),
        end('failed', 'Failed'),
      ],
    });
    const started = await start('async-twice', { mode: 'manual', value: 'v' });
    const one = await signedPost(callbackUrl(started.executionId, 0), { result: 'r1' });
    expect(one).toMatchObject({ status: 200, body: { status: 'resumed', executionStatus: 'WAITING' } });
    expect(callbackUrl(started.executionId, 1)).not.toBe(callbackUrl(started.executionId, 0));
    expect(await signedPost(callbackUrl(started.executionId, 0), { result: 'r1' })).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    const two = await signedPost(callbackUrl(started.executionId, 1), { result: 'r2' });
    expect(two).toMatchObject({ status: 200, body: { status: 'resumed', executionStatus: 'SUCCEEDED' } });
    expect((await call('GET', `/executions/${started.executionId}`)).body).toMatchObject({ status: 'SUCCEEDED', branch: 'Done', variables: { first: 'r1', second: 'r2' } });
    expect(await signedPost(callbackUrl(started.executionId, 0), { result: 'r1' })).toMatchObject({ status: 200, body: { status: 'duplicate' } });
  });

  it('a wait inside a sub-flow: the callback resumes the child, then the parent runs to its end', async () => {
    await deploy({
      id: 'async-child',
      name: 'Async child',
      flowType: 'IVR',
      inputs: ['mode', 'value'],
      outputs: ['result'],
      steps: [submit('submit', 'jobs', { OnSuccess: 'done', OnTimeout: 'fallback' }), end('done', 'ChildDone'), end('fallback', 'ChildFallback'), end('failed', 'Failed')],
    });
    await deploy({
      id: 'async-parent',
      name: 'Async parent',
      flowType: 'IVR',
      inputs: ['mode', 'value'],
      outputs: ['result'],
      steps: [{ id: 'child', type: 'SubFlow', configuration: { flowId: 'async-child', passThroughVariables: ['mode', 'value'], returnVariables: ['result'] }, next: 'done' }, end('done', 'ParentDone')],
    });
    const started = await start('async-parent', { mode: 'manual', value: 'nested' });
    expect(started.status).toBe('WAITING');
    // The child's request carried a callback for the root execution.
    const url = callbackUrl(`${started.executionId}/async-child`);
    expect(parseCallbackToken(url.slice(url.lastIndexOf('/') + 1))?.executionId).toBe(started.executionId);
    expect(await signedPost(url, { result: 'from-child' })).toMatchObject({ status: 200, body: { status: 'resumed', executionStatus: 'SUCCEEDED' } });
    const done = (await call('GET', `/executions/${started.executionId}`)).body;
    expect(done).toMatchObject({ status: 'SUCCEEDED', branch: 'ParentDone', variables: { result: 'from-child' } });
    expect(done.trace[0]!.subFlow).toMatchObject({ flowId: 'async-child', status: 'SUCCEEDED' });
  });

  it('an Idempotency-Key repeat of a run that suspended answers its current state, without a second backend request', async () => {
    const key = `idem-${randomUUID()}`;
    const post = () =>
      fetch(`${stack.api.url}/flows/async-job/executions`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ variables: { mode: 'manual', value: 'idem' } }) }).then(
        async (r) => (await r.json()) as ExecutionResult,
      );
    const first = await post();
    expect(first.status).toBe('WAITING');
    expect(await post()).toMatchObject({ executionId: first.executionId, status: 'WAITING' });
    await signedPost(callbackUrl(first.executionId), { result: 'idem-result' });
    expect(await post()).toMatchObject({ executionId: first.executionId, status: 'SUCCEEDED', variables: { result: 'idem-result' } });
    expect(backend.callbackUrls.get(first.executionId)).toHaveLength(1);
  });
});

describe('the example: balance-hold-ivr against the sample CRM', () => {
  it('202 → hold → signed callback → balance announced; no callback → agent fallback at the deadline; an immediate 200 → no hold', async () => {
    const oauth = await startOAuthServer(DEMO_CLIENT);
    const crm = await startCrmServer({ oauth: { jwksUrl: oauth.jwksUrl, requiredScope: 'crm.read' }, webhookSecret: SECRET, callbackDelayMs: 300 });
    try {
      const [connection] = exampleConnections({ CRM_URL: crm.url, OAUTH_URL: oauth.url, CLIENT_SECRET: DEMO_CLIENT.clientSecret, WEBHOOK_SECRET: SECRET });
      const created = await fetch(`${stack.api.url}/connections/${connection!.name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(connection!.body) });
      expect(created.status).toBe(201);
      await deploy(JSON.parse(readFileSync(new URL('../../examples/flows/balance-hold-ivr.json', import.meta.url), 'utf8')) as Record<string, unknown>);

      const held = await start('balance-hold-ivr', { dtmf_input: '(212) 555-1234' });
      expect(held.status).toBe('WAITING');
      const done = (await call('GET', `/executions/${held.executionId}?waitMs=5000`)).body;
      expect(done).toMatchObject({ status: 'SUCCEEDED', branch: 'BalanceAnnounced', variables: { route: 'play-balance', balance: 1234.56, currency: 'USD' } });
      expect(crm.callbacks.map((c) => c.status)).toEqual([200]);

      const silent = await start('balance-hold-ivr', { dtmf_input: '2125550202' });
      expect(silent.status).toBe('WAITING');
      offset += 121_000;
      expect((await call('GET', `/executions/${silent.executionId}`)).body).toMatchObject({ status: 'SUCCEEDED', branch: 'AgentFallback', variables: { route: 'general-agent-queue' } });

      expect(await start('balance-hold-ivr', { dtmf_input: '2125550200' })).toMatchObject({ status: 'SUCCEEDED', branch: 'BalanceAnnounced', variables: { balance: 0 } });
    } finally {
      await crm.close();
      await oauth.close();
    }
  });
});
