import { createServer } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock, systemRandomness } from '#shared/clock';
import { runFlow } from '#shared/executor/executor';
import { NodeHttpClient } from '#shared/http/client';
import { parsed } from '../support/flows';
import { startScriptedServer, type ScriptedAnswer, type ScriptedServer } from '../support/scripted-server';

const http = new NodeHttpClient({ allowPrivateNetworks: true });
const deps = { clock: systemClock, randomness: systemRandomness, http, resolveFlow: () => Promise.resolve(undefined) };
let server: ScriptedServer | undefined;
afterEach(async () => server?.close());
afterAll(() => http.close());

async function call(answers: ScriptedAnswer[], configuration: Record<string, unknown>, flowExtra: Record<string, unknown> = {}) {
  server = await startScriptedServer(answers);
  const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: `${server.url}/v1/thing`, ...configuration } }], flowExtra);
  return runFlow(flow, {}, deps);
}

describe('HTTPRequest against real loopback servers', () => {
  it('retries a 503 and then succeeds', async () => {
    const result = await call([{ status: 503 }, { status: 503 }, { status: 200, body: { id: 'A1' } }], { retryPolicy: { maxRetries: 2, initialDelayMs: 10 }, responseMapping: { id: '$.id' } });
    expect(server!.requests).toHaveLength(3);
    expect(result).toMatchObject({ status: 'SUCCEEDED', variables: { id: 'A1', http_status_code: 200 } });
    expect(result.trace[0]).toMatchObject({ attempts: 3, statusCode: 200, branch: 'OnSuccess' });
  });

  it('does not retry a 400', async () => {
    const result = await call([{ status: 400, body: { error: 'bad' } }], { retryPolicy: { maxRetries: 2, retryOnStatusCodes: [400, 503] }, method: 'POST', body: {} });
    expect(server!.requests).toHaveLength(1);
    expect(result.variables['http_error']).toMatchObject({ type: 'http_4xx', statusCode: 400 });
  });

  it('does not retry a POST on 503', async () => {
    const result = await call([{ status: 503 }, { status: 200 }], { method: 'POST', body: { a: 1 }, retryPolicy: { maxRetries: 2, initialDelayMs: 10 } });
    expect(server!.requests).toHaveLength(1);
    expect(result.branch).toBe('OnServerError');
  });

  it('times out on a hanging server within the budget, keeping the finish reserve (150 ms of a 600 ms run)', async () => {
    const started = Date.now();
    const result = await call([{ hang: true }], { timeout: 5000, retryPolicy: { maxRetries: 3, initialDelayMs: 10 } }, { deadlineMs: 600 });
    const elapsed = Date.now() - started;
    // One attempt of 450 ms; a retry of its whole 5000 ms would not fit: the step takes OnTimeout (no route here: FAILED).
    expect(result).toMatchObject({ status: 'FAILED', branch: 'OnTimeout' });
    expect(result.variables['http_error']).toMatchObject({ type: 'timeout' });
    expect(server!.requests).toHaveLength(1);
    expect(elapsed).toBeLessThan(600); // within the budget; never the 5 s step timeout
  });

  it('a refused connection takes OnError with type connection', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: `http://127.0.0.1:${port}/x` } }]);
    const result = await runFlow(flow, {}, deps);
    expect(result).toMatchObject({ status: 'FAILED', branch: 'OnError' });
    expect(result.variables['http_error']).toMatchObject({ type: 'connection' });
  });

  it('a non-JSON body maps to defaultResponse, and its hash is traced', async () => {
    const result = await call([{ status: 200, text: '<html>oops</html>' }], { responseMapping: { tier: '$.tier' }, defaultResponse: { tier: 'STANDARD' } });
    expect(result.variables['tier']).toBe('STANDARD');
    expect(result.trace[0]!.bodySha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('sends values with quotes, braces, backslashes, &, +, # and newlines safely in URL, headers and body', async () => {
    server = await startScriptedServer([{ status: 200, body: {} }]);
    const tricky = `a"b'c{d}e\\f&g+h#i\nj`;
    const flow = await parsed([
      {
        id: 'call',
        type: 'HTTPRequest',
        configuration: {
          url: `${server.url}/v1/{{v}}?q={{v}}&n=1`,
          method: 'POST',
          headers: { 'X-Safe': '{{digitsOnly(v)}}' },
          body: '{"note": "{{v}}", "n": 1}',
        },
      },
    ]);
    await runFlow(flow, { variables: { v: tricky } }, deps);
    const req = server.requests[0]!;
    const url = new URL(req.url, server.url);
    expect(decodeURIComponent(url.pathname.slice('/v1/'.length))).toBe(tricky);
    expect(url.searchParams.get('q')).toBe(tricky);
    expect(url.searchParams.get('n')).toBe('1');
    expect(JSON.parse(req.body)).toEqual({ note: tricky, n: 1 });
    expect(req.headers['x-safe']).toBe('');
  });

  it('a header value with a newline is refused before sending', async () => {
    const result = await call([{ status: 200 }], { headers: { 'X-Note': '{{flow_execution_id}}{{"\\r\\nX-Admin: 1"}}' } });
    expect(server!.requests).toHaveLength(0);
    expect(result.variables['http_error']).toMatchObject({ type: 'invalid_request' });
  });

  it('refuses loopback and metadata addresses at connect time unless allowed', async () => {
    server = await startScriptedServer([{ status: 200 }]);
    const strict = new NodeHttpClient();
    try {
      const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: '{{base}}/x' } }]);
      for (const base of [server.url, 'http://169.254.169.254', 'http://localhost:1']) {
        const result = await runFlow(flow, { variables: { base } }, { ...deps, http: strict });
        expect(result.variables['http_error']).toMatchObject({ type: 'invalid_request', message: expect.stringMatching(/private, loopback or link-local/) as unknown });
      }
      expect(server.requests).toHaveLength(0);
    } finally {
      strict.close();
    }
  });
});
