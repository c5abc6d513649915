/**
 * The failure taxonomy end to end: each way a call fails, from a real loopback server (or a real
 * refused port, an unresolvable name, a disallowed host), gives one type, its `retryable` and its
 * branch — the same in the trace, `http_error` and IntegrationHubExecute's `requestErrorDetails`.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, systemRandomness } from '#shared/clock';
import { runFlowWithVariables } from '#shared/executor/executor';
import { FAILURES } from '#shared/flow/failures';
import { parseFlow } from '#shared/flow/validate';
import { NodeHttpClient } from '#shared/http/client';
import { startScriptedServer, type ScriptedAnswer, type ScriptedServer } from '../support/scripted-server';

let server: ScriptedServer;
let refusedUrl: string;
const http = new NodeHttpClient({ allowPrivateNetworks: true });
/** When each request reached the server, by path. */
const arrivals = new Map<string, number[]>();

beforeAll(async () => {
  server = await startScriptedServer((req): ScriptedAnswer => {
    const path = req.url.split('?')[0]!;
    arrivals.set(path, [...(arrivals.get(path) ?? []), Date.now()]);
    const n = arrivals.get(path)!.length;
    switch (path) {
      case '/503':
        return { status: 503, body: { error: 'down' } };
      case '/404':
        return { status: 404, body: { error: 'no such account' } };
      case '/401':
        return { status: 401 };
      case '/302':
        return { status: 302, headers: { location: '/elsewhere' } };
      case '/429-then-ok':
        return n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200, body: { tier: 'GOLD' } };
      case '/429-long':
        return { status: 429, headers: { 'retry-after': '120' } };
      case '/hang':
        return { hang: true };
      case '/not-json-deep':
        return { status: 200, text: `${'['.repeat(100)}${']'.repeat(100)}` };
      default:
        return { status: 200, body: { tier: 'GOLD' } };
    }
  });
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  refusedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/x`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
afterAll(async () => {
  http.close();
  await server.close();
});

const BRANCHES = { OnSuccess: 'ok', OnClientError: 'client', OnServerError: 'server', OnTimeout: 'timeout', OnCircuitOpen: 'open', OnError: 'error' };
const ends = Object.values(BRANCHES).map((id) => ({ id, type: 'End', configuration: { outcome: id } }));

/** Runs one HTTPRequest step against `url`; the step's branch, trace error, http_error and the requests it made. */
async function call(url: string, configuration: Record<string, unknown> = {}, flow: Record<string, unknown> = {}, variables: Record<string, unknown> = {}) {
  const parsed = await parseFlow(
    { id: 'f', name: 'f', deadlineMs: 8000, ...flow, steps: [{ id: 'call', type: 'HTTPRequest', configuration: { url, timeout: 800, ...configuration }, branches: BRANCHES }, ...ends] },
    { allowPrivateHosts: true },
  );
  const { result, variables: after } = await runFlowWithVariables(parsed, { variables }, { clock: systemClock, randomness: systemRandomness, http, resolveFlow: () => Promise.resolve(undefined) });
  return { outcome: result.branch, error: result.trace[0]!.error, httpError: after['http_error'] as Record<string, unknown> | null, variables: after };
}

describe('the failure taxonomy, from real answers', () => {
  it.each([
    ['/503', 'http_5xx', true, 'server', 503],
    ['/404', 'http_4xx', false, 'client', 404],
    ['/401', 'auth', false, 'client', 401],
    ['/302', 'http_3xx', false, 'error', 302],
    ['/429-long', 'throttled', true, 'client', 429],
    ['/hang', 'timeout', true, 'timeout', null],
  ] as const)('%s → %s (retryable %s), branch %s', async (path, type, retryable, outcome, statusCode) => {
    const r = await call(`${server.url}${path}`);
    expect(r.outcome).toBe(outcome);
    expect(r.error).toMatchObject({ type, retryable, statusCode });
    // One taxonomy: the trace and http_error say the same.
    expect(r.httpError).toEqual(r.error);
    expect(FAILURES[type].retryable).toBe(retryable);
  });

  it('a refused port → connection (retryable), OnError', async () => {
    const r = await call(refusedUrl);
    expect(r).toMatchObject({ outcome: 'error', error: { type: 'connection', retryable: true, statusCode: null } });
  });

  it('a name that does not resolve (RFC 6761 .invalid) → dns (retryable), OnError', async () => {
    const r = await call('http://crm.ivrflow-test.invalid/x');
    expect(r).toMatchObject({ outcome: 'error', error: { type: 'dns', retryable: true } });
  });

  it('a host outside allowedHosts → invalid_request (not retryable), OnError; nothing is sent', async () => {
    const before = arrivals.get('/elsewhere-host')?.length ?? 0;
    // The host comes from a value, so it is checked on the run (a literal one is refused at validation).
    const r = await call('{{base}}/elsewhere-host', {}, { allowedHosts: ['crm.example.com'] }, { base: server.url });
    expect(r).toMatchObject({ outcome: 'error', error: { type: 'invalid_request', retryable: false } });
    expect(arrivals.get('/elsewhere-host')?.length ?? 0).toBe(before);
  });

  it('a body nested deeper than 64 levels → invalid_response; a mapping that fails at run time → mapping', async () => {
    expect(await call(`${server.url}/not-json-deep`)).toMatchObject({ outcome: 'error', error: { type: 'invalid_response', retryable: false } });
    const mapping = await call(`${server.url}/ok`, { responseMapping: { tier: "$['__' + 'proto__']" } });
    expect(mapping).toMatchObject({ outcome: 'error', error: { type: 'mapping', retryable: false } });
  });

  it('429 with Retry-After: the retry waits what the server asked (1 s), then succeeds', async () => {
    const r = await call(`${server.url}/429-then-ok`, { retryPolicy: { maxRetries: 2, retryOnStatusCodes: [429], initialDelayMs: 10 }, responseMapping: { tier: '$.tier' } });
    expect(r).toMatchObject({ outcome: 'ok', variables: { tier: 'GOLD', http_error: null } });
    const [first, second] = arrivals.get('/429-then-ok')!;
    expect(second! - first!).toBeGreaterThanOrEqual(950);
  });

  it('429 asking for longer than the deadline leaves: no retry, throttled at once', async () => {
    const before = arrivals.get('/429-long')?.length ?? 0;
    const started = Date.now();
    const r = await call(`${server.url}/429-long`, { retryPolicy: { maxRetries: 2, retryOnStatusCodes: [429] } });
    expect(r).toMatchObject({ outcome: 'client', error: { type: 'throttled', retryable: true, statusCode: 429 } });
    expect(arrivals.get('/429-long')!.length - before).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
