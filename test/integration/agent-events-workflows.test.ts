/**
 * Agent custom events and CRM workflows end to end on the local stack (DynamoDB Local, the real
 * handlers over HTTP): the agent-events API (join, send, the next-event long poll, persist vs
 * drop, exactly-once delivery to concurrent readers, parameter checks), the CustomEvent step, the
 * workflow-configurations API, every branch of WorkflowExecute, and the screen-pop example
 * (a workflow calling a real loopback CRM, its result pushed to the agent who answered).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '#shared/clock';
import type { ExecutionResult } from '#shared/steps/types';
import { DynamoAgentEventStore } from '#shared/stores/dynamodb/agent-event-store';
import { startTestStack } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

/** Real time, shifted by hand: moves sessions and persisted events past their expiry without waiting. */
let offset = 0;
const clock: Clock = { now: () => Date.now() + offset, sleep: (ms, signal) => systemClock.sleep(ms, signal) };

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;
/** A backend that answers after 3 s (a workflow that outlives its caller's timeoutMilliSec). */
let slow: ScriptedServer;
/** The CRM of the screen-pop example: `GET /v2/accounts?phone=` → `{ data: [contact] }` for a known number, else `{ data: [] }`. */
let crm: ScriptedServer;

const CONTACT = { id: 'ACC-1001', name: 'Ada Lovelace', phone: '+12125551234', tier: 'GOLD' };

interface ErrorBody {
  error: { code: string; message: string; details?: Array<{ code: string; path: string; message: string }> };
}
interface AgentEvent {
  type: string;
  eventName: string;
  data: string;
  createdAt: string;
}
interface Events {
  events: AgentEvent[];
}
interface SendAnswer {
  delivered: boolean;
  reason?: string;
}
interface Session {
  agentId: string;
  sessionId: string;
  expiresAt: string;
}
interface WorkflowConfigurationBody {
  configurationId: string;
  enabled: boolean;
  connection?: string;
  workflows: Record<string, { flowId: string }>;
  updatedAt: string;
}

interface Answer<T> {
  status: number;
  body: T;
}

/** fetch against the local API: a JSON body (`json`) or a text body (`text`); the answer parsed as JSON (undefined when empty). */
async function request<T>(method: string, path: string, options: { json?: unknown; text?: string } = {}): Promise<Answer<T>> {
  const init: RequestInit = { method };
  if (options.json !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = JSON.stringify(options.json);
  } else if (options.text !== undefined) {
    init.headers = { 'content-type': 'text/plain' };
    init.body = options.text;
  }
  const res = await fetch(`${stack.api.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

// --- agents -------------------------------------------------------------------------------------

/** A fresh agent id per test, so tests never see each other's events. */
const newAgent = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

async function join(agentId: string): Promise<Session> {
  const res = await request<Session>('POST', `/agents/${agentId}/session`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

function leave(agentId: string): Promise<Answer<ErrorBody | undefined>> {
  return request<ErrorBody | undefined>('DELETE', `/agents/${agentId}/session`);
}

/** `PUT /agents/{agentId}/custom-event?<query>` (the agent id URL-encoded), `data` optionally as the body. */
function send(agentId: string, query: Record<string, string>, body?: string): Promise<Answer<SendAnswer & ErrorBody>> {
  const qs = new URLSearchParams(query).toString();
  return request<SendAnswer & ErrorBody>('PUT', `/agents/${encodeURIComponent(agentId)}/custom-event${qs ? `?${qs}` : ''}`, body === undefined ? {} : { text: body });
}

/** Sends and expects 202 with the given delivery answer. */
async function sendOk(agentId: string, query: Record<string, string>, expected: SendAnswer): Promise<void> {
  const res = await send(agentId, query);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body).toEqual(expected);
}

function nextEvent(agentId: string, timeout: number | string = 0): Promise<Answer<Events & ErrorBody>> {
  return request<Events & ErrorBody>('GET', `/agents/${encodeURIComponent(agentId)}/next-event?timeout=${timeout}`);
}

/** next-event, expecting 200: the events. */
async function events(agentId: string, timeout = 0): Promise<AgentEvent[]> {
  const res = await nextEvent(agentId, timeout);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.events;
}

// --- flows --------------------------------------------------------------------------------------

const end = (id: string, outcome: string, extra: Record<string, unknown> = {}) => ({ id, type: 'End', configuration: { outcome, ...extra } });

async function deploy(flow: Record<string, unknown>): Promise<void> {
  const res = await request<unknown>('PUT', `/flows/${flow['id'] as string}`, { json: flow });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
}

async function execute(flowId: string, variables: Record<string, unknown>): Promise<ExecutionResult> {
  const res = await request<ExecutionResult>('POST', `/flows/${flowId}/executions`, { json: { variables } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** `stepId:branch` of each trace entry. */
const path = (result: ExecutionResult) => result.trace.map((t) => `${t.stepId}:${t.branch}`);

function putConfiguration(id: string, body: unknown): Promise<Answer<WorkflowConfigurationBody & ErrorBody>> {
  return request<WorkflowConfigurationBody & ErrorBody>('PUT', `/workflow-configurations/${id}`, { json: body });
}

async function putConfigurationOk(id: string, body: unknown): Promise<void> {
  const res = await putConfiguration(id, body);
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
}

/** The workflow of `flowType: Workflow` most tests run: its declared outputs are its result; `internal` is not one of them. */
const ECHO_WORKFLOW = {
  id: 'wf-echo',
  name: 'Echo workflow',
  flowType: 'Workflow',
  inputs: ['name', 'extra'],
  outputs: ['greeting', 'echoed', 'extra'],
  steps: [{ id: 'internal', type: 'DataAPI', configuration: { operation: 'assign', variables: { internal: 'not an output' } }, next: 'done' }, end('done', 'Echoed', { outputs: { greeting: 'Hello {{name}}', echoed: '{{name}}' } })],
};

/** A workflow that fails: it ends on an End with status FAILED. */
const FAILING_WORKFLOW = { id: 'wf-fail', name: 'Failing workflow', flowType: 'Workflow', outputs: ['never'], steps: [end('down', 'CrmDown', { status: 'FAILED' })] };

/** A workflow whose backend answers after 3 s. */
const SLOW_WORKFLOW = {
  id: 'wf-slow',
  name: 'Slow workflow',
  flowType: 'Workflow',
  outputs: ['answer'],
  steps: [
    { id: 'lookup', type: 'HTTPRequest', configuration: { url: '/lookup', authentication: { connection: 'slow-backend' }, responseMapping: { answer: '$.ok' } }, branches: { OnSuccess: 'ok', OnTimeout: 'timed-out', OnError: 'failed' } },
    end('ok', 'Answered'),
    end('timed-out', 'TimedOut', { status: 'FAILED' }),
    end('failed', 'Failed', { status: 'FAILED' }),
  ],
};

/** An IVR flow with every WorkflowExecute branch wired to an End named after it; OnTimeout runs one more step first. */
function routerFlow(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    name: `Router ${id}`,
    flowType: 'IVR',
    inputs: ['cfg', 'wf', 'payload', 'extra'],
    outputs: ['workflowResultOutput', 'workflowErrorOutput', 'after'],
    steps: [
      {
        id: 'run',
        type: 'WorkflowExecute',
        configuration: { configurationId: '{{cfg}}', workflowId: '{{wf}}', workflowPayload: '{{payload}}', ...extra },
        branches: { OnSuccess: 'success', OnError: 'error', OnInvalidWorkflow: 'invalid', OnIntegrationDisabled: 'disabled', OnTimeout: 'after-timeout', OnValidationFailure: 'validation' },
      },
      { id: 'after-timeout', type: 'DataAPI', configuration: { operation: 'assign', variables: { after: 'ran after the timeout' } }, next: 'timeout' },
      end('success', 'Success'),
      end('error', 'Error'),
      end('invalid', 'Invalid'),
      end('disabled', 'Disabled'),
      end('timeout', 'Timeout'),
      end('validation', 'Validation'),
    ],
  };
}

/** An IVR flow sending one CustomEvent (to `{{AgentId}}` by default) with every branch wired. */
function customEventFlow(id: string, configuration: Record<string, unknown>) {
  return {
    id,
    name: `Custom event ${id}`,
    flowType: 'IVR',
    inputs: ['AgentId', 'evName', 'name'],
    steps: [{ id: 'send', type: 'CustomEvent', configuration, branches: { OnAgentNotConnected: 'not-connected', OnError: 'error' }, next: 'sent' }, end('sent', 'Sent'), end('not-connected', 'NotConnected'), end('error', 'Error')],
  };
}

const exampleJson = (file: string) => JSON.parse(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8')) as Record<string, unknown>;

beforeAll(async () => {
  slow = await startScriptedServer(() => ({ status: 200, body: { ok: true }, delayMs: 3000 }));
  crm = await startScriptedServer((req) => {
    const phone = new URL(req.url, 'http://crm').searchParams.get('phone');
    return { status: 200, body: { data: phone === CONTACT.phone ? [CONTACT] : [] } };
  });
  stack = await startTestStack({ clock, flowCacheTtlMs: 0 });
  for (const [name, baseUrl] of [
    ['slow-backend', slow.url],
    ['crm', crm.url],
  ] as const) {
    const res = await request<unknown>('PUT', `/connections/${name}`, { json: { baseUrl, authentication: { type: 'none' } } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  for (const flow of [
    ECHO_WORKFLOW,
    FAILING_WORKFLOW,
    SLOW_WORKFLOW,
    { id: 'ivr-plain', name: 'Plain IVR', flowType: 'IVR', steps: [end('done', 'Done')] },
    routerFlow('we-router'),
    routerFlow('we-timeout', { timeoutMilliSec: 500 }),
    customEventFlow('ce-send', { eventName: '{{evName}}', data: { contact: '{{name}}', score: 42, tags: ['vip'] } }),
    customEventFlow('ce-persist', { eventName: '{{evName}}', persistInMemory: true, data: 'for {{name}}' }),
  ]) {
    await deploy(flow);
  }
  await putConfigurationOk('cfg-main', { enabled: true, workflows: { echo: { flowId: 'wf-echo' }, fail: { flowId: 'wf-fail' }, slow: { flowId: 'wf-slow' } } });
  await putConfigurationOk('cfg-off', { enabled: false, workflows: { echo: { flowId: 'wf-echo' } } });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await slow?.close();
  await crm?.close();
});

describe('agent events API', () => {
  it('join → send (not persisted) → 202 delivered → next-event returns it once, with type, name, data and creation time', async () => {
    const agent = newAgent('basic');
    const before = Date.now();
    const session = await join(agent);
    expect(session.agentId).toBe(agent);
    expect(session.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(session.expiresAt) - before).toBeGreaterThanOrEqual(5 * 60_000 - 1000);
    expect(Date.parse(session.expiresAt) - before).toBeLessThanOrEqual(5 * 60_000 + 5000);
    // Joining again is the same session.
    expect((await join(agent)).sessionId).toBe(session.sessionId);

    const sentAt = Date.now();
    await sendOk(agent, { eventName: 'ScreenPop', persistInMemory: 'false', data: 'caller=+12125551234' }, { delivered: true });
    const sentBy = Date.now();

    const got = await events(agent);
    expect(got).toEqual([{ type: 'CustomEvent', eventName: 'ScreenPop', data: 'caller=+12125551234', createdAt: expect.any(String) as string }]);
    const createdAt = Date.parse(got[0]!.createdAt);
    expect(new Date(createdAt).toISOString()).toBe(got[0]!.createdAt);
    expect(createdAt).toBeGreaterThanOrEqual(sentAt - 5);
    expect(createdAt).toBeLessThanOrEqual(sentBy + 5);

    expect(await events(agent, 0)).toEqual([]);
  });

  it('a second event of the same name replaces an unread one; different names come back in creation order', async () => {
    const agent = newAgent('overwrite');
    await join(agent);
    await sendOk(agent, { eventName: 'Status', data: 'ringing' }, { delivered: true });
    await sendOk(agent, { eventName: 'Status', data: 'answered' }, { delivered: true });
    expect((await events(agent)).map((e) => [e.eventName, e.data])).toEqual([['Status', 'answered']]);

    for (const name of ['One', 'Two', 'Three', 'Four']) await sendOk(agent, { eventName: name, data: `data-${name}` }, { delivered: true });
    const got = await events(agent);
    expect(got.map((e) => [e.eventName, e.data])).toEqual([
      ['One', 'data-One'],
      ['Two', 'data-Two'],
      ['Three', 'data-Three'],
      ['Four', 'data-Four'],
    ]);
    const times = got.map((e) => Date.parse(e.createdAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // Names are case-sensitive: two events.
    await sendOk(agent, { eventName: 'case', data: 'lower' }, { delivered: true });
    await sendOk(agent, { eventName: 'CASE', data: 'upper' }, { delivered: true });
    expect((await events(agent)).map((e) => e.data)).toEqual(['lower', 'upper']);
    expect(await events(agent)).toEqual([]);
  });

  it('an agent that has not joined: a non-persisted event is dropped, a persisted one is delivered after joining', async () => {
    const dropped = newAgent('dropped');
    await sendOk(dropped, { eventName: 'Gone', persistInMemory: 'false', data: 'x' }, { delivered: false, reason: 'AGENT_NOT_JOINED_DROPPED' });
    // persistInMemory defaults to false.
    await sendOk(dropped, { eventName: 'AlsoGone', data: 'y' }, { delivered: false, reason: 'AGENT_NOT_JOINED_DROPPED' });
    await join(dropped);
    expect(await events(dropped, 1)).toEqual([]);

    const kept = newAgent('kept');
    await sendOk(kept, { eventName: 'Waiting', persistInMemory: 'true', data: 'for later' }, { delivered: false, reason: 'AGENT_NOT_JOINED_PERSISTED' });
    await join(kept);
    expect((await events(kept)).map((e) => [e.type, e.eventName, e.data])).toEqual([['CustomEvent', 'Waiting', 'for later']]);
    expect(await events(kept)).toEqual([]);
  });

  it('after leaving (204) and re-joining, a non-persisted event sent into the old session is not delivered; a persisted one is', async () => {
    const agent = newAgent('rejoin');
    const first = await join(agent);
    await sendOk(agent, { eventName: 'Transient', persistInMemory: 'false', data: 'old session only' }, { delivered: true });
    await sendOk(agent, { eventName: 'Durable', persistInMemory: 'true', data: 'survives' }, { delivered: true });
    const left = await leave(agent);
    expect(left.status).toBe(204);
    expect(left.body).toBeUndefined();
    // Left: next-event needs a new join.
    expect(await nextEvent(agent)).toMatchObject({ status: 409, body: { error: { code: 'AGENT_NOT_JOINED' } } });

    const second = await join(agent);
    expect(second.sessionId).not.toBe(first.sessionId);
    expect((await events(agent)).map((e) => [e.eventName, e.data])).toEqual([['Durable', 'survives']]);
    expect(await events(agent, 1)).toEqual([]);
  });

  it('long poll: an event sent 500 ms into a 3 s wait is returned at once; with nothing, timeout=1 answers [] after about 1 s', async () => {
    const agent = newAgent('poll');
    await join(agent);
    const started = Date.now();
    const polling = nextEvent(agent, 3);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await sendOk(agent, { eventName: 'Late', data: 'arrived' }, { delivered: true });
    const res = await polling;
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body.events.map((e) => [e.eventName, e.data])).toEqual([['Late', 'arrived']]);
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(3000);

    const idleStart = Date.now();
    const idle = await nextEvent(agent, 1);
    const idleElapsed = Date.now() - idleStart;
    expect(idle).toMatchObject({ status: 200, body: { events: [] } });
    expect(idleElapsed).toBeGreaterThanOrEqual(950);
    expect(idleElapsed).toBeLessThan(2500);

    // timeout=0 answers at once.
    const nowStart = Date.now();
    expect(await events(agent, 0)).toEqual([]);
    expect(Date.now() - nowStart).toBeLessThan(800);
  });

  it('exactly once: 20 events sent while 10 readers long-poll are each delivered to exactly one reader', async () => {
    const agent = newAgent('race');
    await join(agent);
    const names = Array.from({ length: 20 }, (_, i) => `Event-${String(i).padStart(2, '0')}`);
    const received: AgentEvent[] = [];
    const reader = async () => {
      const res = await nextEvent(agent, 2);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      received.push(...res.body.events);
    };
    const readers = Array.from({ length: 10 }, () => reader());
    // Half sent one by one, half at once, while the readers wait.
    for (const name of names.slice(0, 10)) await sendOk(agent, { eventName: name, data: `data-${name}` }, { delivered: true });
    await Promise.all(names.slice(10).map((name) => sendOk(agent, { eventName: name, data: `data-${name}` }, { delivered: true })));
    await Promise.all(readers);
    // Whatever the first round left: more rounds of concurrent readers.
    for (let round = 0; round < 3 && received.length < names.length; round++) await Promise.all(Array.from({ length: 10 }, () => reader()));

    const got = received.map((e) => e.eventName).sort();
    expect(got).toEqual(names);
    for (const e of received) expect(e.data).toBe(`data-${e.eventName}`);
    expect(await events(agent, 0)).toEqual([]);
  });

  it('bad parameters are 400 with codes, before joining next-event is 409 and leave is 404; a refused PUT stores nothing', async () => {
    const joined = newAgent('refused-joined');
    const absent = newAgent('refused-absent');
    await join(joined);
    for (const agent of [joined, absent]) {
      const refused: Array<[Promise<Answer<SendAnswer & ErrorBody>>, string]> = [
        [send(agent, { persistInMemory: 'true', data: 'no name' }), 'MISSING_PARAMETER'],
        [send(agent, { eventName: '', persistInMemory: 'true', data: 'empty name' }), 'MISSING_PARAMETER'],
        [send(agent, { eventName: 'e'.repeat(101), persistInMemory: 'true', data: 'long name' }), 'INVALID_PARAMETER'],
        [send(agent, { eventName: 'Ctl\u0007', persistInMemory: 'true', data: 'control character' }), 'INVALID_PARAMETER'],
        [send(agent, { eventName: 'Big', persistInMemory: 'true' }, 'x'.repeat(32 * 1024 + 1)), 'DATA_TOO_LARGE'],
        [send(agent, { eventName: 'BigUtf8', persistInMemory: 'true' }, 'é'.repeat(16 * 1024 + 1)), 'DATA_TOO_LARGE'],
        [send(agent, { eventName: 'Maybe', persistInMemory: 'maybe', data: 'x' }), 'INVALID_PARAMETER'],
      ];
      for (const [pending, code] of refused) {
        const res = await pending;
        expect(res.status, `${code}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(res.body.error.code).toBe(code);
        expect(res.body).not.toHaveProperty('delivered');
      }
    }
    for (const bad of ['bad agent!', '-starts-with-dash', 'a'.repeat(129)]) {
      const res = await send(bad, { eventName: 'Fine', persistInMemory: 'true', data: 'x' });
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code).toBe('INVALID_PARAMETER');
    }
    for (const timeout of ['21', '-1', '1.5', 'soon']) {
      const res = await nextEvent(joined, timeout);
      expect(res.status, timeout).toBe(400);
      expect(res.body.error.code).toBe('INVALID_PARAMETER');
    }
    const notJoined = newAgent('never');
    expect(await nextEvent(notJoined, 0)).toMatchObject({ status: 409, body: { error: { code: 'AGENT_NOT_JOINED' } } });
    expect(await leave(notJoined)).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect((await request<ErrorBody>('POST', `/agents/${encodeURIComponent('bad agent!')}/session`)).status).toBe(400);

    // Nothing refused was stored, for the joined agent nor (persisted) for the absent one.
    expect(await events(joined, 1)).toEqual([]);
    await join(absent);
    expect(await events(absent, 0)).toEqual([]);

    // The limits themselves are accepted: a 100-character name, 32 KiB of data as the body.
    const edge = newAgent('edge');
    await join(edge);
    const name100 = 'n'.repeat(100);
    const big = 'd'.repeat(32 * 1024);
    const res = await send(edge, { eventName: name100 }, big);
    expect(res).toMatchObject({ status: 202, body: { delivered: true } });
    expect((await events(edge)).map((e) => [e.eventName, e.data.length])).toEqual([[name100, big.length]]);
  });

  it('a session ends 5 min after the last next-event call; persisted events wait 24 h, then expire', async () => {
    const agent = newAgent('expiry');
    try {
      await join(agent);
      expect(await events(agent)).toEqual([]);
      offset = 6 * 60_000;
      expect(await nextEvent(agent)).toMatchObject({ status: 409, body: { error: { code: 'AGENT_NOT_JOINED' } } });
      await sendOk(agent, { eventName: 'Dropped', data: 'x' }, { delivered: false, reason: 'AGENT_NOT_JOINED_DROPPED' });
      await sendOk(agent, { eventName: 'Kept', persistInMemory: 'true', data: 'y' }, { delivered: false, reason: 'AGENT_NOT_JOINED_PERSISTED' });
      await sendOk(agent, { eventName: 'Stale', persistInMemory: 'true', data: 'z' }, { delivered: false, reason: 'AGENT_NOT_JOINED_PERSISTED' });
      // A day later: 'Stale' is past its 24 h; 'Kept' is re-sent and so still fresh.
      offset += 24 * 3600_000 + 60_000;
      await sendOk(agent, { eventName: 'Kept', persistInMemory: 'true', data: 'y2' }, { delivered: false, reason: 'AGENT_NOT_JOINED_PERSISTED' });
      await join(agent);
      expect((await events(agent)).map((e) => [e.eventName, e.data])).toEqual([['Kept', 'y2']]);
    } finally {
      offset = 0;
    }
  });
});

describe('agent event store', () => {
  it("a reader of an ended session (a poll still running after a leave and a new join) never takes the new session's events", async () => {
    const store = new DynamoAgentEventStore({ tableName: stack.config.stateTable, client: stack.client });
    const agentId = `agent-${randomUUID().slice(0, 8)}`;
    const now = clock.now();
    const old = await store.join(agentId, now, now + 60_000);
    await store.leave(agentId, now);
    const current = await store.join(agentId, now, now + 60_000);
    expect(current).not.toBe(old);
    await store.put(agentId, { eventName: 'ForNewSession', data: 'd', createdAtMs: now, persist: false, sessionId: current }, now + 60_000);
    expect(await store.take(agentId, old, now)).toEqual([]);
    expect((await store.take(agentId, current, now)).map((e) => e.eventName)).toEqual(['ForNewSession']);
  });
});

describe('CustomEvent step', () => {
  it('Default when the agent has joined: the agent reads the event, an object `data` as its JSON text', async () => {
    const agent = newAgent('step-joined');
    await join(agent);
    const run = await execute('ce-send', { AgentId: agent, evName: 'ScreenPop', name: 'Ada' });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Sent' });
    expect(path(run)).toEqual(['send:Default', 'sent:Sent']);
    const got = await events(agent);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'CustomEvent', eventName: 'ScreenPop' });
    expect(typeof got[0]!.data).toBe('string');
    expect(JSON.parse(got[0]!.data)).toEqual({ contact: 'Ada', score: 42, tags: ['vip'] });
  });

  it('OnAgentNotConnected when AgentId is empty, and when the agent has not joined and the event does not persist (nothing arrives later)', async () => {
    const empty = await execute('ce-send', { AgentId: '', evName: 'ScreenPop', name: 'Ada' });
    expect(empty).toMatchObject({ status: 'SUCCEEDED', branch: 'NotConnected' });
    expect(path(empty)).toEqual(['send:OnAgentNotConnected', 'not-connected:NotConnected']);
    expect(empty.trace[0]).toMatchObject({ status: 'FAILED', error: { type: 'agent_not_connected' } });

    const blank = await execute('ce-send', { AgentId: '   ', evName: 'ScreenPop', name: 'Ada' });
    expect(path(blank)).toEqual(['send:OnAgentNotConnected', 'not-connected:NotConnected']);

    const agent = newAgent('step-absent');
    const absent = await execute('ce-send', { AgentId: agent, evName: 'ScreenPop', name: 'Ada' });
    expect(absent).toMatchObject({ status: 'SUCCEEDED', branch: 'NotConnected' });
    expect(path(absent)).toEqual(['send:OnAgentNotConnected', 'not-connected:NotConnected']);
    expect(absent.trace[0]!.error?.message).toContain(agent);
    await join(agent);
    expect(await events(agent, 1)).toEqual([]);
  });

  it('Default with persistInMemory for an agent that has not joined: delivered after it joins', async () => {
    const agent = newAgent('step-persist');
    const run = await execute('ce-persist', { AgentId: agent, evName: 'Callback', name: 'Grace' });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Sent' });
    expect(path(run)).toEqual(['send:Default', 'sent:Sent']);
    await join(agent);
    expect((await events(agent)).map((e) => [e.eventName, e.data])).toEqual([['Callback', 'for Grace']]);
  });

  it('OnError for an event name rendering to 101 characters or a malformed agent id; nothing is sent', async () => {
    const agent = newAgent('step-error');
    await join(agent);
    const long = await execute('ce-send', { AgentId: agent, evName: 'x'.repeat(101), name: 'Ada' });
    expect(long).toMatchObject({ status: 'SUCCEEDED', branch: 'Error' });
    expect(path(long)).toEqual(['send:OnError', 'error:Error']);
    expect(long.trace[0]).toMatchObject({ status: 'FAILED', error: { type: 'invalid_request' } });

    const badAgent = await execute('ce-send', { AgentId: 'bad agent!', evName: 'ScreenPop', name: 'Ada' });
    expect(path(badAgent)).toEqual(['send:OnError', 'error:Error']);

    // 100 characters is fine.
    const ok = await execute('ce-send', { AgentId: agent, evName: 'y'.repeat(100), name: 'Ada' });
    expect(path(ok)).toEqual(['send:Default', 'sent:Sent']);
    expect((await events(agent)).map((e) => e.eventName)).toEqual(['y'.repeat(100)]);
  });
});

describe('workflow configurations API', () => {
  it('201 create, 200 replace, GET, DELETE 204 then 404', async () => {
    const created = await putConfiguration('cfg-api', { enabled: true, workflows: { echo: { flowId: 'wf-echo' } } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toEqual({ configurationId: 'cfg-api', enabled: true, workflows: { echo: { flowId: 'wf-echo' } }, updatedAt: expect.any(String) as string });

    const replaced = await putConfiguration('cfg-api', { enabled: false, connection: 'crm', workflows: { echo: { flowId: 'wf-echo' }, fail: { flowId: 'wf-fail' } } });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    expect(replaced.body).toMatchObject({ configurationId: 'cfg-api', enabled: false, connection: 'crm', workflows: { echo: { flowId: 'wf-echo' }, fail: { flowId: 'wf-fail' } } });

    const read = await request<WorkflowConfigurationBody>('GET', '/workflow-configurations/cfg-api');
    expect(read.status).toBe(200);
    expect(read.body).toEqual(replaced.body);

    // enabled defaults to true.
    const defaulted = await putConfiguration('cfg-api-default', { workflows: {} });
    expect(defaulted).toMatchObject({ status: 201, body: { enabled: true, workflows: {} } });

    expect((await request<unknown>('DELETE', '/workflow-configurations/cfg-api')).status).toBe(204);
    expect(await request<ErrorBody>('GET', '/workflow-configurations/cfg-api')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect((await request<ErrorBody>('DELETE', '/workflow-configurations/cfg-api')).status).toBe(404);
    expect((await request<unknown>('DELETE', '/workflow-configurations/cfg-api-default')).status).toBe(204);
  });

  it('422 INVALID_WORKFLOW_CONFIGURATION naming MISSING_FLOW, NOT_A_WORKFLOW, MISSING_CONNECTION; a refused PUT changes nothing', async () => {
    await putConfigurationOk('cfg-keep', { enabled: true, connection: 'crm', workflows: { echo: { flowId: 'wf-echo' } } });
    const stored = await request<WorkflowConfigurationBody>('GET', '/workflow-configurations/cfg-keep');
    expect(stored.status).toBe(200);

    const cases: Array<[unknown, string, string]> = [
      [{ enabled: false, workflows: { ghost: { flowId: 'no-such-flow' } } }, 'MISSING_FLOW', 'workflows.ghost.flowId'],
      [{ enabled: false, workflows: { ivr: { flowId: 'ivr-plain' } } }, 'NOT_A_WORKFLOW', 'workflows.ivr.flowId'],
      [{ enabled: false, connection: 'no-such-connection', workflows: { echo: { flowId: 'wf-echo' } } }, 'MISSING_CONNECTION', 'connection'],
    ];
    for (const [body, code, at] of cases) {
      const res = await putConfiguration('cfg-keep', body);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.error.code).toBe('INVALID_WORKFLOW_CONFIGURATION');
      expect(res.body.error.details).toEqual([expect.objectContaining({ code, path: at })]);
    }
    // Every problem is listed.
    const many = await putConfiguration('cfg-keep', { connection: 'nope', workflows: { a: { flowId: 'no-such-flow' }, b: { flowId: 'ivr-plain' } } });
    expect(many.status).toBe(422);
    expect(many.body.error.details?.map((d) => d.code).sort()).toEqual(['MISSING_CONNECTION', 'MISSING_FLOW', 'NOT_A_WORKFLOW']);
    // Schema problems are 422 too; a body that is not an object is 400.
    expect((await putConfiguration('cfg-keep', { enabled: 'yes', workflows: {} })).status).toBe(422);
    expect((await putConfiguration('cfg-keep', { workflows: {}, surprise: true })).status).toBe(422);
    expect((await putConfiguration('cfg-keep', [1, 2])).status).toBe(400);
    expect((await putConfiguration('bad id!', { workflows: {} })).status).toBe(400);

    const after = await request<WorkflowConfigurationBody>('GET', '/workflow-configurations/cfg-keep');
    expect(after).toEqual(stored);
    // A refused create stores nothing either.
    expect((await putConfiguration('cfg-never', { workflows: { ghost: { flowId: 'no-such-flow' } } })).status).toBe(422);
    expect((await request<ErrorBody>('GET', '/workflow-configurations/cfg-never')).status).toBe(404);
  });
});

describe('WorkflowExecute', () => {
  it("OnSuccess: the result is the workflow's declared outputs (its inputs only from the payload); the error variable is null", async () => {
    const run = await execute('we-router', { cfg: 'cfg-main', wf: 'echo', payload: { name: 'Ada' }, extra: 'the caller’s, not the workflow’s' });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Success' });
    expect(path(run)).toEqual(['run:OnSuccess', 'success:Success']);
    expect(run.variables).toEqual({ workflowResultOutput: { greeting: 'Hello Ada', echoed: 'Ada', extra: null }, workflowErrorOutput: null, after: null });
    expect(run.trace[0]).toMatchObject({ status: 'SUCCEEDED', subFlow: { flowId: 'wf-echo', status: 'SUCCEEDED' } });
    expect(run.trace[0]!.subFlow!.trace.map((t) => t.stepId)).toEqual(['internal', 'done']);

    // The payload as JSON text works the same; its fields are the workflow's inputs.
    const fromText = await execute('we-router', { cfg: 'cfg-main', wf: 'echo', payload: '{"name":"Grace","extra":"passed"}' });
    expect(fromText.variables['workflowResultOutput']).toEqual({ greeting: 'Hello Grace', echoed: 'Grace', extra: 'passed' });
  });

  it('OnError: the workflow ends FAILED on an End with status FAILED', async () => {
    const run = await execute('we-router', { cfg: 'cfg-main', wf: 'fail', payload: '{}' });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Error' });
    expect(path(run)).toEqual(['run:OnError', 'error:Error']);
    expect(run.variables['workflowResultOutput']).toBeNull();
    expect(run.variables['workflowErrorOutput']).toMatchObject({ code: 'WORKFLOW_FAILED', branch: 'CrmDown' });
    expect(run.trace[0]).toMatchObject({ status: 'FAILED', subFlow: { flowId: 'wf-fail', status: 'FAILED' } });
  });

  it('OnInvalidWorkflow: a workflow id not in the configuration, or a configured flow that is gone', async () => {
    const run = await execute('we-router', { cfg: 'cfg-main', wf: 'not-configured', payload: {} });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Invalid' });
    expect(path(run)).toEqual(['run:OnInvalidWorkflow', 'invalid:Invalid']);
    expect(run.variables).toMatchObject({ workflowResultOutput: null, workflowErrorOutput: { code: 'INVALID_WORKFLOW' } });
    // Inherited object keys are not workflows.
    const proto = await execute('we-router', { cfg: 'cfg-main', wf: 'constructor', payload: {} });
    expect(path(proto)).toEqual(['run:OnInvalidWorkflow', 'invalid:Invalid']);

    await deploy({ ...ECHO_WORKFLOW, id: 'wf-doomed', name: 'Doomed workflow' });
    await putConfigurationOk('cfg-doomed', { workflows: { doomed: { flowId: 'wf-doomed' } } });
    expect((await request<unknown>('DELETE', '/flows/wf-doomed')).status).toBe(204);
    const gone = await execute('we-router', { cfg: 'cfg-doomed', wf: 'doomed', payload: {} });
    expect(path(gone)).toEqual(['run:OnInvalidWorkflow', 'invalid:Invalid']);
    expect(gone.variables['workflowErrorOutput']).toMatchObject({ code: 'INVALID_WORKFLOW' });
  });

  it('OnIntegrationDisabled: the configuration is disabled', async () => {
    const run = await execute('we-router', { cfg: 'cfg-off', wf: 'echo', payload: { name: 'Ada' } });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Disabled' });
    expect(path(run)).toEqual(['run:OnIntegrationDisabled', 'disabled:Disabled']);
    expect(run.variables).toMatchObject({ workflowResultOutput: null, workflowErrorOutput: { code: 'INTEGRATION_DISABLED' } });
  });

  it('OnValidationFailure: unknown or empty configuration id, a payload that is not JSON, a JSON array, a field that is not a variable name', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ cfg: 'no-such-configuration', wf: 'echo', payload: {} }, 'UNKNOWN_CONFIGURATION'],
      [{ cfg: '', wf: 'echo', payload: {} }, 'UNKNOWN_CONFIGURATION'],
      [{ cfg: 'cfg-main', wf: 'echo', payload: 'not json at all' }, 'INVALID_PAYLOAD'],
      [{ cfg: 'cfg-main', wf: 'echo', payload: '[1,2,3]' }, 'INVALID_PAYLOAD'],
      [{ cfg: 'cfg-main', wf: 'echo', payload: ['a', 'b'] }, 'INVALID_PAYLOAD'],
      [{ cfg: 'cfg-main', wf: 'echo', payload: '"just a string"' }, 'INVALID_PAYLOAD'],
      [{ cfg: 'cfg-main', wf: 'echo', payload: '{"not-a-name":1}' }, 'INVALID_PAYLOAD'],
    ];
    for (const [variables, code] of cases) {
      const run = await execute('we-router', variables);
      expect(run, JSON.stringify(variables)).toMatchObject({ status: 'SUCCEEDED', branch: 'Validation', variables: { workflowResultOutput: null, workflowErrorOutput: { code } } });
      expect(path(run)).toEqual(['run:OnValidationFailure', 'validation:Validation']);
    }
  });

  it('OnValidationFailure for a configuration id too long to be one (not an engine error)', async () => {
    const run = await execute('we-router', { cfg: 'c'.repeat(3000), wf: 'echo', payload: {} });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Validation', variables: { workflowErrorOutput: { code: 'UNKNOWN_CONFIGURATION' } } });
  });

  it('OnTimeout: a workflow waiting on a 3 s backend is cut at timeoutMilliSec 500 less its reserve; its own timeout route runs, the parent takes OnTimeout and ends SUCCEEDED in time', async () => {
    const started = Date.now();
    const run = await execute('we-timeout', { cfg: 'cfg-main', wf: 'slow', payload: {} });
    const elapsed = Date.now() - started;
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'Timeout' });
    expect(path(run)).toEqual(['run:OnTimeout', 'after-timeout:Default', 'timeout:Timeout']);
    expect(run.variables).toMatchObject({ workflowResultOutput: null, workflowErrorOutput: { code: 'WORKFLOW_TIMEOUT', branch: 'TimedOut' }, after: 'ran after the timeout' });
    // The workflow's call ends by its deadline (500 ms) less its finish reserve (300 ms); then its own TimedOut route ends it FAILED.
    expect(run.trace[0]).toMatchObject({ status: 'FAILED', subFlow: { flowId: 'wf-slow', status: 'FAILED', trace: [{ stepId: 'lookup', error: { type: 'timeout' } }, { stepId: 'timed-out' }] } });
    expect(run.trace[0]!.durationMs).toBeGreaterThanOrEqual(150);
    expect(run.trace[0]!.durationMs).toBeLessThan(500);
    expect(elapsed).toBeLessThan(2500);
    expect(slow.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('custom output variable names', async () => {
    await deploy({
      id: 'we-custom-names',
      name: 'Custom output names',
      inputs: ['wf'],
      steps: [
        {
          id: 'run',
          type: 'WorkflowExecute',
          configuration: { configurationId: 'cfg-main', workflowId: '{{wf}}', workflowPayload: '{"name":"Grace"}', workflowResultOutputVarName: 'contact', workflowErrorOutputVarName: 'contactError' },
          branches: { OnSuccess: 'ok', OnError: 'ko' },
        },
        end('ok', 'Ok'),
        end('ko', 'Ko'),
      ],
    });
    const ok = await execute('we-custom-names', { wf: 'echo' });
    expect(ok).toMatchObject({ status: 'SUCCEEDED', branch: 'Ok', variables: { contact: { greeting: 'Hello Grace', echoed: 'Grace', extra: null }, contactError: null } });
    expect(ok.variables).not.toHaveProperty('workflowResultOutput');
    expect(ok.variables).not.toHaveProperty('workflowErrorOutput');
    const ko = await execute('we-custom-names', { wf: 'fail' });
    expect(ko).toMatchObject({ branch: 'Ko', variables: { contact: null, contactError: { code: 'WORKFLOW_FAILED' } } });
    expect(ko.variables).not.toHaveProperty('workflowErrorOutput');
  });

  it('Default when the branch taken is not wired (no OnIntegrationDisabled, no OnError)', async () => {
    await deploy({
      id: 'we-default',
      name: 'Default branch',
      inputs: ['cfg'],
      outputs: ['workflowResultOutput', 'workflowErrorOutput'],
      steps: [
        { id: 'run', type: 'WorkflowExecute', configuration: { configurationId: '{{cfg}}', workflowId: 'echo', workflowPayload: { name: '{{cfg}}' } }, branches: { OnSuccess: 'success' }, next: 'fallback' },
        end('success', 'Success'),
        end('fallback', 'Fallback'),
      ],
    });
    const disabled = await execute('we-default', { cfg: 'cfg-off' });
    expect(disabled).toMatchObject({ status: 'SUCCEEDED', branch: 'Fallback', variables: { workflowResultOutput: null, workflowErrorOutput: { code: 'INTEGRATION_DISABLED' } } });
    expect(path(disabled)).toEqual(['run:Default', 'fallback:Fallback']);
    // The object payload is rendered leaf by leaf.
    const enabled = await execute('we-default', { cfg: 'cfg-main' });
    expect(enabled).toMatchObject({ branch: 'Success', variables: { workflowResultOutput: { greeting: 'Hello cfg-main' }, workflowErrorOutput: null } });
  });
});

describe('the screen-pop example end to end', () => {
  it('a workflow looks the caller up in a real CRM; WorkflowExecute + CustomEvent push its result to the joined agent, who reads it as JSON text', async () => {
    await deploy(exampleJson('flows/crm-search-contact.json'));
    await deploy(exampleJson('flows/agent-screen-pop-ivr.json'));
    await putConfigurationOk('crm-agent', exampleJson('workflow-configurations/crm-agent.json'));

    const agent = newAgent('agent');
    await join(agent);
    const polling = nextEvent(agent, 10);
    const crmCalls = crm.requests.length;
    const run = await execute('agent-screen-pop-ivr', { dtmf_input: '212-555-1234#', AgentId: agent });
    expect(run).toMatchObject({ status: 'SUCCEEDED', branch: 'ScreenPopSent', variables: { route: 'agent', workflowErrorOutput: null } });
    expect(path(run)).toEqual(['format-phone:Default', 'search-contact:OnSuccess', 'screen-pop:Default', 'to-agent:ScreenPopSent']);
    expect(crm.requests.length - crmCalls).toBe(1);
    expect(new URL(crm.requests.at(-1)!.url, 'http://crm').searchParams.get('phone')).toBe('+12125551234');

    const res = await polling;
    expect(res.status).toBe(200);
    expect(res.body.events).toHaveLength(1);
    const [event] = res.body.events;
    expect(event).toMatchObject({ type: 'CustomEvent', eventName: 'CrmSearchContactResult' });
    expect(JSON.parse(event!.data)).toEqual({ found: true, contact: CONTACT });

    // An unknown caller: the workflow still succeeds, found false.
    const unknown = await execute('agent-screen-pop-ivr', { dtmf_input: '2125550000', AgentId: agent });
    expect(unknown).toMatchObject({ status: 'SUCCEEDED', branch: 'ScreenPopSent' });
    expect(JSON.parse((await events(agent))[0]!.data)).toMatchObject({ found: false });
  });
});
