/**
 * Execution search (`GET /executions`) and the audit trail (`GET /audit`) through the local stack
 * on DynamoDB Local: every filter alone and combined, newest first, paging without duplicates or
 * gaps while executions keep starting, a WAITING execution's status moving when it ends, bad
 * parameters as 400s naming the parameter; an audit entry for every kind of change, none for a
 * change that failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestStack, type TestStack } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

let stack: TestStack;
let backend: ScriptedServer;
const callbackUrls: string[] = [];

type Summary = { executionId: string; flowId: string; flowVersion: number; status: string; branch: string; contactId?: string; startedAt: string; durationMs: number };
type Listing<T> = { status: number; body: { items: T[]; nextCursor?: string; error: { code: string; message: string } } };
type Entry = { at: string; kind: string; subject: string; version?: number; actor: string };

const get = async <T>(path: string) => (await api(stack.api.url, 'GET', path)) as unknown as Listing<T>;
const search = (query: string) => get<Summary>(`/executions?${query}`);

/** Runs `outcome` (`done`, `fail`, `wait`) of a search flow for a contact. */
async function run(flowId: string, outcome: string, contactId: string): Promise<string> {
  const res = await api(stack.api.url, 'POST', `/flows/${flowId}/executions`, { variables: { outcome, base: backend.url }, contactId });
  expect(res.status).toBe(200);
  return res.body.executionId;
}

const searchFlow = (id: string) => ({
  id,
  name: `Search ${id}`,
  inputs: ['outcome', 'base'],
  deadlineMs: 400,
  allowedHosts: ['127.0.0.1'],
  steps: [
    {
      id: 'route',
      type: 'Condition',
      configuration: {
        conditions: [
          { expression: "outcome == 'fail'", nextStepId: 'failed' },
          { expression: "outcome == 'wait'", nextStepId: 'hold' },
        ],
        defaultStepId: 'done',
      },
    },
    {
      id: 'hold',
      type: 'HTTPRequest',
      configuration: { url: '{{base}}/jobs', method: 'POST', body: { callback_url: '{{callback_url}}' }, async: { maxWaitMs: 60000 } },
      branches: { OnSuccess: 'done', OnTimeout: 'failed', OnError: 'failed' },
    },
    { id: 'done', type: 'End', configuration: { outcome: 'Done' } },
    { id: 'failed', type: 'End', configuration: { outcome: 'Failed', status: 'FAILED' } },
  ],
});

const started: Record<string, string[]> = {};

beforeAll(async () => {
  backend = await startScriptedServer((req) => {
    if (req.url.startsWith('/down')) return { status: 503, body: {} };
    if (req.url.startsWith('/jobs')) {
      callbackUrls.push((JSON.parse(req.body) as { callback_url: string }).callback_url);
      return { status: 202, body: {} };
    }
    return { status: 200, body: {} };
  });
  stack = await startTestStack();
  for (const id of ['search-a', 'search-b']) expect((await api(stack.api.url, 'PUT', `/flows/${id}`, searchFlow(id))).status).toBe(201);
  // 32 executions: search-a 12 SUCCEEDED + 6 FAILED, search-b 10 SUCCEEDED + 4 FAILED; contacts c-0..c-3.
  const plan: Array<[string, string, number]> = [
    ['search-a', 'done', 12],
    ['search-a', 'fail', 6],
    ['search-b', 'fail', 4],
    ['search-b', 'done', 10],
  ];
  let n = 0;
  for (const [flowId, outcome, count] of plan) {
    for (let i = 0; i < count; i++) {
      const key = `${flowId}/${outcome}`;
      (started[key] ??= []).push(await run(flowId, outcome, `c-${n++ % 4}`));
    }
  }
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await backend?.close();
});

describe('GET /executions', () => {
  it('lists every execution newest first, 25 by default, each as a summary', async () => {
    const page = await search('');
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(25);
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const times = page.body.items.map((i) => i.startedAt);
    expect([...times].sort().reverse()).toEqual(times);
    expect(Object.keys(page.body.items[0]!).sort()).toEqual(['branch', 'contactId', 'durationMs', 'executionId', 'flowId', 'flowVersion', 'startedAt', 'status']);
    expect(page.body.items[0]).toMatchObject({ flowId: 'search-b', flowVersion: 1, status: 'SUCCEEDED', branch: 'Done', contactId: 'c-3' });
  });

  it('filters alone and combined: flow, status, contact, flow+status, contact+flow, contact+status', async () => {
    const ids = async (query: string) => (await search(`${query}&limit=100`)).body.items.map((i) => i.executionId).sort();
    const all = Object.values(started).flat();
    expect(await ids('')).toEqual([...all].sort());
    expect(await ids('flowId=search-a')).toEqual([...started['search-a/done']!, ...started['search-a/fail']!].sort());
    expect(await ids('status=FAILED')).toEqual([...started['search-a/fail']!, ...started['search-b/fail']!].sort());
    expect(await ids('status=TIMED_OUT')).toEqual([]);
    expect(await ids('flowId=search-b&status=SUCCEEDED')).toEqual([...started['search-b/done']!].sort());
    const byContact = (await search('contactId=c-1&limit=100')).body.items;
    expect(byContact).toHaveLength(8);
    expect(byContact.every((i) => i.contactId === 'c-1')).toBe(true);
    expect((await search('contactId=c-1&flowId=search-a&limit=100')).body.items.every((i) => i.flowId === 'search-a' && i.contactId === 'c-1')).toBe(true);
    expect((await search('contactId=c-2&status=FAILED&limit=100')).body.items.map((i) => i.status)).toEqual(expect.arrayContaining(['FAILED']));
    expect(await ids('flowId=nobody')).toEqual([]);
    expect(await ids('contactId=nobody')).toEqual([]);
  });

  it('since and until (ISO 8601 or relative) bound the window', async () => {
    const newest = (await search('limit=1')).body.items[0]!;
    expect((await search(`until=${encodeURIComponent(new Date(Date.parse(newest.startedAt) - 1).toISOString())}&limit=100`)).body.items.map((i) => i.executionId)).not.toContain(newest.executionId);
    expect((await search(`since=${encodeURIComponent(newest.startedAt)}&limit=100`)).body.items.map((i) => i.executionId)).toEqual([newest.executionId]);
    expect((await search('since=1h&limit=100')).body.items).toHaveLength(32);
    expect((await search('until=1h&limit=100')).body.items).toHaveLength(0);
  });

  it('pages follow each other without duplicates or gaps while new executions start', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let extra = 0;
    do {
      const page = await search(`limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((i) => i.executionId));
      cursor = page.body.nextCursor;
      // Newer executions start between pages: they sort before the cursor and never show up later.
      if (extra++ < 3) await run('search-a', 'done', 'c-late');
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(Object.values(started).flat().sort());
  });

  it('a WAITING execution is found by its status until it ends, then by its final one', async () => {
    const executionId = await run('search-b', 'wait', 'c-wait');
    const waiting = await search('status=WAITING&contactId=c-wait');
    expect(waiting.body.items.map((i) => [i.executionId, i.status, i.branch])).toEqual([[executionId, 'WAITING', 'Waiting']]);
    expect((await search('flowId=search-b&status=WAITING')).body.items.map((i) => i.executionId)).toEqual([executionId]);
    const res = await fetch(callbackUrls.at(-1)!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    expect((await search('status=WAITING')).body.items).toEqual([]);
    expect((await search('flowId=search-b&status=WAITING')).body.items).toEqual([]);
    expect((await search('contactId=c-wait')).body.items).toMatchObject([{ executionId, status: 'SUCCEEDED', branch: 'Done' }]);
  });

  it('bad parameters are 400s naming the parameter; limit is never clamped; a cursor of another query or a forged one is BAD_CURSOR', async () => {
    const bad = async (query: string, code: string, mentions: RegExp) => {
      const res = await search(query);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code, query).toBe(code);
      expect(res.body.error.message, query).toMatch(mentions);
    };
    await bad('limit=0', 'INVALID_PARAMETER', /limit/);
    await bad('limit=101', 'INVALID_PARAMETER', /limit.*1 to 100/);
    await bad('limit=ten', 'INVALID_PARAMETER', /limit/);
    await bad('status=DONE', 'INVALID_PARAMETER', /status.*SUCCEEDED/);
    await bad('since=yesterday', 'INVALID_PARAMETER', /since.*ISO 8601/);
    await bad('until=2026-13-45T00:00:00Z', 'INVALID_PARAMETER', /until/);
    await bad('since=1h&until=2h', 'INVALID_PARAMETER', /since .* is after until/);
    await bad('since=40d', 'INVALID_PARAMETER', /31 days/);
    await bad('flowId=no%20spaces', 'INVALID_PARAMETER', /flowId/);
    await bad('flow=search-a', 'INVALID_PARAMETER', /unknown query parameter 'flow'/);
    await bad('cursor=!!!', 'BAD_CURSOR', /base64url/);
    await bad(`cursor=${Buffer.from('{"pk":"EXEC#x","sk":"EXEC"}').toString('base64url')}`, 'BAD_CURSOR', /another query/);
    const other = (await search('flowId=search-a&limit=2')).body.nextCursor!;
    await bad(`flowId=search-b&cursor=${other}`, 'BAD_CURSOR', /another query/);
  });
});

describe('GET /audit', () => {
  it('records every kind of change with its actor (local here), newest first, filterable by kind', async () => {
    const put = (path: string, body: unknown) => api(stack.api.url, 'PUT', path, body);
    expect((await put('/connections/crm', { baseUrl: backend.url, authentication: { type: 'apiKey', apiKey: 'sk-audit-0123456789' } })).status).toBe(201);
    expect((await put('/connections/crm', { baseUrl: backend.url, authentication: { type: 'apiKey', apiKey: 'sk-audit-9876543210' } })).status).toBe(200);
    expect((await put('/flows/search-a', searchFlow('search-a'))).status).toBe(200);
    expect((await put('/flows/audit-wf', { id: 'audit-wf', name: 'Audit workflow', flowType: 'Workflow', steps: [{ id: 'end', type: 'End', configuration: {} }] })).status).toBe(201);
    expect((await put('/workflow-configurations/audit-config', { enabled: true, connection: 'crm', workflows: { 'search-contact': { flowId: 'audit-wf' } } })).status).toBe(201);
    expect((await api(stack.api.url, 'DELETE', '/workflow-configurations/audit-config')).status).toBe(204);
    expect((await api(stack.api.url, 'DELETE', '/connections/crm')).status).toBe(204);
    expect((await api(stack.api.url, 'DELETE', '/flows/search-b')).status).toBe(204);
    const entries = (await get<Entry>('/audit?limit=100')).body.items;
    const kinds = entries.map((e) => `${e.kind} ${e.subject}${e.version === undefined ? '' : ` v${e.version}`}`);
    expect(kinds.slice(0, 8)).toEqual([
      'flow.deleted search-b',
      'connection.deleted crm',
      'workflow-configuration.deleted audit-config',
      'workflow-configuration.put audit-config',
      'flow.deployed audit-wf v1',
      'flow.deployed search-a v2',
      'connection.replaced crm',
      'connection.created crm',
    ]);
    expect(kinds).toEqual(expect.arrayContaining(['flow.deployed search-a v1', 'flow.deployed search-b v1']));
    for (const e of entries) expect(e).toMatchObject({ actor: 'local', at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) as unknown });
    // No credential in any entry.
    expect(JSON.stringify(entries)).not.toMatch(/sk-audit/);
    expect((await get<Entry>('/audit?kind=connection.created')).body.items.map((e) => e.subject)).toEqual(['crm']);
  });

  it('a change that failed leaves no entry: a refused flow, a delete of nothing, a conflicting version', async () => {
    const before = (await get<Entry>('/audit?limit=100')).body.items.length;
    expect((await api(stack.api.url, 'PUT', '/flows/broken', { id: 'broken', name: 'Broken', steps: [{ id: 'x', type: 'Nope' }] })).status).toBe(422);
    expect((await api(stack.api.url, 'DELETE', '/flows/never-there')).status).toBe(404);
    expect((await api(stack.api.url, 'DELETE', '/connections/never-there')).status).toBe(404);
    expect((await api(stack.api.url, 'DELETE', `/circuits/${encodeURIComponent('GET example.com/none')}`)).status).toBe(404);
    expect((await api(stack.api.url, 'PUT', '/flows/search-a', { ...searchFlow('search-a'), version: 9 })).status).toBe(409);
    expect((await get<Entry>('/audit?limit=100')).body.items).toHaveLength(before);
  });

  it('a circuit reset is recorded', async () => {
    const flow = {
      id: 'trip',
      name: 'Trips a circuit',
      allowedHosts: ['127.0.0.1'],
      inputs: ['base'],
      steps: [
        { id: 'call', type: 'HTTPRequest', configuration: { url: '{{base}}/down', retryPolicy: { maxRetries: 0 }, circuitBreaker: { failureThreshold: 1, cooldownMs: 60000 } }, branches: { OnError: 'end' } },
        { id: 'end', type: 'End', configuration: {} },
      ],
    };
    expect((await api(stack.api.url, 'PUT', '/flows/trip', flow)).status).toBe(201);
    await api(stack.api.url, 'POST', '/flows/trip/executions', { variables: { base: backend.url } });
    const circuits = (await api(stack.api.url, 'GET', '/circuits')).body.items;
    expect(circuits.length).toBeGreaterThan(0);
    const key = circuits[0]!.key;
    expect((await api(stack.api.url, 'DELETE', `/circuits/${encodeURIComponent(key)}`)).status).toBe(204);
    expect((await get<Entry>('/audit?kind=circuit.reset')).body.items).toMatchObject([{ kind: 'circuit.reset', subject: key, actor: 'local' }]);
  });

  it('bad parameters are 400s', async () => {
    for (const [query, mentions] of [
      ['kind=flow.renamed', /kind.*flow\.deployed/],
      ['limit=500', /limit/],
      ['since=500d', /400 days/],
      ['cursor=abc$', /cursor/],
    ] as const) {
      const res = await get<Entry>(`/audit?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.message, query).toMatch(mentions);
    }
  });
});
