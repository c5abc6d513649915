/**
 * callBackend (shared/http/call-pipeline.ts): authentication → circuit breaker → attempt → classify
 * → retry, with a scripted HttpClient, a fake CallAuth and a breaker over a MemoryCircuitStore.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '#shared/clock';
import { CredentialUnavailableError } from '#shared/connections/token-provider';
import { IvrflowError } from '#shared/errors';
import { callBackend, CircuitBreakerConfig, type CallAuth, type CallOptions, type PreparedRequest } from '#shared/http/call-pipeline';
import type { HttpClient, HttpFailure, HttpRequest, HttpResponse } from '#shared/http/client';
import { CircuitBreaker, type Admission, type CircuitPolicy, type Recorded } from '#shared/resilience/circuit-breaker';
import { MemoryCircuitStore } from '#shared/resilience/memory-circuit-store';
import { RetryPolicy } from '#shared/resilience/retry';
import { circuitsService, httpService, ServiceContainer } from '#shared/services';
import type { StepContext } from '#shared/steps/types';

/** One scripted answer: a status code, or a failure without a response. */
type Answer = number | HttpFailure;

/** An HttpClient answering from a script, recording what it was sent; each send takes `latencyMs` of the fake clock. */
class ScriptedHttp implements HttpClient {
  readonly sent: HttpRequest[] = [];
  private readonly script: Answer[] = [];
  constructor(
    private readonly clock: FakeClock,
    readonly latencyMs = 0,
  ) {}
  answer(...answers: Answer[]): this {
    this.script.push(...answers);
    return this;
  }
  get pending(): number {
    return this.script.length;
  }
  send(request: HttpRequest): Promise<HttpResponse | HttpFailure> {
    this.sent.push(request);
    this.clock.advance(this.latencyMs);
    const next = this.script.shift();
    if (next === undefined) return Promise.reject(new Error(`unexpected send #${this.sent.length}: the script is exhausted`));
    if (typeof next !== 'number') return Promise.resolve(next);
    return Promise.resolve({ kind: 'response', status: next, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ status: next })) });
  }
}

/** A CircuitBreaker counting admissions and records. */
class CountingBreaker extends CircuitBreaker {
  readonly admissions: Admission[] = [];
  readonly records: boolean[] = [];
  override async admit(key: string, options?: { probeLeaseMs?: number }): Promise<Admission> {
    const admission = await super.admit(key, options);
    this.admissions.push(admission);
    return admission;
  }
  override record(key: string, admission: Admission & { allowed: true }, failed: boolean, policy: CircuitPolicy, waitMs?: number): Promise<Recorded> {
    this.records.push(failed);
    return super.record(key, admission, failed, policy, waitMs);
  }
}

/**
 * A fake credential: `headers()` answers `{ authorization: 'Bearer tN' }` (N counts calls) or throws
 * what `fail(N)` returns; `rejected()` answers `renewable`.
 */
class FakeAuth implements CallAuth {
  headerCalls = 0;
  rejectedCalls = 0;
  constructor(private readonly options: { renewable?: boolean; fail?: (call: number) => Error | undefined } = {}) {}
  headers(ctx: StepContext): Promise<Record<string, string>> {
    const n = ++this.headerCalls;
    const error = this.options.fail?.(n);
    if (error) return Promise.reject(error);
    ctx.markSecret(`t${n}`);
    return Promise.resolve({ authorization: `Bearer t${n}` });
  }
  rejected(): boolean {
    this.rejectedCalls++;
    return this.options.renewable ?? true;
  }
}

const CIRCUIT_KEY = 'GET api.crm.example.com/v2/accounts/{}';

function harness(options: { deadlineAt?: number; latencyMs?: number } = {}) {
  const clock = new FakeClock(0);
  const http = new ScriptedHttp(clock, options.latencyMs ?? 0);
  const store = new MemoryCircuitStore();
  const breaker = new CountingBreaker({ store, clock, instanceId: 'x' });
  const secrets = new Set<string>();
  const ctx: StepContext = {
    executionId: 'exec-1',
    rootExecutionId: 'exec-1',
    flowId: 'flow-1',
    variables: {},
    deadlineAt: options.deadlineAt ?? 600_000,
    callDeadlineAt: options.deadlineAt ?? 600_000,
    clock,
    randomness: { id: () => 'id', random: () => 0.5 },
    services: new ServiceContainer().provide(httpService, http).provide(circuitsService, breaker),
    functions: { now: () => clock.now() },
    allowedHosts: undefined,
    secretVariables: undefined,
    markSecret: (value) => void secrets.add(value),
    redact: <T>(value: T): T => (typeof value === 'string' ? ([...secrets].reduce((s, secret) => s.split(secret).join('***'), value as string) as T) : value),
  };
  return { ctx, clock, http, store, breaker, secrets };
}

const request = (overrides: Partial<PreparedRequest> = {}): PreparedRequest => ({
  url: new URL('https://api.crm.example.com/v2/accounts/42'),
  pathShape: '/v2/accounts/{}',
  method: 'GET',
  headers: { accept: 'application/json' },
  ...overrides,
});

const call = (ctx: StepContext, options: Partial<CallOptions> = {}) => callBackend(ctx, { request: request(), timeoutMs: 5000, retryPolicy: RetryPolicy.parse({}), ...options });
const breakerOf = (config: Partial<CircuitBreakerConfig> = {}) => CircuitBreakerConfig.parse(config);
const timeout: HttpFailure = { kind: 'timeout', message: 'no complete response within 5000 ms' };
const refused: HttpFailure = { kind: 'connection', message: 'ECONNREFUSED: connect ECONNREFUSED' };

describe('callBackend: a 401 renews a renewable credential once', () => {
  it('401 then 200: exactly one resend, with the new credential; attempts 2', async () => {
    const { ctx, http, secrets } = harness();
    http.answer(401, 200);
    const auth = new FakeAuth();
    const out = await call(ctx, { auth });
    expect(out.failure).toBeUndefined();
    expect(out.statusCode).toBe(200);
    expect(out.response?.status).toBe(200);
    expect(out.trace).toEqual({ attempts: 2, statusCode: 200, bodySha256: createHash('sha256').update('{"status":200}').digest('hex') });
    expect(http.sent.map((r) => r.headers['authorization'])).toEqual(['Bearer t1', 'Bearer t2']);
    expect(http.sent.every((r) => r.headers['accept'] === 'application/json' && r.method === 'GET' && r.url.href === 'https://api.crm.example.com/v2/accounts/42')).toBe(true);
    expect(auth.headerCalls).toBe(2);
    expect(auth.rejectedCalls).toBe(1);
    expect([...secrets]).toEqual(['t1', 't2']);
  });

  it('the resend is not a retry of the policy: with maxRetries 1, a 503 after the renewal is still retried once', async () => {
    const { ctx, http, clock } = harness();
    http.answer(401, 503, 200);
    const out = await call(ctx, { auth: new FakeAuth(), retryPolicy: RetryPolicy.parse({ maxRetries: 1 }) });
    expect(out.failure).toBeUndefined();
    expect(out.trace.attempts).toBe(3);
    expect(http.sent.map((r) => r.headers['authorization'])).toEqual(['Bearer t1', 'Bearer t2', 'Bearer t3']);
    // The policy's first backoff (retry 0): full jitter 0.5 × min(1000, 100 × 2^0).
    expect(clock.now()).toBe(50);
  });

  it('...and only once: 401, 503, 503 with maxRetries 1 ends http_5xx after 3 sends', async () => {
    const { ctx, http } = harness();
    http.answer(401, 503, 503);
    const out = await call(ctx, { auth: new FakeAuth(), retryPolicy: RetryPolicy.parse({ maxRetries: 1 }) });
    expect(out.failure).toEqual({ type: 'http_5xx', message: 'HTTP 503' });
    expect(out.statusCode).toBe(503);
    expect(out.trace.attempts).toBe(3);
    expect(http.sent).toHaveLength(3);
  });

  it('with maxRetries 0, a 503 after the renewal ends the call (2 sends)', async () => {
    const { ctx, http } = harness();
    http.answer(401, 503);
    const out = await call(ctx, { auth: new FakeAuth() });
    expect(out.failure?.type).toBe('http_5xx');
    expect(http.sent).toHaveLength(2);
  });

  it('a 401 on a policy retry is renewed too', async () => {
    const { ctx, http } = harness();
    http.answer(503, 401, 200);
    const out = await call(ctx, { auth: new FakeAuth(), retryPolicy: RetryPolicy.parse({ maxRetries: 1 }) });
    expect(out.failure).toBeUndefined();
    expect(out.trace.attempts).toBe(3);
  });

  it('401 twice: failure auth, status 401, exactly 2 sends (no loop)', async () => {
    const { ctx, http } = harness();
    http.answer(401, 401, 200);
    const auth = new FakeAuth();
    const out = await call(ctx, { auth, retryPolicy: RetryPolicy.parse({ maxRetries: 5 }) });
    expect(out.failure).toEqual({ type: 'auth', message: 'HTTP 401' });
    expect(out.statusCode).toBe(401);
    expect(out.response?.status).toBe(401);
    expect(out.trace.attempts).toBe(2);
    expect(http.sent).toHaveLength(2);
    expect(auth.rejectedCalls).toBe(1);
  });

  it('one renewal per call: 401, 503, 401 with maxRetries 1 ends auth; rejected() asked once', async () => {
    const { ctx, http } = harness();
    http.answer(401, 503, 401);
    const auth = new FakeAuth();
    const out = await call(ctx, { auth, retryPolicy: RetryPolicy.parse({ maxRetries: 1 }) });
    expect(out.failure?.type).toBe('auth');
    expect(out.statusCode).toBe(401);
    expect(http.sent).toHaveLength(3);
    expect(auth.rejectedCalls).toBe(1);
  });

  it('rejected() false (the credential cannot be renewed): 1 send, failure auth 401', async () => {
    const { ctx, http } = harness();
    http.answer(401);
    const auth = new FakeAuth({ renewable: false });
    const out = await call(ctx, { auth });
    expect(out.failure).toEqual({ type: 'auth', message: 'HTTP 401' });
    expect(out.statusCode).toBe(401);
    expect(out.trace.attempts).toBe(1);
    expect(http.sent).toHaveLength(1);
    expect(auth.rejectedCalls).toBe(1);
  });

  it('a credential without rejected() (basic, apiKey) and no credential at all: 1 send', async () => {
    const basic = harness();
    basic.http.answer(401);
    const out = await call(basic.ctx, { auth: { headers: () => Promise.resolve({ authorization: 'Basic dTpw' }) } });
    expect(out.failure?.type).toBe('auth');
    expect(basic.http.sent).toHaveLength(1);
    const none = harness();
    none.http.answer(401);
    expect((await call(none.ctx)).failure).toEqual({ type: 'auth', message: 'HTTP 401' });
    expect(none.http.sent).toHaveLength(1);
    expect(none.http.sent[0]!.headers['authorization']).toBeUndefined();
  });

  it('a 403 is not renewed: 1 send, rejected() not asked', async () => {
    const { ctx, http } = harness();
    http.answer(403);
    const auth = new FakeAuth();
    const out = await call(ctx, { auth });
    expect(out.failure).toEqual({ type: 'auth', message: 'HTTP 403' });
    expect(http.sent).toHaveLength(1);
    expect(auth.rejectedCalls).toBe(0);
  });
});

describe('callBackend: a credential that cannot be had', () => {
  it('headers() throwing an IvrflowError: failure auth with its message, no send', async () => {
    const { ctx, http } = harness();
    const auth = new FakeAuth({ fail: () => new CredentialUnavailableError("the credentials of connection 'crm' cannot be read") });
    const out = await call(ctx, { auth });
    expect(out).toEqual({ failure: { type: 'auth', message: "the credentials of connection 'crm' cannot be read" }, statusCode: null, trace: { attempts: 0, statusCode: null, bodySha256: null } });
    expect(http.sent).toHaveLength(0);
    const plain = harness();
    const ivrflow = await call(plain.ctx, { auth: new FakeAuth({ fail: () => new IvrflowError('TOKEN_ENDPOINT', 'token endpoint answered 500') }) });
    expect(ivrflow.failure).toEqual({ type: 'auth', message: 'token endpoint answered 500' });
  });

  it('headers() throwing a plain Error (an engine fault): rethrown as is, no send', async () => {
    const { ctx, http } = harness();
    const fault = new TypeError('cannot read properties of undefined');
    await expect(call(ctx, { auth: new FakeAuth({ fail: () => fault }) })).rejects.toBe(fault);
    expect(http.sent).toHaveLength(0);
  });

  it('the renewal after a 401 failing: failure auth, no second send', async () => {
    const { ctx, http } = harness();
    http.answer(401);
    const out = await call(ctx, { auth: new FakeAuth({ fail: (n) => (n === 2 ? new CredentialUnavailableError('token endpoint unreachable') : undefined) }) });
    expect(out.failure).toEqual({ type: 'auth', message: 'token endpoint unreachable' });
    expect(out.trace.attempts).toBe(1);
    expect(http.sent).toHaveLength(1);
  });

  it('the renewal after a 401 on a policy retry failing: failure auth, and the trace counts both sends', async () => {
    // 503 → policy retry → 401 → renewal fails. The pipeline doc: "a failure to get [a credential] ends the call `auth`".
    const { ctx, http } = harness();
    http.answer(503, 401);
    const out = await call(ctx, { auth: new FakeAuth({ fail: (n) => (n === 3 ? new CredentialUnavailableError('token endpoint unreachable') : undefined) }), retryPolicy: RetryPolicy.parse({ maxRetries: 1 }) });
    expect({ sends: http.sent.length, attempts: out.trace.attempts, failure: out.failure?.type, statusCode: out.statusCode }).toEqual({ sends: 2, attempts: 2, failure: 'auth', statusCode: 401 });
  });

  it('a half-open probe answered 401 whose renewal fails still settles the probe (the backend answered)', async () => {
    const { ctx, http, clock, store } = harness();
    const config = breakerOf({ failureThreshold: 1, cooldownMs: 1000 });
    http.answer(503);
    await call(ctx, { breaker: config });
    clock.advance(1000);
    http.answer(401);
    const out = await call(ctx, { auth: new FakeAuth({ fail: (n) => (n === 2 ? new CredentialUnavailableError('token endpoint unreachable') : undefined) }), breaker: config });
    expect(out.failure?.type).toBe('auth');
    // A 401 is a live backend (4xx never counts as a failure): the probe should close the circuit, and the next caller get through.
    http.answer(200);
    const next = await call(ctx, { breaker: config });
    expect({ state: (await store.get(CIRCUIT_KEY))?.state, next: next.failure?.type ?? 'ok' }).toEqual({ state: 'CLOSED', next: 'ok' });
  });
});

describe('callBackend: circuit breaker', () => {
  it('the 401 and its resend are ONE breaker admission and ONE record', async () => {
    const { ctx, http, breaker, store } = harness();
    http.answer(401, 200);
    const out = await call(ctx, { auth: new FakeAuth(), breaker: breakerOf() });
    expect(out.failure).toBeUndefined();
    expect(breaker.admissions).toEqual([{ allowed: true, state: 'CLOSED' }]);
    expect(breaker.records).toEqual([false]);
    expect(out.trace.circuit).toEqual({ key: CIRCUIT_KEY, state: 'CLOSED' });
    expect(await store.get(CIRCUIT_KEY)).toBeUndefined();
  });

  it('a 503 answering the resend is one failure: with threshold 1 it opens the circuit once', async () => {
    const { ctx, http, breaker, store } = harness();
    http.answer(401, 503);
    const out = await call(ctx, { auth: new FakeAuth(), breaker: breakerOf({ failureThreshold: 1 }) });
    expect(out.failure?.type).toBe('http_5xx');
    expect(breaker.admissions).toHaveLength(1);
    expect(breaker.records).toEqual([true]);
    expect(out.trace.circuit).toEqual({ key: CIRCUIT_KEY, state: 'OPEN', transitions: ['CLOSED→OPEN'] });
    expect(await store.get(CIRCUIT_KEY)).toMatchObject({ state: 'OPEN', failures: 1 });
  });

  it('a half-open probe answered 401 resends under the same probe and closes the circuit', async () => {
    const { ctx, http, clock, breaker } = harness();
    const config = breakerOf({ failureThreshold: 1, cooldownMs: 1000 });
    http.answer(503);
    expect((await call(ctx, { breaker: config })).trace.circuit?.state).toBe('OPEN');
    clock.advance(1000);
    http.answer(401, 200);
    const out = await call(ctx, { auth: new FakeAuth(), breaker: config });
    expect(out.failure).toBeUndefined();
    expect(out.trace.circuit).toEqual({ key: CIRCUIT_KEY, state: 'CLOSED', transitions: ['OPEN→HALF_OPEN', 'HALF_OPEN→CLOSED'] });
    expect(breaker.admissions.map((a) => `${a.allowed} ${a.state}`)).toEqual(['true CLOSED', 'true HALF_OPEN']);
    expect(http.sent).toHaveLength(3);
  });

  it('5xx, timeouts and connection errors count toward opening; then the circuit answers circuit_open with no send', async () => {
    const { ctx, http, breaker } = harness();
    const config = breakerOf({ failureThreshold: 3 });
    http.answer(502, timeout, refused);
    const outcomes = [await call(ctx, { breaker: config }), await call(ctx, { breaker: config }), await call(ctx, { breaker: config })];
    expect(outcomes.map((o) => o.failure?.type)).toEqual(['http_5xx', 'timeout', 'connection']);
    expect(outcomes.map((o) => o.trace.circuit?.state)).toEqual(['CLOSED', 'CLOSED', 'OPEN']);
    expect(outcomes[2]!.trace.circuit?.transitions).toEqual(['CLOSED→OPEN']);
    expect(breaker.records).toEqual([true, true, true]);

    const open = await call(ctx, { breaker: config });
    expect(open).toEqual({
      failure: { type: 'circuit_open', message: `circuit '${CIRCUIT_KEY}' is OPEN; no request was sent` },
      statusCode: null,
      trace: { attempts: 0, statusCode: null, bodySha256: null, circuit: { key: CIRCUIT_KEY, state: 'OPEN' } },
    });
    expect(http.sent).toHaveLength(3);
  });

  it('an open circuit answers at once: no credential is asked (no token request on the caller path), nothing is sent', async () => {
    const { ctx, http } = harness();
    const config = breakerOf({ failureThreshold: 1 });
    http.answer(503);
    await call(ctx, { breaker: config });
    const auth = new FakeAuth();
    const out = await call(ctx, { auth, breaker: config });
    expect(out.failure?.type).toBe('circuit_open');
    expect(auth.headerCalls).toBe(0);
    expect(http.sent).toHaveLength(1);
  });

  it('4xx answers, 401s included, never count: the circuit stays closed', async () => {
    const { ctx, http, breaker, store } = harness();
    const config = breakerOf({ failureThreshold: 1 });
    for (const status of [400, 404, 409, 429, 403]) {
      http.answer(status);
      expect((await call(ctx, { breaker: config })).trace.circuit?.state).toBe('CLOSED');
    }
    for (let i = 0; i < 3; i++) {
      http.answer(401, 401);
      const out = await call(ctx, { auth: new FakeAuth(), breaker: config });
      expect(out.failure?.type).toBe('auth');
      expect(out.trace.circuit?.state).toBe('CLOSED');
    }
    expect(breaker.records).toEqual([false, false, false, false, false, false, false, false]);
    expect(await store.get(CIRCUIT_KEY)).toBeUndefined();
  });

  it('a call is one admission and one record, whatever its retries: threshold 3 with 2 retries per call opens after 3 calls (9 sends)', async () => {
    const { ctx, http, breaker } = harness();
    const config = breakerOf({ failureThreshold: 3 });
    const retryPolicy = RetryPolicy.parse({ maxRetries: 2 });
    http.answer(...Array<number>(9).fill(503));
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(await call(ctx, { breaker: config, retryPolicy }));
    expect(outcomes.map((o) => o.trace.attempts)).toEqual([3, 3, 3]);
    expect(outcomes.map((o) => o.trace.circuit?.state)).toEqual(['CLOSED', 'CLOSED', 'OPEN']);
    expect(breaker.admissions).toHaveLength(3);
    expect(breaker.records).toEqual([true, true, true]);
    expect((await call(ctx, { breaker: config, retryPolicy })).failure?.type).toBe('circuit_open');
    expect(http.sent).toHaveLength(9);
  });

  it('a retry that succeeds is one successful call: the failures of its earlier attempts are not counted', async () => {
    const { ctx, http, breaker, store } = harness();
    http.answer(503, 503, 200);
    const out = await call(ctx, { breaker: breakerOf({ failureThreshold: 1 }), retryPolicy: RetryPolicy.parse({ maxRetries: 2 }) });
    expect(out.failure).toBeUndefined();
    expect(breaker.records).toEqual([false]);
    expect(await store.get(CIRCUIT_KEY)).toBeUndefined();
  });

  it('no retry into a circuit another call opened meanwhile: the call ends with the failure already seen', async () => {
    const { ctx, http, breaker, clock } = harness();
    const config = breakerOf({ failureThreshold: 1 });
    http.answer(503);
    // While this call backs off, another call on the same circuit fails and opens it (this instance's cache learns it).
    const sleep = clock.sleep.bind(clock);
    clock.sleep = async (ms: number) => {
      await breaker.record(CIRCUIT_KEY, { allowed: true, state: 'CLOSED' }, true, config);
      return sleep(ms);
    };
    const out = await call(ctx, { breaker: config, retryPolicy: RetryPolicy.parse({ maxRetries: 2 }) });
    expect(out.failure).toEqual({ type: 'http_5xx', message: 'HTTP 503' });
    expect(out.trace.attempts).toBe(1);
    expect(http.sent).toHaveLength(1);
  });

  it('a half-open probe makes one attempt (no retries) under a lease of its timeout + 1 s', async () => {
    const { ctx, http, clock, store } = harness();
    const config = breakerOf({ failureThreshold: 1, cooldownMs: 1000 });
    http.answer(503);
    await call(ctx, { breaker: config });
    clock.advance(1000);
    http.answer(503, 200);
    const leases: number[] = [];
    const claim = store.claimProbe.bind(store);
    store.claimProbe = (key, prober, leaseUntil, now) => {
      leases.push(leaseUntil - now);
      return claim(key, prober, leaseUntil, now);
    };
    const out = await call(ctx, { breaker: config, timeoutMs: 2000, retryPolicy: RetryPolicy.parse({ maxRetries: 3 }) });
    expect(out.failure?.type).toBe('http_5xx');
    expect(out.trace.attempts).toBe(1);
    expect(out.trace.circuit?.transitions).toEqual(['OPEN→HALF_OPEN', 'HALF_OPEN→OPEN']);
    expect(leases).toEqual([3000]);
  });

  it('a probe that sends nothing (no credential) gives the probe back: the next caller probes at once', async () => {
    const { ctx, http, clock, store } = harness();
    const config = breakerOf({ failureThreshold: 1, cooldownMs: 1000 });
    http.answer(503);
    await call(ctx, { breaker: config });
    clock.advance(1000);
    const out = await call(ctx, { breaker: config, auth: new FakeAuth({ fail: () => new CredentialUnavailableError('no secret') }) });
    expect(out.failure?.type).toBe('auth');
    expect(await store.get(CIRCUIT_KEY)).toMatchObject({ state: 'OPEN', retryAt: clock.now() });
    http.answer(200);
    expect((await call(ctx, { breaker: config })).trace.circuit).toMatchObject({ state: 'CLOSED', transitions: ['OPEN→HALF_OPEN', 'HALF_OPEN→CLOSED'] });
  });

  it('without a breaker config, the breaker is never asked', async () => {
    const { ctx, http, breaker } = harness();
    http.answer(503);
    const out = await call(ctx);
    expect(out.trace.circuit).toBeUndefined();
    expect(breaker.admissions).toHaveLength(0);
    expect(breaker.records).toHaveLength(0);
  });
});

describe('callBackend: retries and idempotency', () => {
  const policy = RetryPolicy.parse({ maxRetries: 2 });

  it('a POST without an idempotency-key header is not retried on 503', async () => {
    const { ctx, http } = harness();
    http.answer(503, 200);
    const out = await call(ctx, { request: request({ method: 'POST', body: '{"a":1}' }), retryPolicy: policy });
    expect(out.failure?.type).toBe('http_5xx');
    expect(http.sent).toHaveLength(1);
  });

  it('a POST with an idempotency-key header is retried, with the same key', async () => {
    const { ctx, http } = harness();
    http.answer(503, 200);
    const out = await call(ctx, { request: request({ method: 'POST', body: '{"a":1}', headers: { 'idempotency-key': 'k-1' } }), retryPolicy: policy });
    expect(out.failure).toBeUndefined();
    expect(out.trace.attempts).toBe(2);
    expect(http.sent.map((r) => [r.headers['idempotency-key'], r.body])).toEqual([
      ['k-1', '{"a":1}'],
      ['k-1', '{"a":1}'],
    ]);
  });

  it('PATCH is not retried either; GET, PUT and DELETE are', async () => {
    for (const [method, sends] of [
      ['PATCH', 1],
      ['GET', 2],
      ['PUT', 2],
      ['DELETE', 2],
    ] as const) {
      const { ctx, http } = harness();
      http.answer(503, 200);
      await call(ctx, { request: request({ method }), retryPolicy: policy });
      expect(http.sent.length, method).toBe(sends);
    }
  });

  it('a non-idempotent POST still gets its one resend after a 401 (the backend refused it unprocessed)', async () => {
    const { ctx, http } = harness();
    http.answer(401, 200);
    const out = await call(ctx, { request: request({ method: 'POST', body: '{}' }), auth: new FakeAuth() });
    expect(out.failure).toBeUndefined();
    expect(http.sent).toHaveLength(2);
  });

  it('status codes outside retryOnStatusCodes are not retried; timeouts only with retryOnTimeout', async () => {
    const a = harness();
    a.http.answer(500, 200);
    expect((await call(a.ctx, { retryPolicy: policy })).failure?.type).toBe('http_5xx');
    expect(a.http.sent).toHaveLength(1);
    const b = harness();
    b.http.answer(timeout, 200);
    expect((await call(b.ctx, { retryPolicy: policy })).failure).toBeUndefined();
    const c = harness();
    c.http.answer(timeout, 200);
    expect((await call(c.ctx, { retryPolicy: RetryPolicy.parse({ maxRetries: 2, retryOnTimeout: false }) })).failure?.type).toBe('timeout');
    expect(c.http.sent).toHaveLength(1);
  });
});

describe('callBackend: the call deadline (the run deadline less the finish reserve)', () => {
  it('under 50 ms left: failure deadline at once, no send, no credential asked, no admission', async () => {
    const { ctx, http, breaker } = harness({ deadlineAt: 49 });
    const auth = new FakeAuth();
    const out = await call(ctx, { auth, breaker: breakerOf() });
    expect(out).toEqual({ failure: { type: 'deadline', message: "49 ms were left before the run's finish reserve; no request was sent" }, statusCode: null, trace: { attempts: 0, statusCode: null, bodySha256: null } });
    expect(http.sent).toHaveLength(0);
    expect(auth.headerCalls).toBe(0);
    expect(breaker.admissions).toHaveLength(0);
  });

  it('the first attempt is clipped to the time left', async () => {
    const { ctx, http } = harness({ deadlineAt: 600 });
    http.answer(200);
    await call(ctx, { timeoutMs: 5000 });
    expect(http.sent.map((r) => r.timeoutMs)).toEqual([600]);
  });

  it('a retry starts only when its backoff and its whole timeout fit: 1000 ms attempts by 1500 → 2 sends, not 3', async () => {
    const { ctx, http } = harness({ deadlineAt: 1500, latencyMs: 400 });
    http.answer(503, 503, 200);
    const out = await call(ctx, { timeoutMs: 1000, retryPolicy: RetryPolicy.parse({ maxRetries: 2 }) });
    // t=400 503; backoff 50: 450 + 1000 ≤ 1500, retry with its whole 1000; t=850 503; backoff 100: 950 + 1000 > 1500, no retry.
    expect(http.sent.map((r) => r.timeoutMs)).toEqual([1000, 1000]);
    expect(out.failure?.type).toBe('http_5xx');
    expect(http.pending).toBe(1);
  });

  it('no retry whose backoff would reach the deadline', async () => {
    const { ctx, http } = harness({ deadlineAt: 50 });
    http.answer(503, 200);
    const out = await call(ctx, { retryPolicy: RetryPolicy.parse({ maxRetries: 3 }) });
    expect(out.failure?.type).toBe('http_5xx');
    expect(http.sent).toHaveLength(1);
    expect(http.pending).toBe(1);
  });
});
