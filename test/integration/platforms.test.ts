/**
 * The platforms that call ivrflow, end to end on the local stack (DynamoDB Local, the real
 * handlers behind the local API server): Amazon Connect's "Invoke AWS Lambda function" block,
 * invoked with the real `@aws-sdk/client-lambda` through the local Lambda Invoke API, and HTTP
 * callers that cannot send JSON with headers (form-urlencoded bodies, GET query parameters,
 * `?shape=` and `?maxBytes=`). A real loopback backend (scripted server) counts the calls flows make.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECT_INVOKE_TIMEOUT_MS, CONNECT_MARGIN_MS } from '#shared/platforms/connect';
import { DEFAULT_MAX_ANSWER_BYTES } from '#shared/platforms/answers';
import { FUNCTIONS, type FunctionSpec } from '../../functions/manifest';
import { startTestStack } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
type Answer = Record<string, unknown>;

/** The fields of the documentation's ContactFlowEvent the tests change. */
interface ContactFlowEvent {
  Details: { ContactData: { ContactId: string; InitialContactId?: string } & Record<string, unknown>; Parameters: Record<string, unknown> };
  Name: string;
}

const EXAMPLE = JSON.parse(readFileSync(new URL('../../examples/events/connect-contact-flow-event.json', import.meta.url), 'utf8')) as ContactFlowEvent;
const BIG_BLOB = 'x'.repeat(40_000);
const MEDIUM_BLOB = 'm'.repeat(600);

let stack: Stack;
let backend: ScriptedServer;
let lambda: LambdaClient;

/** The documentation's event with these parameters (and, unless given, a contact id of its own). */
function connectEvent(parameters: Record<string, unknown>, contactId: string = randomUUID()): ContactFlowEvent {
  const event = structuredClone(EXAMPLE);
  event.Details.ContactData.ContactId = contactId;
  event.Details.ContactData.InitialContactId = contactId;
  event.Details.Parameters = parameters;
  return event;
}

/** One RequestResponse invocation through the Lambda Invoke API with the real SDK. */
async function invoke(functionName: string, event: unknown): Promise<{ statusCode: number | undefined; functionError: string | undefined; bytes: number; answer: Answer }> {
  const res = await lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(event)) }));
  const text = Buffer.from(res.Payload ?? new Uint8Array()).toString('utf8');
  return { statusCode: res.StatusCode, functionError: res.FunctionError, bytes: Buffer.byteLength(text), answer: JSON.parse(text) as Answer };
}

/** An invocation whose answer is a coded error: StatusCode 200, no FunctionError, `ivrflow_status` ERROR. */
async function codedError(event: unknown): Promise<Answer> {
  const res = await invoke('ConnectInvoke', event);
  expect(res.statusCode).toBe(200);
  expect(res.functionError).toBeUndefined();
  expect(res.answer['ivrflow_status']).toBe('ERROR');
  expect(typeof res.answer['ivrflow_message']).toBe('string');
  for (const value of Object.values(res.answer)) expect(typeof value).toBe('string');
  return res.answer;
}

/** fetch against the local API; the answer's JSON (or undefined). */
async function request(method: string, path: string, init: { contentType?: string; body?: string } = {}): Promise<{ status: number; body: Answer & { error?: { code: string; message: string } } }> {
  const res = await fetch(`${stack.api.url}${path}`, { method, headers: init.contentType ? { 'content-type': init.contentType } : {}, ...(init.body === undefined ? {} : { body: init.body }) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Answer & { error?: { code: string; message: string } } };
}

const FORM = 'application/x-www-form-urlencoded';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** Requests the backend got on a path (any query). */
const hits = (path: string) => backend.requests.filter((r) => r.url.split('?')[0] === path);
const hitsFor = (contact: string) => backend.requests.filter((r) => r.url === `/hit?c=${encodeURIComponent(contact)}`).length;

const end = (id: string, outcome: string, outputs?: Record<string, unknown>) => ({ id, type: 'End', configuration: { outcome, ...(outputs ? { outputs } : {}) } });
const get = (id: string, url: string, responseMapping: Record<string, string>, branches: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'HTTPRequest',
  configuration: { url, method: 'GET', authentication: { connection: 'platform-backend' }, responseMapping, ...extra },
  branches,
});

/** What the Connect echo flow returns: the contact's variables, the parameters, the control parameters (never variables) and one never set. */
const ECHOED = ['dtmf_input', 'nested', 'contact_id', 'initial_contact_id', 'customer_number', 'system_number', 'channel', 'queue_name', 'language_code', 'contact_attributes', 'flowId', 'responseType', 'never_set'];

const FLOWS = [
  // The contact's variables reach a flow that declares them (a flow gets only its declared inputs).
  {
    id: 'connect-echo',
    name: 'Echoes its inputs',
    flowType: 'IVR',
    inputs: ['dtmf_input', 'nested', 'initial_contact_id', 'customer_number', 'system_number', 'channel', 'queue_name', 'language_code', 'contact_attributes'],
    outputs: ECHOED,
    steps: [end('done', 'Echoed')],
  },
  {
    id: 'connect-counted',
    name: 'Calls the backend once per run',
    flowType: 'IVR',
    outputs: ['hits'],
    steps: [get('lookup', '/hit?c={{contact_id}}', { hits: '$.n' }, { OnSuccess: 'done', OnError: 'failed' }), end('done', 'Counted'), end('failed', 'Failed')],
  },
  {
    id: 'connect-slow',
    name: 'A backend slower than Connect waits',
    flowType: 'IVR',
    outputs: ['http_status_code'],
    steps: [get('slow', '/slow', {}, { OnSuccess: 'done', OnTimeout: 'fallback', OnError: 'failed' }, { timeout: 6000 }), end('done', 'Done'), end('fallback', 'Fallback'), end('failed', 'Failed')],
  },
  {
    id: 'big-answer',
    name: 'Outputs over 32 KB',
    flowType: 'IVR',
    outputs: ['blob'],
    steps: [get('big', '/big', { blob: '$.blob' }, { OnSuccess: 'done', OnError: 'failed' }), end('done', 'Big'), end('failed', 'Failed')],
  },
  {
    id: 'http-echo',
    name: 'Echoes x and y, calls the backend',
    flowType: 'IVR',
    inputs: ['x', 'y'],
    outputs: ['x', 'y', 'hits', 'info'],
    steps: [get('lookup', '/hit?c=http', { hits: '$.n', info: '$.info' }, { OnSuccess: 'done', OnError: 'failed' }), end('done', 'Echoed'), end('failed', 'Failed')],
  },
  { id: 'http-medium', name: 'An answer of about 700 bytes', flowType: 'IVR', outputs: ['blob'], steps: [end('done', 'Medium', { blob: MEDIUM_BLOB })] },
];

beforeAll(async () => {
  backend = await startScriptedServer((req, n) => {
    const path = req.url.split('?')[0];
    if (path === '/slow') return { status: 200, body: { late: true }, delayMs: 20_000 };
    if (path === '/big') return { status: 200, body: { blob: BIG_BLOB } };
    return { status: 200, body: { n: n + 1, info: { a: 1, b: [true, null] } } };
  });
  stack = await startTestStack({ flowCacheTtlMs: 0 });
  lambda = new LambdaClient({ region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, endpoint: stack.api.url });
  const connection = await request('PUT', '/connections/platform-backend', { contentType: 'application/json', body: JSON.stringify({ baseUrl: backend.url, authentication: { type: 'none' } }) });
  expect(connection.status, JSON.stringify(connection.body)).toBe(201);
  for (const flow of FLOWS) {
    const res = await request('PUT', `/flows/${flow.id}`, { contentType: 'application/json', body: JSON.stringify(flow) });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
}, 60_000);

afterAll(async () => {
  lambda?.destroy();
  await stack?.close();
  await backend?.close();
});

describe('Amazon Connect: ConnectInvoke through the Lambda Invoke API', () => {
  it("the documentation's ContactFlowEvent: the parameters and the contact become variables; the answer is a STRING_MAP", async () => {
    const event = structuredClone(EXAMPLE);
    expect(event.Details.Parameters['flowId']).toBe('account-lookup-hub');
    event.Details.Parameters['flowId'] = 'connect-echo';
    const res = await invoke('ConnectInvoke', event);
    expect(res.statusCode).toBe(200);
    expect(res.functionError).toBeUndefined();
    const contactId = EXAMPLE.Details.ContactData.ContactId;
    expect(res.answer).toEqual({
      dtmf_input: '2125551234',
      contact_id: contactId,
      initial_contact_id: contactId,
      customer_number: '+12125551234',
      system_number: '+12345678901',
      channel: 'VOICE',
      queue_name: 'PasswordReset',
      language_code: 'en-US',
      'contact_attributes.language': 'en-US',
      'contact_attributes.ivr_path': 'main-menu',
      // Declared but not set: null → ''. flowId and responseType are control parameters, never variables.
      nested: '',
      flowId: '',
      responseType: '',
      never_set: '',
      ivrflow_status: 'SUCCEEDED',
      ivrflow_branch: 'Echoed',
      ivrflow_execution_id: expect.any(String) as unknown,
    });
    for (const [key, value] of Object.entries(res.answer)) expect(typeof value, key).toBe('string');
    // The stored record keeps the contact's attributes as an object (flattening is the answer's shape only).
    const record = await request('GET', `/executions/${res.answer['ivrflow_execution_id'] as string}`);
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({ flowId: 'connect-echo', status: 'SUCCEEDED', variables: { contact_attributes: { language: 'en-US', ivr_path: 'main-menu' }, flowId: null, responseType: null } });
  });

  it('nested parameters flatten to dotted keys with string values (numbers, booleans, null → "", empty object/array kept as text)', async () => {
    const contactId = randomUUID();
    const event = connectEvent({ flowId: 'connect-echo', dtmf_input: '42', nested: { account: { id: 7, vip: true, note: null }, items: [{ sku: 'A1' }, 'two'], empty: {}, none: [] } }, contactId);
    event.Details.ContactData['Attributes'] = {};
    event.Details.ContactData['Queue'] = null;
    delete event.Details.ContactData['LanguageCode'];
    const { answer } = await invoke('ConnectInvoke', event);
    expect(answer).toMatchObject({
      dtmf_input: '42',
      'nested.account.id': '7',
      'nested.account.vip': 'true',
      'nested.account.note': '',
      'nested.items.0.sku': 'A1',
      'nested.items.1': 'two',
      'nested.empty': '{}',
      'nested.none': '[]',
      contact_id: contactId,
      contact_attributes: '{}',
      queue_name: '',
      language_code: '',
      ivrflow_status: 'SUCCEEDED',
    });
    expect(answer).not.toHaveProperty('nested');
    for (const [key, value] of Object.entries(answer)) expect(typeof value, key).toBe('string');
  });

  it("Parameters.responseType 'JSON': a nested JSON answer with the ivrflow_* keys", async () => {
    const contactId = randomUUID();
    const { answer, functionError } = await invoke('ConnectInvoke', connectEvent({ flowId: 'connect-echo', responseType: 'JSON', dtmf_input: '1', nested: { a: [1, { b: true }], c: null } }, contactId));
    expect(functionError).toBeUndefined();
    expect(answer).toEqual({
      dtmf_input: '1',
      nested: { a: [1, { b: true }], c: null },
      contact_id: contactId,
      initial_contact_id: contactId,
      customer_number: '+12125551234',
      system_number: '+12345678901',
      channel: 'VOICE',
      queue_name: 'PasswordReset',
      language_code: 'en-US',
      contact_attributes: { language: 'en-US', ivr_path: 'main-menu' },
      flowId: null,
      responseType: null,
      never_set: null,
      ivrflow_status: 'SUCCEEDED',
      ivrflow_branch: 'Echoed',
      ivrflow_execution_id: expect.any(String) as unknown,
    });
  });

  it('outputs over 32 KB: a coded RESPONSE_TOO_LARGE answer naming the execution (never a cut answer), itself under 32 KB', async () => {
    for (const responseType of [undefined, 'JSON']) {
      const res = await invoke('ConnectInvoke', connectEvent({ flowId: 'big-answer', ...(responseType ? { responseType } : {}) }));
      expect(res.statusCode).toBe(200);
      expect(res.functionError).toBeUndefined();
      expect(res.answer).toEqual({ ivrflow_status: 'ERROR', ivrflow_error: 'RESPONSE_TOO_LARGE', ivrflow_message: expect.stringContaining(String(DEFAULT_MAX_ANSWER_BYTES)) as unknown, ivrflow_execution_id: expect.any(String) as unknown });
      expect(res.bytes).toBeLessThan(DEFAULT_MAX_ANSWER_BYTES);
      expect(JSON.stringify(res.answer)).not.toContain('xxxxxxxx');
      // The execution ran and its record is whole.
      const record = await request('GET', `/executions/${res.answer['ivrflow_execution_id'] as string}`);
      expect(record.body).toMatchObject({ status: 'SUCCEEDED', branch: 'Big', variables: { blob: BIG_BLOB } });
    }
  });

  it('a retried invocation (same ContactId and flowId) does not run the flow again: one backend call, identical answers', async () => {
    const contactId = randomUUID();
    const event = connectEvent({ flowId: 'connect-counted' }, contactId);
    const first = await invoke('ConnectInvoke', event);
    const retry = await invoke('ConnectInvoke', event);
    expect(first.answer).toMatchObject({ ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Counted' });
    expect(typeof first.answer['hits']).toBe('string');
    expect(retry.answer).toEqual(first.answer);
    expect(hitsFor(contactId)).toBe(1);
  });

  it('a retry that arrives while the first invocation still runs waits for it: one backend call, identical answers', async () => {
    const contactId = randomUUID();
    const event = connectEvent({ flowId: 'connect-counted' }, contactId);
    const answers = await Promise.all([invoke('ConnectInvoke', event), invoke('ConnectInvoke', event), invoke('ConnectInvoke', event)]);
    expect(answers[0].answer).toMatchObject({ ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Counted' });
    for (const a of answers) expect(a.answer).toEqual(answers[0].answer);
    expect(hitsFor(contactId)).toBe(1);
  });

  it('the same contact running the flow again with other inputs (a re-prompt loop) runs it again; a contact id that is no header value still works', async () => {
    const contactId = `contact with space ${'x'.repeat(230)}`;
    const first = await invoke('ConnectInvoke', connectEvent({ flowId: 'connect-counted', attempt: '1' }, contactId));
    const second = await invoke('ConnectInvoke', connectEvent({ flowId: 'connect-counted', attempt: '2' }, contactId));
    expect(first.answer).toMatchObject({ ivrflow_status: 'SUCCEEDED' });
    expect(second.answer).toMatchObject({ ivrflow_status: 'SUCCEEDED' });
    expect(second.answer['ivrflow_execution_id']).not.toBe(first.answer['ivrflow_execution_id']);
    expect(hitsFor(contactId)).toBe(2);
  });

  it('another contact runs the flow again', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const first = await invoke('ConnectInvoke', connectEvent({ flowId: 'connect-counted' }, a));
    const second = await invoke('ConnectInvoke', connectEvent({ flowId: 'connect-counted' }, b));
    expect(second.answer['ivrflow_execution_id']).not.toBe(first.answer['ivrflow_execution_id']);
    expect([hitsFor(a), hitsFor(b)]).toEqual([1, 1]);
  });

  it("a backend slower than Connect's 8 s: the flow takes its OnTimeout fallback and answers within the function's timeout", async () => {
    expect(CONNECT_INVOKE_TIMEOUT_MS).toBe(8000);
    const before = hits('/slow').length;
    const started = Date.now();
    const res = await invoke('ConnectInvoke', connectEvent({ flowId: 'connect-slow' }));
    const elapsed = Date.now() - started;
    expect(res.functionError).toBeUndefined();
    expect(res.answer).toMatchObject({ ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Fallback', http_status_code: '' });
    expect(elapsed).toBeLessThan(CONNECT_INVOKE_TIMEOUT_MS);
    expect(elapsed).toBeGreaterThanOrEqual(5900);
    expect(hits('/slow').length - before).toBe(1);
    const record = await request('GET', `/executions/${res.answer['ivrflow_execution_id'] as string}`);
    expect(record.body).toMatchObject({ status: 'SUCCEEDED', branch: 'Fallback', trace: [{ stepId: 'slow', branch: 'OnTimeout', error: { type: 'timeout' } }, { stepId: 'fallback' }] });
  }, 20_000);

  it('the run deadline is the time Connect allows less the margin: a backend slower than the deadline still takes its fallback before 8 s', async () => {
    expect(CONNECT_MARGIN_MS).toBeGreaterThan(0);
    await request('PUT', '/flows/connect-slow-unbounded', {
      contentType: 'application/json',
      body: JSON.stringify({
        id: 'connect-slow-unbounded',
        name: 'Step timeout longer than Connect waits',
        flowType: 'IVR',
        deadlineMs: 30_000,
        steps: [get('slow', '/slow', {}, { OnSuccess: 'done', OnTimeout: 'fallback', OnError: 'failed' }, { timeout: 30_000 }), end('done', 'Done'), end('fallback', 'Fallback'), end('failed', 'Failed')],
      }),
    });
    const started = Date.now();
    const res = await invoke('ConnectInvoke', connectEvent({ flowId: 'connect-slow-unbounded' }));
    const elapsed = Date.now() - started;
    expect(res.functionError).toBeUndefined();
    expect(elapsed).toBeLessThan(CONNECT_INVOKE_TIMEOUT_MS);
    expect(elapsed).toBeGreaterThanOrEqual(CONNECT_INVOKE_TIMEOUT_MS - CONNECT_MARGIN_MS - 500);
    // The step's wait is clipped to the run's deadline less the finish reserve: the flow's own OnTimeout route still answers.
    expect(res.answer).toMatchObject({ ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Fallback' });
  }, 20_000);

  it('caller mistakes are coded answers (StatusCode 200, no FunctionError): no flowId, an unknown flow, a parameter that is not a variable name, not a Connect event', async () => {
    expect(await codedError(connectEvent({ dtmf_input: '1' }))).toMatchObject({ ivrflow_error: 'MISSING_FLOW_ID' });
    expect(await codedError(connectEvent({ flowId: '' }))).toMatchObject({ ivrflow_error: 'MISSING_FLOW_ID' });
    expect(await codedError(connectEvent({ flowId: 42 }))).toMatchObject({ ivrflow_error: 'MISSING_FLOW_ID' });
    expect(await codedError(connectEvent({ flowId: 'no-such-flow' }))).toMatchObject({ ivrflow_error: 'NOT_FOUND' });
    const badName = await codedError(connectEvent({ flowId: 'connect-echo', 'bad-name': 'x' }));
    expect(badName['ivrflow_error']).toBe('INVALID_BODY');
    expect(badName['ivrflow_message']).toContain('bad-name');
    expect(await codedError({})).toMatchObject({ ivrflow_error: 'INVALID_EVENT' });
    expect(await codedError({ Details: { ContactData: {}, Parameters: { flowId: 'connect-echo' } } })).toMatchObject({ ivrflow_error: 'INVALID_EVENT', ivrflow_message: expect.stringContaining('ContactId') as unknown });
    expect(await codedError('not an object')).toMatchObject({ ivrflow_error: 'INVALID_EVENT' });
  });

  it('serve has every function of the manifest: each on the Invoke API by its id, HTTP ones on every route', async () => {
    expect([...stack.functionNames].sort()).toEqual(
      Object.values(FUNCTIONS)
        .map((f) => f.id)
        .sort(),
    );
    for (const spec of Object.values(FUNCTIONS) as FunctionSpec[]) {
      if (spec.trigger.type !== 'http') continue;
      for (const routeKey of spec.trigger.routes) {
        const [method, path] = routeKey.split(' ') as [string, string];
        const res = await fetch(`${stack.api.url}${path.replace(/\{[^}]+\}/g, 'x')}`, { method, ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}', headers: { 'content-type': 'application/json' } }) });
        // The route reached its function: whatever it answers, it is not the local server's own "no route" 404.
        expect((await res.text()).includes('NO_ROUTE'), routeKey).toBe(false);
      }
    }
    // The basic authorizer answers for the callers' secret (none here: not authorized).
    expect((await invoke('BasicAuthorizer', { headers: { authorization: 'Basic dTpw' } })).answer).toEqual({ isAuthorized: false });
  });

  it('the Invoke API: an unknown function name is ResourceNotFoundException from the SDK', async () => {
    await expect(lambda.send(new InvokeCommand({ FunctionName: 'NoSuchFunction', Payload: Buffer.from('{}') }))).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
  });

  it('the Invoke API: TokenRefresher and WaitSweeper invoked with an EventBridge scheduled event answer their summaries', async () => {
    const scheduled = (fn: string) => ({
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [`arn:aws:events:us-east-1:000000000000:rule/${fn}-schedule`],
      detail: {},
    });
    const refresher = await invoke('TokenRefresher', scheduled('TokenRefresher'));
    expect(refresher).toMatchObject({ statusCode: 200, functionError: undefined });
    expect(refresher.answer).toEqual({ checked: 0, refreshed: [], fresh: 0, busy: 0, failed: [], scopeDrift: [] });
    const sweeper = await invoke('WaitSweeper', scheduled('WaitSweeper'));
    expect(sweeper).toMatchObject({ statusCode: 200, functionError: undefined });
    expect(sweeper.answer).toEqual({ due: 0, timedOut: 0, abandoned: 0, failed: [] });
  });
});

describe('bad events on every entry: coded 400s, never a 500', () => {
  it.each(['FlowApi', 'FlowExecutor', 'WebhookCallback', 'AgentEvents'])('%s invoked with an event that is not an API Gateway event (no requestContext): 400 INVALID_EVENT', async (name) => {
    for (const event of [{}, { routeKey: 'GET /flows' }, { requestContext: {} }, 'text', [1, 2]]) {
      const res = await invoke(name, event);
      expect(res.functionError, JSON.stringify(event)).toBeUndefined();
      expect(res.answer, JSON.stringify(event)).toMatchObject({ statusCode: 400 });
      expect(JSON.parse(res.answer['body'] as string)).toMatchObject({ error: { code: 'INVALID_EVENT' } });
    }
  });

  it.each(['TokenRefresher', 'WaitSweeper'])('%s: a schedule event (or {}) runs; any other event is refused with INVALID_EVENT and runs nothing', async (name) => {
    const scheduled = { version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: '000000000000', time: new Date().toISOString(), region: 'us-east-1', resources: [], detail: {} };
    expect((await invoke(name, scheduled)).answer).not.toHaveProperty('error');
    expect((await invoke(name, {})).answer).not.toHaveProperty('error');
    for (const event of [{ 'detail-type': 'Object Created', source: 'aws.s3' }, { Details: {} }, 42]) {
      const res = await invoke(name, event);
      expect(res.functionError).toBeUndefined();
      expect(res.answer).toMatchObject({ statusCode: 400, error: { code: 'INVALID_EVENT' } });
    }
  });
});

describe('the local Invoke API with a malformed function name', () => {
  it('answers 400 and keeps serving (it used to end the process)', async () => {
    const res = await fetch(`${stack.api.url}/2015-03-31/functions/%E0%A4%A/invocations`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(400);
    expect((await fetch(`${stack.api.url}/flows`)).status).toBe(200);
  });
});

describe('HTTP callers: form-urlencoded bodies, GET query parameters, shape and maxBytes', () => {
  it('a form POST: fields become string variables, the answer is flat by default (string values, ivrflow_* keys)', async () => {
    const res = await request('POST', '/flows/http-echo/executions', { contentType: FORM, body: form({ x: '1', y: 'two words & more' }) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      x: '1',
      y: 'two words & more',
      hits: expect.stringMatching(/^\d+$/) as unknown,
      'info.a': '1',
      'info.b.0': 'true',
      'info.b.1': '',
      ivrflow_status: 'SUCCEEDED',
      ivrflow_branch: 'Echoed',
      ivrflow_execution_id: expect.any(String) as unknown,
    });
    // With a charset, and shaped as JSON: the fields are still strings (never numbers).
    const json = await request('POST', '/flows/http-echo/executions?shape=json', { contentType: `${FORM}; charset=UTF-8`, body: form({ x: '1', y: '2' }) });
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ x: '1', y: '2', info: { a: 1, b: [true, null] }, ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Echoed' });
    expect(typeof json.body['hits']).toBe('number');
  });

  it('Idempotency-Key as a field: a repeat returns the same execution and does not call the backend again; other fields → 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const key = `form-${randomUUID()}`;
    const before = hits('/hit').length;
    const first = await request('POST', '/flows/http-echo/executions', { contentType: FORM, body: form({ 'Idempotency-Key': key, x: 'a', y: 'b' }) });
    expect(first.status).toBe(200);
    expect(first.body).not.toHaveProperty('Idempotency-Key');
    expect(hits('/hit').length - before).toBe(1);
    const repeat = await request('POST', '/flows/http-echo/executions', { contentType: FORM, body: form({ 'Idempotency-Key': key, x: 'a', y: 'b' }) });
    expect(repeat.status).toBe(200);
    expect(repeat.body['ivrflow_execution_id']).toBe(first.body['ivrflow_execution_id']);
    expect(repeat.body).toEqual(first.body);
    expect(hits('/hit').length - before).toBe(1);
    const reused = await request('POST', '/flows/http-echo/executions', { contentType: FORM, body: form({ 'Idempotency-Key': key, x: 'other', y: 'b' }) });
    expect(reused.status).toBe(422);
    expect(reused.body.error?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(hits('/hit').length - before).toBe(1);
  });

  it('GET /flows/{id}/executions?x=1&y=2: query parameters become variables; shape=json gives JSON with ivrflow_* keys', async () => {
    const flat = await request('GET', '/flows/http-echo/executions?x=1&y=2');
    expect(flat.status).toBe(200);
    expect(flat.body).toMatchObject({ x: '1', y: '2', 'info.a': '1', ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Echoed' });
    for (const value of Object.values(flat.body)) expect(typeof value).toBe('string');
    const json = await request('GET', '/flows/http-echo/executions?x=1&y=2&shape=json');
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ x: '1', y: '2', info: { a: 1, b: [true, null] }, ivrflow_status: 'SUCCEEDED', ivrflow_branch: 'Echoed', ivrflow_execution_id: expect.any(String) as unknown });
    expect(json.body).not.toHaveProperty('shape');
    const record = await request('GET', `/executions/${json.body['ivrflow_execution_id'] as string}`);
    expect(record.body).toMatchObject({ variables: { x: '1', y: '2' } });
  });

  it('a JSON POST without shape still answers the full record', async () => {
    const res = await request('POST', '/flows/http-echo/executions', { contentType: 'application/json', body: JSON.stringify({ variables: { x: 3, y: { deep: true } } }) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ executionId: expect.any(String) as unknown, flowId: 'http-echo', status: 'SUCCEEDED', branch: 'Echoed', variables: { x: 3, y: { deep: true } } });
    expect(Array.isArray(res.body['trace'])).toBe(true);
    expect(res.body).not.toHaveProperty('ivrflow_status');
    // Unbounded: a record over 32 KB is answered whole to a JSON caller asking for no shape.
    const big = await request('POST', '/flows/big-answer/executions', { contentType: 'application/json', body: '{}' });
    expect(big.status).toBe(200);
    expect(big.body).toMatchObject({ variables: { blob: BIG_BLOB } });
  });

  it('maxBytes=256 with a larger answer → 413 RESPONSE_TOO_LARGE naming the execution, whose record is kept; without it the answer fits 32 KB', async () => {
    const res = await request('POST', '/flows/http-medium/executions?maxBytes=256', { contentType: FORM, body: form({ x: '1' }) });
    expect(res.status).toBe(413);
    expect(res.body.error?.code).toBe('RESPONSE_TOO_LARGE');
    const executionId = /execution (\S+) is larger/.exec(res.body.error?.message ?? '')?.[1];
    expect(executionId, res.body.error?.message).toBeDefined();
    const record = await request('GET', `/executions/${executionId!}`);
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({ executionId, flowId: 'http-medium', status: 'SUCCEEDED', branch: 'Medium', variables: { blob: MEDIUM_BLOB } });
    const unbounded = await request('POST', '/flows/http-medium/executions', { contentType: FORM, body: form({ x: '1' }) });
    expect(unbounded).toMatchObject({ status: 200, body: { blob: MEDIUM_BLOB, ivrflow_branch: 'Medium' } });
    // The 32 KB default applies to form, GET and shaped answers.
    expect((await request('GET', '/flows/big-answer/executions')).body.error?.code).toBe('RESPONSE_TOO_LARGE');
    expect((await request('POST', '/flows/big-answer/executions?shape=json', { contentType: 'application/json', body: '{}' })).status).toBe(413);
    expect((await request('POST', '/flows/big-answer/executions?maxBytes=100000', { contentType: FORM, body: '' })).status).toBe(200);
  });

  it('maxBytes=10, shape=xml → 400 INVALID_PARAMETER; a text/plain body → 415; none of them runs the flow', async () => {
    const before = hits('/hit').length;
    for (const query of ['maxBytes=10', 'maxBytes=abc', 'maxBytes=6000001', 'shape=xml']) {
      const res = await request('POST', `/flows/http-echo/executions?${query}`, { contentType: FORM, body: form({ x: '1' }) });
      expect(res.status, query).toBe(400);
      expect(res.body.error?.code, query).toBe('INVALID_PARAMETER');
      expect((await request('GET', `/flows/http-echo/executions?x=1&${query}`)).status, `GET ${query}`).toBe(400);
    }
    const text = await request('POST', '/flows/http-echo/executions', { contentType: 'text/plain', body: 'x=1' });
    expect(text.status).toBe(415);
    expect(text.body.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(hits('/hit').length - before).toBe(0);
  });
});
