/**
 * What an operator reads from `ivrflow serve` (a real child process, metrics on, INFO logs, as
 * in Lambda): one EMF document set per ended execution (Executions, ExecutionDuration, StepErrors,
 * StepDuration) with bounded dimensions, the audit line per failed step, the execution and step
 * keys on the lines written inside a step, the Lambda context on every handler line, and never a
 * failing backend's body nor an empty-metrics warning.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** In every body the backend sends: it must never reach serve's output. */
const BODY_MARKER = 'backend-body-7f3c9d';
/** A connection's credential: never in any output either. */
const API_KEY = 'sk-observability-0123456789abcdef';

let backend: ScriptedServer;
let serve: { url: string; output: () => string; stop: () => Promise<void> };

type Line = Record<string, unknown> & { _aws?: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> } };
const lines = (): Line[] =>
  serve
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
const emf = (metric: string, executionFlow: string) => lines().filter((l) => l._aws?.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === metric) && (l['flowId'] === undefined || l['flowId'] === executionFlow));

const step = (path: string, branches: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  id: 'call',
  type: 'HTTPRequest',
  configuration: { url: `{{base}}${path}`, timeout: 300, retryPolicy: { maxRetries: 0 }, circuitBreaker: { failureThreshold: 1, cooldownMs: 60000 }, ...extra },
  branches,
});
const flow = (id: string, path: string) => ({
  id,
  name: id,
  inputs: ['base'],
  outputs: ['http_status_code'],
  allowedHosts: ['127.0.0.1'],
  steps: [
    step(path, { OnSuccess: 'done', OnServerError: 'fallback', OnTimeout: 'fallback', OnError: 'fallback' }),
    { id: 'done', type: 'End', configuration: { outcome: 'Done' } },
    { id: 'fallback', type: 'End', configuration: { outcome: 'AgentFallback' } },
  ],
});
const run = (id: string) => api(serve.url, 'POST', `/flows/${id}/executions`, { variables: { base: backend.url }, contactId: `contact-${id}` });

beforeAll(async () => {
  backend = await startScriptedServer((req) => {
    if (req.url.startsWith('/fail')) return { status: 503, body: { error: BODY_MARKER } };
    if (req.url.startsWith('/slow')) return { status: 200, body: { ok: BODY_MARKER }, delayMs: 2000 };
    return { status: 200, body: { ok: BODY_MARKER } };
  });
  const child = spawn(process.execPath, ['cli/bin.mjs', 'serve', '--port', '0', '--no-examples'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // As a user's shell has it (the test run turns metrics off and logs errors only).
    env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_LOG_LEVEL: 'INFO' },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  serve = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 60_000);
    child.stdout.on('data', () => {
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({ url, output: () => output, stop: () => (child.kill('SIGINT'), exited) });
    });
  });
  for (const [id, path] of [
    ['obs-ok', '/ok'],
    ['obs-fail', '/fail'],
    ['obs-slow', '/slow'],
  ] as const)
    expect((await api(serve.url, 'PUT', `/flows/${id}`, flow(id, path))).status).toBe(201);
  // A connection's credential on a failing call (its header is sent, the call fails, the failure is logged).
  expect((await api(serve.url, 'PUT', '/connections/crm', { baseUrl: backend.url, authentication: { type: 'apiKey', apiKey: API_KEY } })).status).toBe(201);
  const withKey = { ...flow('obs-key', '/fail-key'), inputs: [] };
  // Its own path: a circuit is per method, host and path, and this one opens too.
  withKey.steps[0] = step('/fail-key', { OnServerError: 'fallback', OnError: 'fallback', OnSuccess: 'done' }, { url: '/fail-key', authentication: { connection: 'crm' } });
  expect((await api(serve.url, 'PUT', '/flows/obs-key', withKey)).status).toBe(201);
  const keyed = await api(serve.url, 'POST', '/flows/obs-key/executions', { variables: {} });
  expect(keyed).toMatchObject({ status: 200, body: { branch: 'AgentFallback', variables: { http_status_code: 503 } } });
  expect(backend.requests.some((r) => JSON.stringify(r.headers).includes(API_KEY))).toBe(true);
  expect(await run('obs-ok')).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'Done' } });
  expect(await run('obs-fail')).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'AgentFallback', variables: { http_status_code: 503 } } });
  expect(await run('obs-slow')).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'AgentFallback' } });
  // The handler's log lines and metrics are flushed before the answer; give the pipe a moment.
  await new Promise((resolve) => setTimeout(resolve, 300));
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  await backend?.close();
});

describe('ivrflow serve prints EMF and JSON logs as the functions do in Lambda', () => {
  it('Executions by {flowId, status} and {status}, ExecutionDuration, StepDuration for each run; service ivrflow; no execution id in any metric document', () => {
    for (const id of ['obs-ok', 'obs-fail', 'obs-slow']) {
      const [executions, ...more] = emf('Executions', id).filter((l) => l['flowId'] === id);
      expect(more).toEqual([]);
      expect(executions).toMatchObject({ service: 'ivrflow', flowId: id, status: 'SUCCEEDED', Executions: 1 });
      expect(executions!._aws!.CloudWatchMetrics[0]).toMatchObject({
        Namespace: 'ivrflow',
        Dimensions: [
          ['service', 'flowId', 'status'],
          ['service', 'status'],
        ],
      });
      expect(emf('ExecutionDuration', id).filter((l) => l['flowId'] === id)).toHaveLength(1);
    }
    const stepDurations = lines().filter((l) => l['StepDuration'] !== undefined);
    expect(stepDurations.length).toBeGreaterThanOrEqual(3);
    expect(stepDurations.every((l) => l._aws!.CloudWatchMetrics[0]!.Dimensions[0]!.join() === 'service,stepType')).toBe(true);
    for (const l of lines().filter((x) => x._aws)) {
      expect(JSON.stringify(l._aws)).not.toContain('executionId');
      expect(l).not.toHaveProperty('executionId');
    }
  });

  it('a routed failure and a timeout: StepErrors by {flowId, errorType} and one audit line each (type, status, body hash, attempt), never the body', () => {
    const errors = lines().filter((l) => l['StepErrors'] !== undefined);
    expect(errors.map((l) => [l['flowId'], l['errorType'], l['StepErrors']]).sort()).toEqual([
      ['obs-fail', 'http_5xx', 1],
      ['obs-key', 'http_5xx', 1],
      ['obs-slow', 'timeout', 1],
    ]);
    expect(errors[0]!._aws!.CloudWatchMetrics[0]!.Dimensions).toEqual([
      ['service', 'flowId', 'errorType'],
      ['service', 'errorType'],
    ]);
    const audits = lines().filter((l) => l['audit'] === 'step_failure');
    expect(audits).toHaveLength(3);
    const failed = audits.find((a) => a['flowId'] === 'obs-fail')!;
    expect(failed).toMatchObject({ level: 'WARN', flowVersion: 1, stepId: 'call', errorType: 'http_5xx', statusCode: 503, attempt: 1, bodySha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
    expect(typeof failed['executionId']).toBe('string');
    const timedOut = audits.find((a) => a['flowId'] === 'obs-slow')!;
    expect(timedOut).toMatchObject({ errorType: 'timeout', stepId: 'call' });
    expect(timedOut).not.toHaveProperty('bodySha256');
    expect(serve.output()).not.toContain(BODY_MARKER);
  });

  it('a connection credential sent to a failing backend is never in any output', () => {
    expect(lines().some((l) => l['audit'] === 'step_failure' && l['flowId'] === 'obs-key')).toBe(true);
    expect(serve.output()).not.toContain(API_KEY);
  });

  it('lines written inside a step carry the execution and step keys; handler lines carry the Lambda context', () => {
    // The failing call opened its circuit (failureThreshold 1): the breaker's line was written inside the step.
    const opened = lines().find((l) => l['message'] === 'circuit state changed' && l['to'] === 'OPEN' && l['flowId'] === 'obs-fail');
    expect(opened).toMatchObject({ flowVersion: 1, contactId: 'contact-obs-fail', stepId: 'call', executionId: expect.any(String) as unknown });
    const finished = lines().filter((l) => l['message'] === 'execution finished');
    expect(finished).toHaveLength(4);
    for (const l of finished) expect(l).toMatchObject({ function_name: 'FlowExecutor', function_request_id: expect.any(String) as unknown, cold_start: expect.any(Boolean) as unknown, service: 'ivrflow' });
  });

  it('prints no empty-metrics warning, however many invocations counted nothing', async () => {
    for (let i = 0; i < 5; i++) expect((await api(serve.url, 'GET', '/flows')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(serve.output()).not.toContain('No application metrics to publish');
  });
});
