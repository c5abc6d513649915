/**
 * Async HTTPRequest steps, driven through the executor (startExecution / advance / resume) with a
 * scripted HttpClient: a 202 Accepted suspends the execution (WAITING) on a wait whose id is the
 * SHA-256 of the callback token sent to the backend; the callback's payload resumes the step
 * (OnSuccess, callbackMapping else responseMapping), no callback in time takes OnTimeout; any
 * other answer is handled at once, as without `async`.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { callbackEndpointService, parseCallbackToken, waitIdOf } from '#shared/callbacks/callback-token';
import { FakeClock, type Randomness } from '#shared/clock';
import { connectionsService } from '#shared/connections/auth';
import type { Connection } from '#shared/connections/connection';
import { ConfigError } from '#shared/errors';
import { advance, NotWaitingError, resume, resultOf, startExecution, type ExecutorDeps } from '#shared/executor/executor';
import { parseSnapshot, POLL_AFTER_MS, type ExecutionSnapshot } from '#shared/executor/snapshot';
import type { Flow } from '#shared/flow/schema';
import type { HttpClient, HttpFailure, HttpRequest, HttpResponse } from '#shared/http/client';
import { ServiceContainer } from '#shared/services';
import { parsed } from '../../support/flows';

const T0 = 1_700_000_000_000;
const BASE_URL = 'https://ivr.example.com';
const LATENCY_MS = 25;

/** One scripted answer: a status and a JSON body (or raw text), or a failure without a response. */
type Answer = { status: number; body?: unknown; text?: string } | HttpFailure;

/** An HttpClient answering from a script and recording what it was sent; each send takes LATENCY_MS of the fake clock. */
class ScriptedHttp implements HttpClient {
  readonly sent: HttpRequest[] = [];
  private readonly script: Answer[] = [];
  constructor(private readonly clock: FakeClock) {}
  answer(...answers: Answer[]): this {
    this.script.push(...answers);
    return this;
  }
  send(request: HttpRequest): Promise<HttpResponse | HttpFailure> {
    this.sent.push(request);
    this.clock.advance(LATENCY_MS);
    const next = this.script.shift();
    if (next === undefined) return Promise.reject(new Error(`unexpected request #${this.sent.length} to ${request.url.href}: the script is exhausted`));
    if ('kind' in next) return Promise.resolve(next);
    const text = next.text ?? (next.body === undefined ? '' : JSON.stringify(next.body));
    return Promise.resolve({ kind: 'response', status: next.status, headers: { 'content-type': 'application/json' }, body: Buffer.from(text) });
  }
}

function counterRandomness(): Randomness {
  let n = 0;
  return { id: () => `id-${++n}`, random: () => 0.5 };
}

type Deps = ExecutorDeps & { clock: FakeClock; http: ScriptedHttp; services: ServiceContainer };

function depsFor(flows: Flow[], options: { baseUrl?: string | undefined; connections?: Connection[] } = { baseUrl: BASE_URL }): Deps {
  const clock = new FakeClock(T0);
  const services = new ServiceContainer().provide(callbackEndpointService, { baseUrl: options.baseUrl });
  const known = options.connections ?? [];
  services.provide(connectionsService, { get: (name) => Promise.resolve(known.find((c) => c.name === name)) });
  return { clock, randomness: counterRandomness(), http: new ScriptedHttp(clock), services, resolveFlow: (id) => Promise.resolve(flows.find((f) => f.id === id)) };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
/** The callback token in a URL `<base>/callbacks/<token>` found in `text`. */
function tokenIn(text: string): string {
  const match = /https:\/\/ivr\.example\.com\/callbacks\/([A-Za-z0-9_.-]+)/.exec(text);
  if (!match) throw new Error(`no callback URL in ${text}`);
  return match[1]!;
}
/** A JSON round trip through the snapshot schema, as a store would do between the suspend and the callback. */
const stored = (snapshot: ExecutionSnapshot) => parseSnapshot(JSON.parse(JSON.stringify(snapshot)));

const MAX_WAIT_MS = 30_000;

/** An async hold request: the callback URL in the query, a header and the body. */
function holdStep(configuration: Record<string, unknown> = {}, branches: Record<string, string> = { OnSuccess: 'ok', OnTimeout: 'late', OnServerError: 'down', OnClientError: 'down', OnError: 'down' }) {
  return {
    id: 'hold',
    type: 'HTTPRequest',
    configuration: {
      url: 'https://api.bank.example.com/v1/holds?account={{account}}&notify={{callback_url}}',
      method: 'POST',
      headers: { 'X-Callback-Url': '{{callback_url}}' },
      body: { account: '{{account}}', callback: { url: '{{callback_url}}' } },
      async: { maxWaitMs: MAX_WAIT_MS, callbackMapping: { balance: '$.balance', approved: "$.status == 'OK'" } },
      responseMapping: { ticket: '$.id' },
      ...configuration,
    },
    branches,
  };
}

const ENDS = [
  { id: 'ok', type: 'End', configuration: { outcome: 'Approved' } },
  { id: 'late', type: 'End', configuration: { outcome: 'Late', status: 'FAILED' } },
  { id: 'down', type: 'End', configuration: { outcome: 'Down', status: 'FAILED' } },
];
const OUTPUTS = ['balance', 'approved', 'ticket', 'http_status_code', 'http_error'];

async function holdFlow(configuration: Record<string, unknown> = {}): Promise<Flow> {
  return parsed([holdStep(configuration), ...ENDS], { id: 'hold-flow', inputs: ['account'], outputs: OUTPUTS });
}

/** Starts and advances an execution of `flow` with the backend answering `answers`. */
async function run(flow: Flow, deps: Deps, ...answers: Answer[]): Promise<ExecutionSnapshot> {
  deps.http.answer(...answers);
  return advance(startExecution(flow, { variables: { account: 'ACC-7' }, executionId: 'exec-1' }, deps), deps, { flows: [flow] });
}

beforeEach(() => {
  // The default callback endpoint reads IVRFLOW_PUBLIC_URL: tests never depend on the environment.
  vi.stubEnv('IVRFLOW_PUBLIC_URL', '');
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('async HTTPRequest: a 202 Accepted suspends the execution', () => {
  it('WAITING on a wait that times out maxWaitMs after the answer, resumed by a callback without connection', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps, { status: 202, body: { id: 'T-1' } });
    expect(snapshot.status).toBe('WAITING');
    expect(snapshot.result).toBeUndefined();
    expect(deps.http.sent).toHaveLength(1);
    const answeredAt = T0 + LATENCY_MS;
    expect(deps.clock.now()).toBe(answeredAt);
    expect(snapshot.wait).toMatchObject({ until: answeredAt + MAX_WAIT_MS, onTimeout: 'OnTimeout', callback: {} });
    expect(snapshot.wait!.callback).toEqual({});
    expect(snapshot.wait!.state).toMatchObject({ statusCode: 202, attempts: 1 });
    expect(snapshot.frames[0]).toMatchObject({ stepId: 'hold', pending: { kind: 'wait', startedAt: T0 } });
    expect(snapshot.frames[0]!.trace).toEqual([]);
    // Nothing was set yet: the 202 body is not mapped.
    expect(snapshot.frames[0]!.setByFlow).toEqual([]);
  });

  it('the request carried the callback URL (query, header and body); its token names the execution and its SHA-256 is the wait id', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps, { status: 202 });
    const request = deps.http.sent[0]!;
    expect(request.method).toBe('POST');
    const body = JSON.parse(request.body!) as { account: string; callback: { url: string } };
    expect(body.account).toBe('ACC-7');
    const url = body.callback.url;
    expect(url).toMatch(/^https:\/\/ivr\.example\.com\/callbacks\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const token = tokenIn(url);
    expect(request.headers['x-callback-url']).toBe(url);
    expect(request.url.searchParams.get('notify')).toBe(url);
    expect(request.url.searchParams.get('account')).toBe('ACC-7');
    expect(request.url.hostname).toBe('api.bank.example.com');
    expect(parseCallbackToken(token)).toEqual({ executionId: 'exec-1', waitId: snapshot.wait!.waitId });
    expect(snapshot.wait!.waitId).toBe(sha256(token));
    expect(waitIdOf(token)).toBe(snapshot.wait!.waitId);
    // Only the hash is stored: the token itself is nowhere in the snapshot.
    expect(JSON.stringify(snapshot)).not.toContain(token.split('.')[1]!);
  });

  it('a string body template gets the callback URL JSON-escaped', async () => {
    const flow = await holdFlow({ body: '{"cb": "{{callback_url}}", "n": 1}' });
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps, { status: 202 });
    const body = JSON.parse(deps.http.sent[0]!.body!) as { cb: string; n: number };
    expect(parseCallbackToken(tokenIn(body.cb))?.waitId).toBe(snapshot.wait!.waitId);
    expect(body.n).toBe(1);
  });

  it('resultOf a WAITING snapshot: status WAITING, waitUntil (ISO) and pollAfterMs (at most POLL_AFTER_MS, less near the end, 0 after it)', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps, { status: 202 });
    const until = snapshot.wait!.until;
    const now = deps.clock.now();
    const result = resultOf(snapshot, now);
    expect(result).toMatchObject({ executionId: 'exec-1', flowId: 'hold-flow', status: 'WAITING', branch: 'Waiting', variables: {}, trace: [], waitUntil: new Date(until).toISOString(), pollAfterMs: POLL_AFTER_MS });
    expect(result.durationMs).toBe(now - T0);
    expect(POLL_AFTER_MS).toBe(1000);
    expect(resultOf(snapshot, until - 300).pollAfterMs).toBe(300);
    expect(resultOf(snapshot, until).pollAfterMs).toBe(0);
    expect(resultOf(snapshot, until + 5000).pollAfterMs).toBe(0);
  });

  it('maxWaitMs defaults to 120000', async () => {
    const flow = await holdFlow({ async: {} });
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps, { status: 202 });
    expect(snapshot.wait!.until).toBe(T0 + LATENCY_MS + 120_000);
  });

  it('a 202 after a retried 503 suspends too; the trace counts both attempts', async () => {
    const flow = await holdFlow({ method: 'PUT', retryPolicy: { maxRetries: 2, backoff: 'fixed', initialDelayMs: 100 } });
    const deps = depsFor([flow]);
    let snapshot = await run(flow, deps, { status: 503 }, { status: 202, body: { id: 'T-2' } });
    expect(snapshot.status).toBe('WAITING');
    expect(deps.http.sent).toHaveLength(2);
    // The same callback URL is sent on every attempt of one step run.
    expect(tokenIn(deps.http.sent[0]!.body!)).toBe(tokenIn(deps.http.sent[1]!.body!));
    snapshot = await resume(snapshot, { waitId: snapshot.wait!.waitId, payload: { balance: 5, status: 'OK' } }, deps);
    expect(snapshot.result!.trace[0]).toMatchObject({ stepId: 'hold', branch: 'OnSuccess', statusCode: 202, attempts: 2 });
  });
});

describe('async HTTPRequest: the callback resumes the step', () => {
  it('OnSuccess with the payload mapped by callbackMapping; http_status_code stays 202; settled by payload', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const accepted = JSON.stringify({ id: 'T-1' });
    const waiting = stored(await run(flow, deps, { status: 202, text: accepted }));
    const waitId = waiting.wait!.waitId;
    deps.clock.advance(4_000);
    const done = await resume(waiting, { waitId, payload: { balance: 120.5, status: 'OK' } }, deps, { flows: [flow] });
    expect(done.status).toBe('SUCCEEDED');
    expect(done.wait).toBeUndefined();
    expect(done.result).toMatchObject({ status: 'SUCCEEDED', branch: 'Approved' });
    // callbackMapping replaces responseMapping: the 202 body's id is not mapped.
    expect(done.result!.variables).toEqual({ balance: 120.5, approved: true, ticket: null, http_status_code: 202, http_error: null });
    const entry = done.result!.trace[0]!;
    expect(entry).toMatchObject({ stepId: 'hold', type: 'HTTPRequest', branch: 'OnSuccess', status: 'SUCCEEDED', nextStepId: 'ok', statusCode: 202, attempts: 1, bodySha256: sha256(accepted) });
    expect(entry.error).toBeUndefined();
    // The step's duration spans the call and the wait.
    expect(entry.durationMs).toBe(LATENCY_MS + 4_000);
    expect(done.settled).toEqual({ [waitId]: { by: 'payload' } });
    expect(done.result!.trace.map((t) => t.stepId)).toEqual(['hold', 'ok']);
  });

  it('responseMapping maps the callback payload when there is no callbackMapping', async () => {
    const flow = await holdFlow({ async: { maxWaitMs: MAX_WAIT_MS }, responseMapping: { balance: '$.balance', ticket: '$.id' } });
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202, body: { id: 'T-accepted' } });
    const done = await resume(waiting, { waitId: waiting.wait!.waitId, payload: { balance: 99, id: 'T-final' } }, deps);
    expect(done.result!.variables).toMatchObject({ balance: 99, ticket: 'T-final', http_status_code: 202, http_error: null });
  });

  it('a payload without the mapped fields sets them to null; an empty payload uses defaultResponse', async () => {
    const flow = await holdFlow({ defaultResponse: { balance: 0, status: 'UNKNOWN' } });
    const deps = depsFor([flow]);
    const first = await run(flow, deps, { status: 202 });
    const partial = await resume(first, { waitId: first.wait!.waitId, payload: { other: 1 } }, deps);
    expect(partial.result!.variables).toMatchObject({ balance: null, approved: false });

    const deps2 = depsFor([flow]);
    const second = await run(flow, deps2, { status: 202 });
    const empty = await resume(second, { waitId: second.wait!.waitId, payload: undefined }, deps2);
    expect(empty.result!.variables).toMatchObject({ balance: 0, approved: false });
  });

  it('later steps read the mapped variables', async () => {
    const flow = await parsed(
      [holdStep({}, { OnSuccess: 'say', OnTimeout: 'late' }), { id: 'say', type: 'DataAPI', configuration: { operation: 'assign', variables: { message: 'Balance {{balance}} ({{http_status_code}})' } }, next: 'ok' }, ...ENDS],
      { id: 'hold-flow', inputs: ['account'], outputs: ['message'] },
    );
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202 });
    const done = await resume(waiting, { waitId: waiting.wait!.waitId, payload: { balance: 42 } }, deps);
    expect(done.result).toMatchObject({ status: 'SUCCEEDED', branch: 'Approved', variables: { message: 'Balance 42 (202)' } });
  });

  it('no callback in time: OnTimeout, http_error.type timeout, settled by timeout', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const waiting = stored(await run(flow, deps, { status: 202, body: { id: 'T-1' } }));
    const waitId = waiting.wait!.waitId;
    deps.clock.advance(MAX_WAIT_MS);
    const done = await resume(waiting, { waitId, timedOut: true }, deps, { flows: [flow] });
    expect(done.result).toMatchObject({ status: 'FAILED', branch: 'Late' });
    const httpError = done.result!.variables['http_error'] as { type: string; message: string; statusCode: number };
    expect(httpError).toMatchObject({ type: 'timeout', statusCode: 202 });
    expect(httpError.message).toContain(`${MAX_WAIT_MS} ms`);
    expect(done.result!.variables['http_status_code']).toBe(202);
    expect(done.result!.trace[0]).toMatchObject({ stepId: 'hold', branch: 'OnTimeout', status: 'FAILED', nextStepId: 'late', statusCode: 202, attempts: 1, error: { type: 'timeout' } });
    expect(done.result!.trace[0]!.durationMs).toBe(LATENCY_MS + MAX_WAIT_MS);
    expect(done.settled).toEqual({ [waitId]: { by: 'timeout' } });
    expect(done.wait).toBeUndefined();
  });

  it('on timeout, responseMapping still maps defaultResponse when there is no callbackMapping', async () => {
    const flow = await holdFlow({ async: { maxWaitMs: MAX_WAIT_MS }, responseMapping: { balance: '$.balance' }, defaultResponse: { balance: 0 } });
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202, body: { balance: 500 } });
    const done = await resume(waiting, { waitId: waiting.wait!.waitId, timedOut: true }, deps);
    expect(done.result!.variables).toMatchObject({ balance: 0, http_status_code: 202, http_error: { type: 'timeout' } });
  });

  it('on timeout, defaultResponse is mapped like a callback body (callbackMapping), as on a resume with an empty payload', async () => {
    const flow = await holdFlow({ defaultResponse: { balance: 0, status: 'UNKNOWN', id: 'none' } });
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202 });
    const waitId = waiting.wait!.waitId;
    const done = await resume(waiting, { waitId, timedOut: true }, deps);
    expect(done.frames[0]!.setByFlow).toEqual(expect.arrayContaining(['balance', 'approved']));
    expect(done.result!.variables).toMatchObject({ balance: 0, approved: false, ticket: null });
  });

  it('a timeout without an OnTimeout branch falls back to OnError', async () => {
    const flow = await parsed([holdStep({}, { OnSuccess: 'ok', OnError: 'down' }), ...ENDS], { id: 'hold-flow', inputs: ['account'], outputs: OUTPUTS });
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202 });
    const done = await resume(waiting, { waitId: waiting.wait!.waitId, timedOut: true }, deps);
    expect(done.result).toMatchObject({ status: 'FAILED', branch: 'Down' });
    expect(done.result!.trace[0]).toMatchObject({ branch: 'OnError', error: { type: 'timeout' } });
  });

  it('the wait does not use up the flow deadline: the flow goes on after a long wait', async () => {
    const flow = await parsed([holdStep({}, { OnSuccess: 'after' }), { id: 'after', type: 'DataAPI', configuration: { operation: 'assign', variables: { done: true } }, next: 'ok' }, ...ENDS], {
      id: 'hold-flow',
      inputs: ['account'],
      outputs: ['done'],
      deadlineMs: 2000,
    });
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202 });
    deps.clock.advance(MAX_WAIT_MS - 1);
    const done = await resume(waiting, { waitId: waiting.wait!.waitId, payload: {} }, deps);
    expect(done.result).toMatchObject({ status: 'SUCCEEDED', branch: 'Approved', variables: { done: true } });
  });

  it('resume with a wrong wait id throws NotWaitingError, and leaves the snapshot waiting', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202 });
    const before = JSON.stringify(waiting);
    await expect(resume(waiting, { waitId: 'f'.repeat(64), payload: {} }, deps)).rejects.toBeInstanceOf(NotWaitingError);
    await expect(resume(waiting, { waitId: waiting.wait!.waitId.toUpperCase(), timedOut: true }, deps)).rejects.toBeInstanceOf(NotWaitingError);
    expect(JSON.stringify(waiting)).toBe(before);
    // The right one still resumes it.
    const done = await resume(waiting, { waitId: waiting.wait!.waitId, payload: { balance: 1 } }, deps);
    expect(done.status).toBe('SUCCEEDED');
  });

  it('a second delivery for a settled wait throws NotWaitingError (the step ran once)', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const waiting = await run(flow, deps, { status: 202 });
    const waitId = waiting.wait!.waitId;
    const done = await resume(waiting, { waitId, payload: { balance: 1 } }, deps);
    await expect(resume(done, { waitId, payload: { balance: 2 } }, deps)).rejects.toThrow(NotWaitingError);
    await expect(resume(done, { waitId, timedOut: true }, deps)).rejects.toThrow(/not waiting/);
    expect(done.result!.variables['balance']).toBe(1);
    expect(deps.http.sent).toHaveLength(1);
  });
});

describe('async HTTPRequest: any other answer is handled at once', () => {
  it('a 200 proceeds without a wait, mapped by responseMapping', async () => {
    const flow = await holdFlow({ responseMapping: { ticket: '$.id', balance: '$.balance' } });
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps, { status: 200, body: { id: 'T-9', balance: 10 } });
    expect(snapshot.status).toBe('SUCCEEDED');
    expect(snapshot.wait).toBeUndefined();
    expect(snapshot.settled).toBeUndefined();
    expect(snapshot.result).toMatchObject({ branch: 'Approved', variables: { ticket: 'T-9', balance: 10, http_status_code: 200, http_error: null } });
    // The callback mapping is for callbacks only: `approved` is not set.
    expect(snapshot.result!.variables['approved']).toBeNull();
    expect(snapshot.result!.trace[0]).toMatchObject({ stepId: 'hold', branch: 'OnSuccess', statusCode: 200, attempts: 1 });
    expect(resultOf(snapshot, deps.clock.now()).waitUntil).toBeUndefined();
  });

  it('a 500 routes OnServerError with no wait', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps, { status: 500, body: { error: 'boom' } });
    expect(snapshot.status).toBe('FAILED');
    expect(snapshot.wait).toBeUndefined();
    expect(snapshot.result).toMatchObject({ branch: 'Down', variables: { http_status_code: 500, http_error: { type: 'http_5xx', statusCode: 500 } } });
    expect(snapshot.result!.trace[0]).toMatchObject({ stepId: 'hold', branch: 'OnServerError', status: 'FAILED', statusCode: 500 });
    expect(deps.http.sent).toHaveLength(1);
  });

  it('a 4xx routes OnClientError and a network timeout OnTimeout, with no wait', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow]);
    const client = await run(flow, deps, { status: 409 });
    expect(client.wait).toBeUndefined();
    expect(client.result!.trace[0]).toMatchObject({ branch: 'OnClientError', statusCode: 409 });
    const deps2 = depsFor([flow]);
    const timeout = await run(flow, deps2, { kind: 'timeout', message: 'no answer' });
    expect(timeout.wait).toBeUndefined();
    expect(timeout.result).toMatchObject({ branch: 'Late', variables: { http_status_code: null, http_error: { type: 'timeout' } } });
  });

  it('other 2xx answers (201, 204) are not a suspension either', async () => {
    for (const status of [201, 204]) {
      const flow = await holdFlow();
      const deps = depsFor([flow]);
      const snapshot = await run(flow, deps, { status });
      expect(snapshot.status, String(status)).toBe('SUCCEEDED');
      expect(snapshot.result!.variables['http_status_code']).toBe(status);
    }
  });

  it('a step without async that gets a 202 is a plain OnSuccess (mapped, no wait)', async () => {
    const flow = await parsed(
      [
        {
          id: 'hold',
          type: 'HTTPRequest',
          configuration: { url: 'https://api.bank.example.com/v1/holds', method: 'POST', body: { account: '{{account}}' }, responseMapping: { ticket: '$.id' } },
          branches: { OnSuccess: 'ok', OnTimeout: 'late' },
        },
        ...ENDS,
      ],
      { id: 'hold-flow', inputs: ['account'], outputs: ['ticket', 'http_status_code', 'http_error'] },
    );
    // No callback endpoint at all: a synchronous step never needs one.
    const deps = depsFor([flow], { baseUrl: undefined });
    const snapshot = await run(flow, deps, { status: 202, body: { id: 'T-1' } });
    expect(snapshot.status).toBe('SUCCEEDED');
    expect(snapshot.wait).toBeUndefined();
    expect(snapshot.result).toMatchObject({ branch: 'Approved', variables: { ticket: 'T-1', http_status_code: 202, http_error: null } });
    expect(snapshot.result!.trace[0]).toMatchObject({ branch: 'OnSuccess', statusCode: 202 });
  });

  it('a step skipped by `when` sends nothing and does not wait', async () => {
    const flow = await holdFlow({ when: "account == 'nobody'" });
    const deps = depsFor([flow]);
    const snapshot = await run(flow, deps);
    expect(deps.http.sent).toHaveLength(0);
    expect(snapshot.wait).toBeUndefined();
    expect(snapshot.result!.trace[0]).toMatchObject({ stepId: 'hold', status: 'SKIPPED' });
  });
});

describe('async HTTPRequest: configuration of the callback endpoint', () => {
  it('without a callback base URL, an async step is an engine configuration error (ConfigError), not a routed failure', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow], { baseUrl: undefined });
    await expect(run(flow, deps, { status: 202 })).rejects.toThrow(ConfigError);
    expect(deps.http.sent).toHaveLength(0);
  });

  it('the base URL may have a path and trailing slashes', async () => {
    const flow = await holdFlow();
    const deps = depsFor([flow], { baseUrl: 'https://api.example.com/prod//' });
    const snapshot = await run(flow, deps, { status: 202 });
    const url = (JSON.parse(deps.http.sent[0]!.body!) as { callback: { url: string } }).callback.url;
    expect(url.startsWith('https://api.example.com/prod/callbacks/')).toBe(true);
    expect(waitIdOf(url.slice('https://api.example.com/prod/callbacks/'.length))).toBe(snapshot.wait!.waitId);
  });
});

describe('async HTTPRequest on a connection, with a URL that is a path', () => {
  const CRM: Connection = { name: 'crm', baseUrl: 'https://api.crm.example.com/api/', timeoutMs: 5000, authentication: { type: 'none' }, secretsSet: [], updatedAt: '2024-01-01T00:00:00.000Z' };

  it("the path is joined to the connection's baseUrl; the wait is a callback of the connection, and settled with it", async () => {
    const flow = await parsed([holdStep({ url: '/v1/holds/{{account}}?cb={{callback_url}}', authentication: { connection: 'crm' }, headers: {}, body: { cb: '{{callback_url}}' } }), ...ENDS], {
      id: 'hold-flow',
      inputs: ['account'],
      outputs: OUTPUTS,
    });
    const deps = depsFor([flow], { baseUrl: BASE_URL, connections: [CRM] });
    const waiting = await run(flow, deps, { status: 202 });
    const request = deps.http.sent[0]!;
    expect(request.url.origin + request.url.pathname).toBe('https://api.crm.example.com/api/v1/holds/ACC-7');
    expect(request.url.searchParams.get('cb')).toBe((JSON.parse(request.body!) as { cb: string }).cb);
    expect(waiting.wait!.callback).toEqual({ connection: 'crm' });
    const waitId = waiting.wait!.waitId;
    const done = await resume(waiting, { waitId, payload: { balance: 3 } }, deps);
    expect(done.settled).toEqual({ [waitId]: { by: 'payload', connection: 'crm' } });
    expect(done.result).toMatchObject({ status: 'SUCCEEDED', variables: { balance: 3 } });
  });

  it('a path on a connection that does not exist fails invalid_request (OnError) before sending', async () => {
    const flow = await parsed([holdStep({ url: '/v1/holds', authentication: { connection: 'erp' } }), ...ENDS], { id: 'hold-flow', inputs: ['account'], outputs: OUTPUTS });
    const deps = depsFor([flow], { baseUrl: BASE_URL, connections: [CRM] });
    const snapshot = await run(flow, deps);
    expect(deps.http.sent).toHaveLength(0);
    expect(snapshot.wait).toBeUndefined();
    expect(snapshot.result).toMatchObject({ branch: 'Down', variables: { http_error: { type: 'invalid_request' } } });
  });
});

describe('async HTTPRequest inside a SubFlow', () => {
  async function flows(): Promise<{ root: Flow; child: Flow }> {
    const child = await parsed(
      [
        holdStep({}, { OnSuccess: 'child-ok', OnTimeout: 'child-late' }),
        { id: 'child-ok', type: 'End', configuration: { outcome: 'ChildOk', outputs: { said: 'balance is {{balance}}' } } },
        { id: 'child-late', type: 'End', configuration: { outcome: 'ChildLate', status: 'FAILED' } },
      ],
      { id: 'child', inputs: ['account'], outputs: ['balance', 'said'] },
    );
    const root = await parsed(
      [
        { id: 'call', type: 'SubFlow', configuration: { flowId: 'child', passThroughVariables: ['account'], returnVariables: ['balance', 'said'] }, branches: { OnSuccess: 'ok', OnError: 'down' } },
        { id: 'ok', type: 'End', configuration: { outcome: 'Approved', outputs: { final: '{{said}}' } } },
        { id: 'down', type: 'End', configuration: { outcome: 'Down', status: 'FAILED' } },
      ],
      { id: 'root', inputs: ['account'], outputs: ['balance', 'final'] },
    );
    return { root, child };
  }

  it('the callback URL names the ROOT execution; resuming the root snapshot finishes the sub-flow, then the parent', async () => {
    const { root, child } = await flows();
    const deps = depsFor([root, child]);
    deps.http.answer({ status: 202 });
    const waiting = await advance(startExecution(root, { variables: { account: 'ACC-7' }, executionId: 'root-exec' }, deps), deps, { flows: [root] });
    expect(waiting.status).toBe('WAITING');
    expect(waiting.frames.map((f) => [f.flowId, f.executionId, f.stepId, f.pending?.kind])).toEqual([
      ['root', 'root-exec', 'call', 'call'],
      ['child', 'root-exec/child', 'hold', 'wait'],
    ]);
    const token = tokenIn(deps.http.sent[0]!.body!);
    const parsedToken = parseCallbackToken(token);
    expect(parsedToken?.executionId).toBe('root-exec');
    expect(parsedToken?.waitId).toBe(waiting.wait!.waitId);
    expect(resultOf(waiting, deps.clock.now())).toMatchObject({ executionId: 'root-exec', flowId: 'root', status: 'WAITING', waitUntil: new Date(waiting.wait!.until).toISOString() });

    deps.clock.advance(10_000);
    const done = await resume(stored(waiting), { waitId: parsedToken!.waitId, payload: { balance: 77 } }, deps);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.frames).toHaveLength(1);
    expect(done.result).toMatchObject({ executionId: 'root-exec', status: 'SUCCEEDED', branch: 'Approved', variables: { balance: 77, final: 'balance is 77' } });
    const call = done.result!.trace[0]!;
    expect(call).toMatchObject({ stepId: 'call', branch: 'OnSuccess', subFlow: { flowId: 'child', status: 'SUCCEEDED' } });
    expect(call.subFlow!.trace).toMatchObject([
      { stepId: 'hold', branch: 'OnSuccess', statusCode: 202, attempts: 1 },
      { stepId: 'child-ok', branch: 'ChildOk' },
    ]);
    expect(call.subFlow!.trace[0]!.durationMs).toBe(LATENCY_MS + 10_000);
    expect(done.settled).toEqual({ [parsedToken!.waitId]: { by: 'payload' } });
  });

  it('a timeout in the sub-flow takes its OnTimeout there; the parent routes the failed sub-flow', async () => {
    const { root, child } = await flows();
    const deps = depsFor([root, child]);
    deps.http.answer({ status: 202 });
    const waiting = await advance(startExecution(root, { variables: { account: 'ACC-7' }, executionId: 'root-exec' }, deps), deps, { flows: [root] });
    const waitId = waiting.wait!.waitId;
    const done = await resume(waiting, { waitId, timedOut: true }, deps);
    expect(done.result).toMatchObject({ status: 'FAILED', branch: 'Down' });
    expect(done.result!.trace[0]!.subFlow).toMatchObject({ status: 'FAILED', trace: [{ stepId: 'hold', branch: 'OnTimeout', error: { type: 'timeout' } }, { stepId: 'child-late' }] });
    expect(done.settled).toEqual({ [waitId]: { by: 'timeout' } });
  });
});
