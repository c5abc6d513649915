/**
 * Declared inputs enforced, end to end on the local stack (DynamoDB Local, the real handlers behind
 * the local API server, Amazon Connect through the local Lambda Invoke API with the real SDK): what a
 * caller sends beyond a flow's `inputs` never reaches a template, typed inputs are checked and the
 * text IVR platforms send is accepted, a missing required input is a 400 (Connect: a coded answer)
 * and runs nothing. A real loopback backend shows what the flow sent.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliProcess as cli } from '../support/cli';
import { api, startTestStack } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;
let backend: ScriptedServer;
let lambda: LambdaClient;

/** The body every run sends: each declared input, and three variables the flow never declared. */
const SENT = { account: '{{account}}', amount: '{{amount}}', vip: '{{vip}}', profile: '{{profile}}', note: '{{note}}', crm_base_url: '{{crm_base_url}}', injected: '{{injected}}', caller: '{{customer_number}}', contact: '{{contact_id}}' };

const FLOWS = [
  {
    id: 'typed-lookup',
    name: 'Typed inputs',
    inputs: [{ name: 'account', type: 'string', required: true }, { name: 'amount', type: 'number' }, { name: 'vip', type: 'boolean' }, { name: 'profile', type: 'object' }, 'note'],
    outputs: ['status'],
    steps: [
      { id: 'post', type: 'HTTPRequest', configuration: { url: '/inputs', method: 'POST', authentication: { connection: 'inputs-backend' }, body: SENT, responseMapping: { status: '$.ok' } }, branches: { OnSuccess: 'done' } },
      { id: 'done', type: 'End', configuration: { outcome: 'Sent' } },
    ],
  },
  {
    id: 'calls-typed-lookup',
    name: 'Calls typed-lookup without its required input',
    inputs: ['amount'],
    outputs: ['child_error'],
    steps: [
      { id: 'child', type: 'SubFlow', configuration: { flowId: 'typed-lookup', passThroughVariables: ['amount'] }, branches: { OnSuccess: 'ok', OnError: 'failed' } },
      { id: 'ok', type: 'End', configuration: { outcome: 'Ok' } },
      { id: 'failed', type: 'End', configuration: { outcome: 'ChildFailed' } },
    ],
  },
  {
    id: 'undeclared',
    name: 'Declares no inputs: receives every variable',
    steps: [
      { id: 'post', type: 'HTTPRequest', configuration: { url: '/inputs', method: 'POST', authentication: { connection: 'inputs-backend' }, body: { anything: '{{anything}}' } }, branches: { OnSuccess: 'done' } },
      { id: 'done', type: 'End', configuration: { outcome: 'Sent' } },
    ],
  },
];

/** The JSON bodies the backend received since `from`. */
const bodiesSince = (from: number) => backend.requests.slice(from).map((r) => JSON.parse(r.body) as Record<string, unknown>);

beforeAll(async () => {
  backend = await startScriptedServer(() => ({ status: 200, body: { ok: 'received' } }));
  stack = await startTestStack({ flowCacheTtlMs: 0 });
  lambda = new LambdaClient({ region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, endpoint: stack.api.url });
  expect((await api(stack.api.url, 'PUT', '/connections/inputs-backend', { baseUrl: backend.url, authentication: { type: 'none' } })).status).toBe(201);
  for (const flow of FLOWS) {
    const res = await api(stack.api.url, 'PUT', `/flows/${flow.id}`, flow);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await backend?.close();
});

describe('declared inputs over HTTP', () => {
  it('only declared inputs reach a template: undeclared caller variables are null, text becomes the declared type', async () => {
    const from = backend.requests.length;
    const run = await api(stack.api.url, 'POST', '/flows/typed-lookup/executions', {
      variables: { account: 'A-1', amount: '12.50', vip: 'TRUE', profile: { tier: 'gold' }, note: 'hi', crm_base_url: 'https://evil.example.net', injected: 'x', customer_number: '+15550100' },
      contactId: 'c-42',
    });
    expect(run).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'Sent' } });
    expect(bodiesSince(from)).toEqual([{ account: 'A-1', amount: 12.5, vip: true, profile: { tier: 'gold' }, note: 'hi', crm_base_url: null, injected: null, caller: null, contact: 'c-42' }]);
  });

  it('a declared input left out is null; a number or boolean given for a string is its text', async () => {
    const from = backend.requests.length;
    const run = await api(stack.api.url, 'POST', '/flows/typed-lookup/executions', { variables: { account: 7781 } });
    expect(run.status).toBe(200);
    expect(bodiesSince(from)).toEqual([{ account: '7781', amount: null, vip: null, profile: null, note: null, crm_base_url: null, injected: null, caller: null, contact: null }]);
  });

  it('a missing required input is a 400 MISSING_INPUT naming it; nothing runs', async () => {
    const from = backend.requests.length;
    for (const variables of [{}, { account: null }, { amount: 3 }]) {
      const r = await api(stack.api.url, 'POST', '/flows/typed-lookup/executions', { variables });
      expect(r).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', details: [{ code: 'MISSING_INPUT', path: 'variables.account' }] } } });
      expect(r.body.error.message).toBe("flow 'typed-lookup': input 'account' is required");
    }
    expect(backend.requests.length).toBe(from);
  });

  it('inputs of the wrong type are a 400 INVALID_INPUT naming each, never echoing a value', async () => {
    const from = backend.requests.length;
    const r = await api(stack.api.url, 'POST', '/flows/typed-lookup/executions', { variables: { account: { no: 1 }, amount: '4111111111111111x', vip: 'yes', profile: 'gold' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_INPUT');
    expect(r.body.error.details).toEqual([
      { code: 'INVALID_INPUT', path: 'variables.account', message: "input 'account' must be a string, got an object" },
      { code: 'INVALID_INPUT', path: 'variables.amount', message: "input 'amount' must be a number, got a string" },
      { code: 'INVALID_INPUT', path: 'variables.vip', message: "input 'vip' must be a boolean, got a string" },
      { code: 'INVALID_INPUT', path: 'variables.profile', message: "input 'profile' must be an object, got a string" },
    ]);
    expect(r.body.error.message).toBe("flow 'typed-lookup': input 'account' must be a string, got an object (and 3 more input problems)");
    expect(JSON.stringify(r.body)).not.toContain('4111111111111111');
    expect(backend.requests.length).toBe(from);
  });

  it('a refused request claims no Idempotency-Key: the corrected retry with the same key runs', async () => {
    const key = `inputs-${randomUUID()}`;
    expect((await api(stack.api.url, 'POST', '/flows/typed-lookup/executions', { variables: {} }, { 'Idempotency-Key': key })).status).toBe(400);
    const from = backend.requests.length;
    const retry = await api(stack.api.url, 'POST', '/flows/typed-lookup/executions', { variables: { account: 'A-9' } }, { 'Idempotency-Key': key });
    expect(retry).toMatchObject({ status: 200, body: { status: 'SUCCEEDED' } });
    expect(backend.requests.length).toBe(from + 1);
  });

  it('a SubFlow step that leaves out the child’s required input takes OnError with INVALID_INPUT; the child never runs', async () => {
    const from = backend.requests.length;
    const run = await api(stack.api.url, 'POST', '/flows/calls-typed-lookup/executions', { variables: { amount: 5 } });
    expect(run).toMatchObject({ status: 200, body: { status: 'SUCCEEDED', branch: 'ChildFailed' } });
    const record = await api(stack.api.url, 'GET', `/executions/${run.body.executionId}`);
    expect(record.body).toMatchObject({ trace: [{ stepId: 'child', branch: 'OnError', error: { type: 'subflow_failed', message: "flow 'typed-lookup': input 'account' is required" } }, { stepId: 'failed' }] });
    expect(backend.requests.length).toBe(from);
  });

  it('a flow that declares no inputs receives every variable it is given', async () => {
    const from = backend.requests.length;
    expect((await api(stack.api.url, 'POST', '/flows/undeclared/executions', { variables: { anything: 'goes' } })).status).toBe(200);
    expect(bodiesSince(from)).toEqual([{ anything: 'goes' }]);
  });
});

describe('declared inputs from Amazon Connect', () => {
  const EXAMPLE = JSON.parse(readFileSync(new URL('../../examples/events/connect-contact-flow-event.json', import.meta.url), 'utf8')) as { Details: { ContactData: { ContactId: string }; Parameters: Record<string, unknown> } };

  async function invoke(parameters: Record<string, unknown>): Promise<Record<string, string>> {
    const event = structuredClone(EXAMPLE);
    event.Details.ContactData.ContactId = randomUUID();
    event.Details.Parameters = parameters;
    const res = await lambda.send(new InvokeCommand({ FunctionName: 'ConnectInvoke', Payload: Buffer.from(JSON.stringify(event)) }));
    expect(res.FunctionError).toBeUndefined();
    return JSON.parse(Buffer.from(res.Payload ?? new Uint8Array()).toString('utf8')) as Record<string, string>;
  }

  it('the contact’s variables (customer_number, …) reach only a flow that declares them; parameters are typed from their text', async () => {
    const from = backend.requests.length;
    const answer = await invoke({ flowId: 'typed-lookup', account: 'A-2', amount: '7', vip: 'false', crm_base_url: 'https://evil.example.net' });
    expect(answer).toMatchObject({ ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Sent' });
    expect(bodiesSince(from)).toEqual([{ account: 'A-2', amount: 7, vip: false, profile: null, note: null, crm_base_url: null, injected: null, caller: null, contact: expect.any(String) as unknown }]);
  });

  it('a missing required input is a coded answer (ivrflow_error INVALID_INPUT), not a Lambda error', async () => {
    const from = backend.requests.length;
    const answer = await invoke({ flowId: 'typed-lookup', amount: 'seven' });
    expect(answer).toMatchObject({ ivrflow_status: 'ERROR', ivrflow_error: 'INVALID_INPUT' });
    expect(answer['ivrflow_message']).toMatch(/input 'account' is required \(and 1 more input problem\)/);
    expect(backend.requests.length).toBe(from);
  });
});

describe('declared inputs in ivrflow run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ivrflow-inputs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('a missing required input or a wrong type exits 2 naming each; --var text is typed; undeclared --var never reaches the backend', async () => {
    const flow = { ...FLOWS[0]!, steps: [{ ...FLOWS[0]!.steps[0]!, configuration: { ...FLOWS[0]!.steps[0]!.configuration, url: `${backend.url}/inputs`, authentication: undefined } }, FLOWS[0]!.steps[1]!] };
    const file = join(dir, 'typed-lookup.json');
    writeFileSync(file, JSON.stringify(flow));
    const missing = await cli(['run', file, '--var', 'amount=ten']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("MISSING_INPUT variables.account: input 'account' is required");
    expect(missing.stderr).toContain("INVALID_INPUT variables.amount: input 'amount' must be a number, got a string");
    const from = backend.requests.length;
    const ok = await cli(['run', file, '--var', 'account=A-3', '--var', 'amount=10', '--var', 'injected=x', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(bodiesSince(from)).toEqual([{ account: 'A-3', amount: 10, vip: null, profile: null, note: null, crm_base_url: null, injected: null, caller: null, contact: null }]);
  }, 20_000);
});
