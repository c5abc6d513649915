import { createServer } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeClock, systemRandomness } from '#shared/clock';
import { runFlow } from '#shared/executor/executor';
import { renderUrl } from '#shared/expressions/template';
import type { Flow } from '#shared/flow/schema';
import { NodeHttpClient } from '#shared/http/client';
import { ensureTables, LOCAL_AWS } from '#shared/local/dynamodb-local';
import { logger, reportCircuitEvent } from '#shared/observability';
import { CircuitBreaker, type CircuitEvent } from '#shared/resilience/circuit-breaker';
import { DynamoCircuitStore } from '#shared/stores/dynamodb/circuit-store';
import { defaultCircuitKey } from '#shared/steps/http-request';
import { api, countingClient, startTestStack, uniqueTables } from '../support/local';
import { parsed } from '../support/flows';
import { startScriptedServer, type ScriptedAnswer, type ScriptedServer } from '../support/scripted-server';

const http = new NodeHttpClient({ allowPrivateNetworks: true });
let store: DynamoCircuitStore;
let backend: ScriptedServer;
/** What the backend answers next; each test sets it. */
let answer: (path: string) => ScriptedAnswer = () => ({ status: 200, body: {} });

beforeAll(async () => {
  const { client } = countingClient();
  const tables = uniqueTables();
  await ensureTables(client, tables);
  store = new DynamoCircuitStore({ tableName: tables.stateTable, client });
  backend = await startScriptedServer((req) => answer(req.url));
});
afterAll(async () => {
  http.close();
  await backend.close();
});

const hits = (path: string) => backend.requests.filter((r) => r.url.startsWith(path)).length;

function flowFor(path: string, breaker: Record<string, unknown> = {}): Promise<Flow> {
  const end = (id: string) => ({ id, type: 'End', configuration: { outcome: id } });
  return parsed([
    {
      id: 'call',
      type: 'HTTPRequest',
      configuration: { url: `${backend.url}${path}`, circuitBreaker: { failureThreshold: 3, cooldownMs: 30000, ...breaker } },
      branches: { OnSuccess: 'ok', OnClientError: 'client', OnServerError: 'server', OnCircuitOpen: 'fallback', OnError: 'error' },
    },
    end('ok'),
    end('client'),
    end('server'),
    end('fallback'),
    end('error'),
  ]);
}

/** One "Lambda": its own breaker (own cache) over the shared DynamoDB store. */
function lambda(clock: FakeClock, options: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  const circuits = new CircuitBreaker({ store, clock, instanceId: systemRandomness.id(), ...options });
  return (flow: Flow) => runFlow(flow, {}, { clock, randomness: systemRandomness, http, resolveFlow: () => Promise.resolve(undefined), circuits });
}

describe('shared circuit breaker on DynamoDB Local', () => {
  it('3 consecutive 503s open the circuit; the 4th execution takes OnCircuitOpen without a request', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const run = lambda(clock);
    const flow = await flowFor('/open');
    answer = () => ({ status: 503 });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await run(flow));
    expect(results.map((r) => r.branch)).toEqual(['server', 'server', 'server']);
    expect(results[2]!.trace[0]!.circuit).toMatchObject({ state: 'OPEN', transitions: ['CLOSED→OPEN'] });
    const fourth = await run(flow);
    expect(fourth.branch).toBe('fallback');
    expect(fourth.variables['http_error']).toMatchObject({ type: 'circuit_open' });
    expect(fourth.trace[0]).toMatchObject({ attempts: 0, statusCode: null, circuit: { state: 'OPEN' } });
    expect(hits('/open')).toBe(3);
    // Another Lambda (cold cache) sees the shared state too.
    expect((await lambda(clock)(flow)).branch).toBe('fallback');
    expect(hits('/open')).toBe(3);
    expect(await store.get(`GET ${new URL(backend.url).host}/open`)).toMatchObject({ state: 'OPEN', failures: 3 });
  });

  it('404 and 400 responses, however many, never open it', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const run = lambda(clock);
    const flow = await flowFor('/client-errors');
    let n = 0;
    answer = () => ({ status: n++ % 2 ? 404 : 400 });
    for (let i = 0; i < 10; i++) expect((await run(flow)).branch).toBe('client');
    expect(hits('/client-errors')).toBe(10);
    expect(await store.get(`GET ${new URL(backend.url).host}/client-errors`)).toBeUndefined();
  });

  async function openCircuit(path: string, clock: FakeClock) {
    answer = () => ({ status: 503 });
    const flow = await flowFor(path);
    const run = lambda(clock);
    for (let i = 0; i < 3; i++) await run(flow);
    expect((await run(flow)).branch).toBe('fallback');
    return flow;
  }

  it.each([
    ['success closes it', 200, 'CLOSED', 'ok'],
    ['failure reopens it', 503, 'OPEN', 'server'],
  ])('20 concurrent executions after the cooldown: exactly 1 probe; %s', async (_label, probeStatus, finalState, probeBranch) => {
    const path = `/probe-${probeStatus}`;
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const flow = await openCircuit(path, clock);
    const before = hits(path);
    clock.advance(30_001);
    // The probe takes 200 ms, so the other 19 arrive while it is in flight; 4 "Lambdas" with their own caches.
    answer = () => ({ status: probeStatus, body: {}, delayMs: 200 });
    const lambdas = Array.from({ length: 4 }, () => lambda(clock));
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => lambdas[i % 4]!(flow)));
    expect(hits(path) - before).toBe(1);
    const branches = results.map((r) => r.branch).sort();
    expect(branches.filter((b) => b === probeBranch)).toHaveLength(1);
    expect(branches.filter((b) => b === 'fallback')).toHaveLength(19);
    const probe = results.find((r) => r.branch === probeBranch)!;
    expect(probe.trace[0]!.circuit!.transitions).toEqual(['OPEN→HALF_OPEN', `HALF_OPEN→${finalState}`]);
    const key = `GET ${new URL(backend.url).host}${path}`;
    const record = await store.get(key);
    expect(record?.state).toBe(finalState);
    if (finalState === 'OPEN') {
      expect(record?.retryAt).toBe(clock.now() + 30000);
      expect((await lambda(clock)(flow)).branch).toBe('fallback');
    } else {
      expect(record?.failures).toBe(0);
      expect((await lambda(clock)(flow)).branch).toBe('ok');
    }
  });

  it('a prober that dies does not leave the circuit stuck half-open (its lease expires)', async () => {
    const path = '/dead-prober';
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const flow = await openCircuit(path, clock);
    const key = `GET ${new URL(backend.url).host}${path}`;
    clock.advance(30_001);
    // A Lambda claims the probe and is never heard from again.
    expect(await store.claimProbe(key, 'dead-lambda', clock.now() + 10_000, clock.now())).toBe(true);
    answer = () => ({ status: 200, body: {} });
    const before = hits(path);
    expect((await lambda(clock)(flow)).branch).toBe('fallback');
    expect(hits(path)).toBe(before);
    clock.advance(10_001);
    const rescued = await lambda(clock)(flow);
    expect(rescued.branch).toBe('ok');
    expect(hits(path)).toBe(before + 1);
    expect(await store.get(key)).toMatchObject({ state: 'CLOSED', failures: 0 });
    // The dead prober's late answer changes nothing.
    expect(await store.settleProbe(key, 'dead-lambda', { success: false, retryAt: clock.now() + 1 }, clock.now())).toBe(false);
  });

  it('two keys are independent, and a success in between resets the consecutive count', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const run = lambda(clock);
    const a = await flowFor('/a', { key: 'crm-a' });
    const b = await flowFor('/b', { key: 'crm-b' });
    answer = (path) => ({ status: path.startsWith('/a') ? 503 : 200, body: {} });
    for (let i = 0; i < 3; i++) await run(a);
    expect((await run(a)).branch).toBe('fallback');
    expect((await run(b)).branch).toBe('ok');

    const c = await flowFor('/c', { key: 'crm-c' });
    const sequence = [503, 503, 200, 503, 503];
    let i = 0;
    answer = () => ({ status: sequence[i++] ?? 200, body: {} });
    const branches = [];
    for (let k = 0; k < sequence.length; k++) branches.push((await run(c)).branch);
    expect(branches).toEqual(['server', 'server', 'ok', 'server', 'server']);
    expect(await store.get('crm-c')).toMatchObject({ state: 'CLOSED', failures: 2 });
  });

  it('timeouts and connection errors count as failures', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const run = lambda(clock);
    answer = () => ({ hang: true });
    const slow = await flowFor('/hang', { key: 'slow' });
    const slowFlow = { ...slow, steps: slow.steps.map((s) => (s.type === 'HTTPRequest' ? { ...s, configuration: { ...s.configuration, timeout: 50 } } : s)) };
    for (let i = 0; i < 3; i++) expect((await run(slowFlow)).trace[0]!.error?.type).toBe('timeout');
    expect((await run(slowFlow)).branch).toBe('fallback');
  });

  it('State table unreachable: calls go through and a warning is logged; fail-closed refuses them', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const unreachable = new DynamoCircuitStore({ tableName: 'nowhere', client: new DynamoDBClient({ ...LOCAL_AWS, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }) });
    const clock = new FakeClock(Date.UTC(2026, 10, 21));
    const events: CircuitEvent[] = [];
    const warn = vi.spyOn(logger, 'warn');
    const onEvent = (e: CircuitEvent) => {
      events.push(e);
      reportCircuitEvent(e);
    };
    answer = () => ({ status: 200, body: {} });
    const flow = await flowFor('/degraded');
    const failOpen = new CircuitBreaker({ store: unreachable, clock, instanceId: 'x', onEvent });
    const result = await runFlow(flow, {}, { clock, randomness: systemRandomness, http, resolveFlow: () => Promise.resolve(undefined), circuits: failOpen });
    expect(result.branch).toBe('ok');
    expect(hits('/degraded')).toBe(1);
    expect(events[0]).toMatchObject({ type: 'store_unavailable', failOpen: true });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('failing open'), expect.objectContaining({ circuitKey: expect.stringContaining('/degraded') as unknown }));

    const failClosed = new CircuitBreaker({ store: unreachable, clock, instanceId: 'y', failOpen: false, onEvent });
    const refused = await runFlow(flow, {}, { clock, randomness: systemRandomness, http, resolveFlow: () => Promise.resolve(undefined), circuits: failClosed });
    expect(refused.branch).toBe('fallback');
    expect(hits('/degraded')).toBe(1);
    warn.mockRestore();
  });

  it('the default key is method + host actually requested + path shape (values as {})', () => {
    const key = (method: string, template: string, scope: Record<string, unknown>) => {
      const { url, pathShape } = renderUrl(template, scope);
      return defaultCircuitKey(method, url, pathShape);
    };
    const template = '{{crm_base_url}}/v2/accounts/{{id}}?phone={{p}}';
    expect(key('GET', template, { crm_base_url: 'http://crm.example.com:8080', id: '42', p: '1' })).toBe('GET crm.example.com:8080/v2/accounts/{}');
    expect(key('POST', 'https://api.example.com/v1/tickets', {})).toBe('POST api.example.com/v1/tickets');
    // No value can move a call onto another path's circuit: not a '#', a '?' or a base URL with a path of its own.
    for (const id of ['42#', '42?x=1', 'x/../tickets']) expect(key('GET', template, { crm_base_url: 'http://crm.example.com:8080', id, p: '1' })).toBe('GET crm.example.com:8080/v2/accounts/{}');
    expect(key('GET', template, { crm_base_url: 'http://crm.example.com:8080/v1/tickets#', id: '42', p: '1' })).toBe('GET crm.example.com:8080{}');
    expect(key('GET', template, { crm_base_url: 'http://crm.example.com:8080/v1/tickets?', id: '42', p: '1' })).not.toBe(key('GET', template, { crm_base_url: 'http://crm.example.com:8080', id: '42', p: '1' }));
  });
});

describe('circuits through the flow-api', () => {
  it('lists, reads and resets circuits', async () => {
    const stack = await startTestStack();
    const srv = await startScriptedServer([{ status: 503 }]);
    try {
      const base = stack.api.url;
      const flow = {
        id: 'breaker',
        name: 'Breaker',
        steps: [
          { id: 'call', type: 'HTTPRequest', configuration: { url: `${srv.url}/x`, circuitBreaker: { key: 'crm', failureThreshold: 2 } }, branches: { OnCircuitOpen: 'open' } },
          { id: 'open', type: 'End', configuration: { outcome: 'Fallback' } },
        ],
      };
      expect((await api(base, 'PUT', '/flows/breaker', flow)).status).toBe(201);
      for (let i = 0; i < 2; i++) await api(base, 'POST', '/flows/breaker/executions', {});
      expect((await api(base, 'POST', '/flows/breaker/executions', {})).body.branch).toBe('Fallback');
      expect((await api(base, 'GET', '/circuits')).body.items).toEqual([expect.objectContaining({ key: 'crm', state: 'OPEN', failures: 2 })]);
      expect((await api(base, 'GET', '/circuits/crm')).body).toMatchObject({ key: 'crm', state: 'OPEN' });
      expect((await api(base, 'GET', '/circuits/none')).status).toBe(404);
      expect((await api(base, 'DELETE', '/circuits/crm')).status).toBe(204);
      expect((await api(base, 'GET', '/circuits/crm')).status).toBe(404);
      expect(srv.requests).toHaveLength(2);
      // The flow-executor is another instance (another function, as in Lambda): it sees the reset once its cached state expires.
      await new Promise((r) => setTimeout(r, stack.config.circuitCacheTtlMs + 100));
      await api(base, 'POST', '/flows/breaker/executions', {});
      expect(srv.requests).toHaveLength(3);
    } finally {
      await srv.close();
      await stack.close();
    }
  });
});
