import { describe, expect, it } from 'vitest';
import { FakeClock, type Randomness } from '#shared/clock';
import { runFlow, type ExecutorDeps } from '#shared/executor/executor';
import type { Flow } from '#shared/flow/schema';
import type { HttpClient, HttpFailure, HttpRequest, HttpResponse } from '#shared/http/client';
import { parsed } from '../../support/flows';

/** `overrun`: the answer comes after `afterMs` whatever the request's timeout (a client that does not keep its timeout). */
type Answer = { status: number; body?: unknown; afterMs?: number; overrun?: boolean } | { fail: HttpFailure['kind']; afterMs?: number };

/** An HttpClient that answers from a script and advances the fake clock by each answer's delay (capped at the request's timeout). */
class ScriptedHttp implements HttpClient {
  readonly requests: HttpRequest[] = [];
  constructor(
    private readonly clock: FakeClock,
    private readonly answers: Answer[],
  ) {}
  send(request: HttpRequest): Promise<HttpResponse | HttpFailure> {
    this.requests.push(request);
    const a = this.answers[Math.min(this.requests.length - 1, this.answers.length - 1)]!;
    const took = a.afterMs ?? 10;
    if (took >= request.timeoutMs && !('overrun' in a && a.overrun)) {
      this.clock.advance(request.timeoutMs);
      return Promise.resolve({ kind: 'timeout', message: `no response within ${request.timeoutMs} ms` });
    }
    this.clock.advance(took);
    if ('fail' in a) return Promise.resolve({ kind: a.fail, message: a.fail });
    return Promise.resolve({ kind: 'response', status: a.status, headers: {}, body: Buffer.from(a.body === undefined ? '' : JSON.stringify(a.body)) });
  }
}

const fixedRandom: Randomness = { id: () => 'exec-1', random: () => 0.5 };

function deps(answers: Answer[], flows: Flow[] = []): ExecutorDeps & { http: ScriptedHttp; clock: FakeClock } {
  const clock = new FakeClock(1_000_000);
  return { clock, randomness: fixedRandom, http: new ScriptedHttp(clock, answers), resolveFlow: (id) => Promise.resolve(flows.find((f) => f.id === id)) };
}

const URL = 'http://127.0.0.1:9/x';
const end = (id: string, outcome = id, extra: Record<string, unknown> = {}) => ({ id, type: 'End', configuration: { outcome, ...extra } });

describe('executor: branches', () => {
  const routed = (answers: Answer[]) =>
    parsed([
      {
        id: 'call',
        type: 'HTTPRequest',
        configuration: { url: URL, responseMapping: { tier: '$.tier' } },
        branches: { OnSuccess: 'ok', OnClientError: 'client', OnServerError: 'server', OnTimeout: 'slow', OnError: 'other' },
      },
      end('ok'),
      end('client'),
      end('server'),
      end('slow'),
      end('other'),
    ]).then(async (flow) => runFlow(flow, {}, deps(answers)));

  it.each([
    [{ status: 200, body: { tier: 'GOLD' } }, 'ok', 200, null],
    [{ status: 404 }, 'client', 404, 'http_4xx'],
    [{ status: 500 }, 'server', 500, 'http_5xx'],
    [{ status: 200, afterMs: 60000 }, 'slow', null, 'timeout'],
    [{ fail: 'connection' as const }, 'other', null, 'connection'],
    [{ status: 302 }, 'other', 302, 'http_3xx'],
  ])('%j → %s', async (answer, outcome, status, errorType) => {
    const result = await routed([answer]);
    expect(result.branch).toBe(outcome);
    expect(result.variables['http_status_code']).toBe(status);
    expect((result.variables['http_error'] as { type?: string } | null)?.type ?? null).toBe(errorType);
  });

  it('a failure without its own branch takes OnError, then Default (next), else ends FAILED', async () => {
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: URL }, branches: { OnError: 'fallback' } }, end('fallback')]);
    expect((await runFlow(flow, {}, deps([{ status: 503 }]))).trace[0]!.branch).toBe('OnError');
    const viaNext = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: URL }, next: 'fallback' }, end('fallback')]);
    expect((await runFlow(viaNext, {}, deps([{ status: 404 }]))).branch).toBe('fallback');
    const none = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: URL } }]);
    const result = await runFlow(none, {}, deps([{ status: 404 }]));
    expect([result.status, result.branch]).toEqual(['FAILED', 'OnClientError']);
  });

  it('records the trace: branch, status, duration, HTTP code, attempts, body hash', async () => {
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: URL }, next: 'done' }, end('done')]);
    const result = await runFlow(flow, {}, deps([{ status: 200, body: { a: 1 }, afterMs: 25 }]));
    expect(result.trace[0]).toEqual({
      stepId: 'call',
      type: 'HTTPRequest',
      branch: 'Default',
      status: 'SUCCEEDED',
      durationMs: 25,
      nextStepId: 'done',
      statusCode: 200,
      attempts: 1,
      // sha256 of '{"a":1}'
      bodySha256: '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862',
    });
    expect(result).toMatchObject({ executionId: 'exec-1', status: 'SUCCEEDED', branch: 'done' });
  });

  it('Condition routes on the first true expression, used as an error router on http_status_code', async () => {
    const flow = await parsed([
      {
        id: 'router',
        type: 'Condition',
        configuration: {
          conditions: [
            { expression: '{{http_status_code}} >= 500', nextStepId: 'breaker' },
            { expression: '{{http_status_code}} == 401', nextStepId: 'auth' },
            { expression: '{{http_status_code}} == 404', nextStepId: 'correct' },
            { expression: '{{http_status_code}} < 500', nextStepId: 'ok' },
          ],
          defaultStepId: 'timeout',
        },
      },
      end('breaker'),
      end('auth'),
      end('correct'),
      end('ok'),
      end('timeout'),
    ]);
    const routes = await Promise.all([503, 401, 404, 200, null].map((s) => runFlow(flow, { variables: { http_status_code: s } }, deps([]))));
    expect(routes.map((r) => r.branch)).toEqual(['breaker', 'auth', 'correct', 'ok', 'timeout']);
  });

  it('a SubFlow passes and returns variables; a failing one takes OnError without tearing down the parent', async () => {
    const child = await parsed([{ id: 'set', type: 'DataAPI', configuration: { operation: 'assign', variables: { greeting: 'hi {{who}}', secret: 'x' } }, next: 'fail' }, end('fail', 'Broken', { status: 'FAILED' })], { id: 'child' });
    const parent = await parsed([{ id: 'sub', type: 'SubFlow', configuration: { flowId: 'child', passThroughVariables: ['who'], returnVariables: ['greeting'] }, branches: { OnError: 'recover' } }, end('recover', 'Recovered')]);
    const result = await runFlow(parent, { variables: { who: 'Dana', other: 1 } }, deps([], [child]));
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'Recovered' });
    expect(result.variables['greeting']).toBe('hi Dana');
    expect(result.variables).not.toHaveProperty('secret');
    expect(result.trace[0]!.subFlow).toMatchObject({ flowId: 'child', status: 'FAILED' });
  });

  it('a missing sub-flow takes OnError', async () => {
    const parent = await parsed([{ id: 'sub', type: 'SubFlow', configuration: { flowId: 'ghost' }, branches: { OnError: 'recover' } }, end('recover')]);
    const result = await runFlow(parent, {}, deps([]));
    expect(result.branch).toBe('recover');
    expect(result.trace[0]!.error?.message).toMatch(/ghost/);
  });

  it('a self-recursive sub-flow is bounded', async () => {
    const loop = await parsed([{ id: 'sub', type: 'SubFlow', configuration: { flowId: 'test-flow' } }]);
    const result = await runFlow(loop, {}, deps([], [loop]));
    expect(result.status).toBe('FAILED');
  });
});

describe('executor: loops and maxSteps', () => {
  it('a loop runs until its condition changes', async () => {
    const flow = await parsed([
      { id: 'inc', type: 'DataAPI', configuration: { operation: 'evaluate', expression: '(n ?? 0) + 1', outputVariable: 'n' }, next: 'check' },
      { id: 'check', type: 'Condition', configuration: { conditions: [{ expression: 'n < 3', nextStepId: 'inc' }], defaultStepId: 'done' } },
      end('done'),
    ]);
    const result = await runFlow(flow, {}, deps([]));
    expect(result.variables['n']).toBe(3);
    expect(result.trace).toHaveLength(7);
  });

  it('an endless loop stops after maxSteps, FAILED with MAX_STEPS_EXCEEDED', async () => {
    const flow = await parsed([{ id: 'spin', type: 'DataAPI', configuration: { operation: 'assign', variables: {} }, next: 'spin' }], { maxSteps: 25 });
    const result = await runFlow(flow, {}, deps([]));
    expect(result).toMatchObject({ status: 'FAILED', branch: 'MaxStepsExceeded', error: { code: 'MAX_STEPS_EXCEEDED' } });
    expect(result.trace).toHaveLength(25);
  });
});

describe("executor: the deadline is the caller's (finish reserve)", () => {
  /** The guide's most common configuration: a CRM lookup (1500 ms, 2 retries) with a fallback to an agent on OnTimeout/OnError. */
  const lookup = (deadlineMs: number, extra: Record<string, unknown> = {}) =>
    parsed(
      [
        {
          id: 'lookup',
          type: 'HTTPRequest',
          configuration: { url: URL, timeout: 1500, retryPolicy: { maxRetries: 2 } },
          branches: { OnSuccess: 'self-service', OnTimeout: 'agent', OnError: 'agent' },
        },
        end('self-service'),
        { id: 'agent', type: 'DataAPI', configuration: { operation: 'assign', variables: { route: 'agent' } }, next: 'to-agent' },
        end('to-agent', 'Agent'),
      ],
      { deadlineMs, outputs: ['route'], ...extra },
    );

  it('a hanging backend, 1500 ms × 3 attempts, deadline 3000: one attempt (a retry would not fit), then the fallback at 1500 ms', async () => {
    const d = deps([{ status: 200, afterMs: 60_000 }]);
    const result = await runFlow(await lookup(3000), {}, d);
    expect(d.http.requests.map((r) => r.timeoutMs)).toEqual([1500]);
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'Agent', variables: { route: 'agent' }, durationMs: 1500 });
  });

  it('deadline 4800 (call deadline 4500): two attempts (1500 + 50 backoff + 1500), the third would end at 4650; fallback at 3050 ms', async () => {
    const d = deps([{ status: 200, afterMs: 60_000 }]);
    const result = await runFlow(await lookup(4800), {}, d);
    expect(d.http.requests.map((r) => r.timeoutMs)).toEqual([1500, 1500]);
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'Agent', variables: { route: 'agent' }, durationMs: 3050 });
    expect(result.trace[0]).toMatchObject({ attempts: 2, error: { type: 'timeout' } });
  });

  it("the caller's deadlineMs tightens the flow's: 2500 → the first attempt gets 2200 (300 ms reserve) and the fallback runs", async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, branches: { OnTimeout: 'agent' } }, end('agent')]);
    const d = deps([{ status: 200, afterMs: 60_000 }]);
    const result = await runFlow(flow, { deadlineMs: 2500 }, d);
    expect(d.http.requests[0]!.timeoutMs).toBe(2200);
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'agent', durationMs: 2200 });
  });

  it('a short flow keeps a quarter of its deadline: 1000 ms → a 250 ms reserve', async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, branches: { OnTimeout: 'agent' } }, end('agent')], { deadlineMs: 1000 });
    const d = deps([{ status: 200, afterMs: 60_000 }]);
    expect(await runFlow(flow, {}, d)).toMatchObject({ status: 'SUCCEEDED', branch: 'agent', durationMs: 750 });
  });

  it('finishReserveMs sets the reserve: 1000 of 3000 → the first attempt gets 2000', async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, branches: { OnTimeout: 'agent' } }, end('agent')], { deadlineMs: 3000, finishReserveMs: 1000 });
    const d = deps([{ status: 200, afterMs: 60_000 }]);
    expect(await runFlow(flow, {}, d)).toMatchObject({ status: 'SUCCEEDED', branch: 'agent', durationMs: 2000 });
    expect(d.http.requests[0]!.timeoutMs).toBe(2000);
  });

  it('each call is clipped to the call deadline: 5000 ms steps in a 3000 ms run get 2700, then what is left of it', async () => {
    const flow = await parsed(
      [
        { id: 'a', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, next: 'b' },
        { id: 'b', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 } },
      ],
      { deadlineMs: 3000 },
    );
    const d = deps([
      { status: 200, afterMs: 1200 },
      { status: 200, afterMs: 10 },
    ]);
    const result = await runFlow(flow, {}, d);
    expect(d.http.requests.map((r) => r.timeoutMs)).toEqual([2700, 1500]);
    expect(result.status).toBe('SUCCEEDED');
  });

  it('under 50 ms left before the reserve: the step fails at once with http_error.type deadline and takes OnTimeout, no request sent', async () => {
    const flow = await parsed(
      [{ id: 'slow', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, next: 'late' }, { id: 'late', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, branches: { OnTimeout: 'agent' } }, end('agent')],
      { deadlineMs: 1000 },
    );
    // A 1000 ms flow keeps 250 ms; the first call takes 730 of its 750 ms: 20 ms are left.
    const d = deps([{ status: 200, afterMs: 730 }]);
    const result = await runFlow(flow, {}, d);
    expect(d.http.requests).toHaveLength(1);
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'agent' });
    expect(result.trace[1]).toMatchObject({ stepId: 'late', branch: 'OnTimeout', attempts: 0, error: { type: 'deadline' } });
  });

  it('TIMED_OUT when the fallback itself runs out of time: branch "" and error DEADLINE_EXCEEDED, never OnTimeout', async () => {
    const flow = await parsed(
      [{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, branches: { OnTimeout: 'b' } }, { id: 'b', type: 'HTTPRequest', configuration: { url: URL, timeout: 5000 }, branches: { OnSuccess: 'c' } }, end('c')],
      { deadlineMs: 1000, finishReserveMs: 50 },
    );
    // a times out at 950; b gets 0 ms before its reserve → deadline; with no branch the flow ends FAILED, not TIMED_OUT.
    const d = deps([{ status: 200, afterMs: 60_000 }]);
    expect(await runFlow(flow, {}, d)).toMatchObject({ status: 'FAILED', branch: 'OnTimeout' });
    // A step that outlives the deadline with a step left (here a client that overruns its timeout): TIMED_OUT, branch "".
    const overrun = await parsed([{ id: 'slow', type: 'HTTPRequest', configuration: { url: URL, timeout: 100 }, next: 'after' }, end('after')], { deadlineMs: 1000 });
    const timed = await runFlow(overrun, {}, deps([{ status: 200, afterMs: 1200, overrun: true }]));
    expect(timed).toMatchObject({ status: 'TIMED_OUT', branch: '', error: { code: 'DEADLINE_EXCEEDED' } });
  });

  it('backoff never sleeps past the call deadline: no retry starts that could not finish', async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, timeout: 1000, retryPolicy: { maxRetries: 5, backoff: 'fixed', initialDelayMs: 400 } } }], { deadlineMs: 1500 });
    const d = deps([{ status: 503, afterMs: 300 }]);
    const result = await runFlow(flow, {}, d);
    // t=300 503; a retry would run from 700 to 1700, past the call deadline 1200.
    expect(d.http.requests.map((r) => r.timeoutMs)).toEqual([1000]);
    expect(result).toMatchObject({ status: 'FAILED', branch: 'OnServerError', durationMs: 300 });
  });

  it('retries use exponential backoff with full jitter, only on listed codes', async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, retryPolicy: { maxRetries: 3, initialDelayMs: 100, maxDelayMs: 1000 } } }]);
    const d = deps([
      { status: 503, afterMs: 0 },
      { status: 502, afterMs: 0 },
      { status: 504, afterMs: 0 },
      { status: 200, afterMs: 0 },
    ]);
    const result = await runFlow(flow, {}, d);
    expect(result.trace[0]).toMatchObject({ attempts: 4, statusCode: 200 });
    // random() = 0.5: delays 0.5 × 100, 0.5 × 200, 0.5 × 400
    expect(result.durationMs).toBe(50 + 100 + 200);
  });

  it('does not retry a 400 or a 500 that is not listed', async () => {
    for (const status of [400, 500]) {
      const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, retryPolicy: { maxRetries: 3 } } }]);
      const d = deps([{ status }]);
      await runFlow(flow, {}, d);
      expect(d.http.requests).toHaveLength(1);
    }
  });

  it('does not retry a POST unless it sends an Idempotency-Key', async () => {
    const post = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, method: 'POST', body: { a: 1 }, retryPolicy: { maxRetries: 2 } } }]);
    const d1 = deps([{ status: 503 }]);
    await runFlow(post, {}, d1);
    expect(d1.http.requests).toHaveLength(1);
    const keyed = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, method: 'POST', headers: { 'Idempotency-Key': '{{flow_execution_id}}' }, retryPolicy: { maxRetries: 2 } } }]);
    const d2 = deps([{ status: 503 }]);
    await runFlow(keyed, {}, d2);
    expect(d2.http.requests).toHaveLength(3);
    expect(d2.http.requests[0]!.headers['idempotency-key']).toBe('exec-1');
  });
});

describe('executor: variables and bad input', () => {
  it('exposes flow_execution_id to templates and returns only declared outputs', async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: `${URL}?id={{flow_execution_id}}`, responseMapping: { tier: '$.tier' } } }], { outputs: ['tier'] });
    const d = deps([{ status: 200, body: { tier: 'GOLD', secret: 'no' } }]);
    const result = await runFlow(flow, {}, d);
    expect(d.http.requests[0]!.url.searchParams.get('id')).toBe('exec-1');
    expect(result.variables).toEqual({ tier: 'GOLD' });
  });

  it('a body template that cannot render takes OnError before anything is sent', async () => {
    // Deploys (a string key fits there) but a number key does not render to JSON.
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, method: 'POST', body: '{ {{x}}: 1 }' }, branches: { OnError: 'bad' } }, end('bad')]);
    const d = deps([{ status: 200 }]);
    const result = await runFlow(flow, { variables: { x: 1 } }, d);
    expect(d.http.requests).toHaveLength(0);
    expect(result.branch).toBe('bad');
    expect(result.variables['http_error']).toMatchObject({ type: 'invalid_request' });
  });

  it('a non-JSON 2xx body uses defaultResponse', async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, responseMapping: { tier: '$.tier' }, defaultResponse: { tier: 'STANDARD' } } }]);
    const d = deps([{ status: 200, body: undefined }]);
    expect((await runFlow(flow, {}, d)).variables['tier']).toBe('STANDARD');
  });

  it('a `when` that is false skips the step without a request', async () => {
    const flow = await parsed([{ id: 'a', type: 'HTTPRequest', configuration: { url: URL, when: 'phone_valid' }, next: 'b' }, end('b')]);
    const d = deps([{ status: 200 }]);
    const result = await runFlow(flow, { variables: { phone_valid: false } }, d);
    expect(d.http.requests).toHaveLength(0);
    expect(result.trace[0]).toMatchObject({ status: 'SKIPPED', branch: 'Default' });
  });

  it('a computed forbidden key at run time takes OnError instead of crashing', async () => {
    const flow = await parsed([{ id: 'a', type: 'DataAPI', configuration: { operation: 'evaluate', expression: 'obj[k]' }, branches: { OnError: 'bad' } }, end('bad')]);
    const result = await runFlow(flow, { variables: { obj: {}, k: '__proto__' } }, deps([]));
    expect(result.branch).toBe('bad');
  });

  it('variables named like prototype members are plain data', async () => {
    const flow = await parsed([{ id: 'a', type: 'DataAPI', configuration: { operation: 'evaluate', expression: 'toString', outputVariable: 'out' } }]);
    const result = await runFlow(flow, { variables: JSON.parse('{"__proto__": {"polluted": true}, "toString": "x"}') as Record<string, unknown> }, deps([]));
    expect(result.variables['out']).toBe('x');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('DataAPI validate sets a boolean flag and the errors', async () => {
    const flow = await parsed([{ id: 'v', type: 'DataAPI', configuration: { operation: 'validate', input: 'phone', schema: { type: 'string', pattern: '^\\+[1-9]\\d{1,14}$' }, outputVariable: 'ok' } }]);
    expect((await runFlow(flow, { variables: { phone: '+12125551234' } }, deps([]))).variables['ok']).toBe(true);
    const bad = await runFlow(flow, { variables: { phone: '555' } }, deps([]));
    expect(bad.variables['ok']).toBe(false);
    expect(bad.variables['validation_errors']).toEqual([{ path: '/', message: expect.stringContaining('pattern') as unknown }]);
  });
});
