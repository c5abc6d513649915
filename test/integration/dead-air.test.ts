/**
 * The dead-air scenario, the most common IVR configuration there is, against a real hanging
 * loopback backend: a CRM lookup with `timeout: 1500` and two retries, a fallback to an agent on
 * OnTimeout/OnError. With a 3000 ms deadline the caller must get the fallback before 3000 ms (one
 * attempt: a retry's 1500 ms would not fit before the 300 ms finish reserve); with 4800 ms, two
 * attempts, then the fallback. On every entry: `ivrflow run`, `ivrflow serve`'s HTTP API, and the
 * Amazon Connect entry (ConnectInvoke through the Lambda Invoke API).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestStack } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

let stack: Awaited<ReturnType<typeof startTestStack>>;
let crm: ScriptedServer;
let dir: string;

const lookupFlow = (deadlineMs: number) => ({
  id: `dead-air-${deadlineMs}`,
  name: 'CRM lookup with an agent fallback',
  deadlineMs,
  inputs: ['crm'],
  outputs: ['route'],
  steps: [
    { id: 'lookup', type: 'HTTPRequest', configuration: { url: '{{crm}}/v2/accounts', timeout: 1500, retryPolicy: { maxRetries: 2 } }, branches: { OnSuccess: 'self-service', OnTimeout: 'agent', OnError: 'agent' } },
    { id: 'self-service', type: 'End', configuration: { outcome: 'SelfService', outputs: { route: 'self-service' } } },
    { id: 'agent', type: 'End', configuration: { outcome: 'AgentFallback', outputs: { route: 'agent' } } },
  ],
});

beforeAll(async () => {
  crm = await startScriptedServer(() => ({ hang: true }));
  stack = await startTestStack();
  dir = mkdtempSync(join(tmpdir(), 'ivrflow-dead-air-'));
  for (const deadline of [3000, 4800]) {
    const flow = lookupFlow(deadline);
    writeFileSync(join(dir, `${flow.id}.json`), JSON.stringify(flow));
    expect((await api(stack.api.url, 'PUT', `/flows/${flow.id}`, flow)).status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await crm?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The hung requests to the CRM since `before`. */
const attemptsSince = (before: number) => crm.requests.length - before;

describe.each([
  [3000, 1],
  [4800, 2],
])('a hanging CRM, 1500 ms × 3 attempts, deadline %i ms: %i attempt(s), then the agent fallback before the deadline', (deadlineMs, attempts) => {
  const flowId = `dead-air-${deadlineMs}`;
  const expected = { status: 'SUCCEEDED', branch: 'AgentFallback', variables: { route: 'agent' } };

  it('ivrflow run', async () => {
    const before = crm.requests.length;
    const t0 = Date.now();
    const out = await run(process.execPath, [`${root}/cli/bin.mjs`, 'run', join(dir, `${flowId}.json`), '--var', `crm=${crm.url}`, '--json'], { cwd: root });
    const result = JSON.parse(out.stdout) as { durationMs: number };
    expect(result).toMatchObject(expected);
    expect(result.durationMs).toBeLessThan(deadlineMs);
    expect(Date.now() - t0).toBeLessThan(deadlineMs + 3000); // the process's own start included
    expect(attemptsSince(before)).toBe(attempts);
  }, 20_000);

  it('ivrflow serve (the HTTP API)', async () => {
    const before = crm.requests.length;
    const t0 = Date.now();
    const res = await api(stack.api.url, 'POST', `/flows/${flowId}/executions`, { variables: { crm: crm.url } });
    expect(Date.now() - t0).toBeLessThan(deadlineMs);
    expect(res).toMatchObject({ status: 200, body: expected });
    expect(attemptsSince(before)).toBe(attempts);
  }, 20_000);

  it('the Amazon Connect entry', async () => {
    const before = crm.requests.length;
    const event = { Name: 'ContactFlowEvent', Details: { ContactData: { ContactId: `contact-${deadlineMs}-${Date.now()}` }, Parameters: { flowId, crm: crm.url } } };
    const t0 = Date.now();
    const res = await fetch(`${stack.api.url}/2015-03-31/functions/ConnectInvoke/invocations`, { method: 'POST', body: JSON.stringify(event) });
    expect(Date.now() - t0).toBeLessThan(deadlineMs);
    expect(await res.json()).toMatchObject({ ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'AgentFallback', route: 'agent' });
    expect(attemptsSince(before)).toBe(attempts);
  }, 20_000);
});
