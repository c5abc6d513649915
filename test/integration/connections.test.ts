/**
 * End to end through the real handlers (DynamoDB Local, the local Secrets Manager, a real OAuth2
 * server, the sample CRM and scripted backends on 127.0.0.1): the connections API, flows that use
 * connections (IntegrationHubExecute, HTTPRequest), OAuth2 tokens shared by the callers of one and
 * of two Lambda instances, the 401 renewal, a token endpoint outage, the token-refresher, and the
 * promise that no credential or access token ever leaves: every API answer, execution record, token
 * event and byte written to stdout/stderr during the file is searched for them at the end.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Events, type MutableResponse } from 'oauth2-mock-server';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCrmServer, type CrmServer } from '../../examples/backends/crm-server';
import { startOAuthServer, type OAuthServer } from '../../examples/backends/oauth-server';
import type { TokenEvent } from '#shared/connections/token-provider';
import { tokenHash } from '#shared/connections/token-registry';
import { LOCAL_AWS, localDynamoDbClient } from '#shared/local/dynamodb-local';
import { reportTokenEvent } from '#shared/observability';
import { SecretsManagerSecretStore } from '#shared/stores/secrets/secrets-manager-store';
import { startTestStack, type TestStack } from '../support/local';
import { startScriptedServer } from '../support/scripted-server';

// ---------------------------------------------------------------------------------------------
// Credentials used in this file: none of them may appear in anything the service emits.
const CLIENT_ID = 'ivrflow-demo';
const CLIENT_SECRET = 'cs-Qw7mZr2x-K9pLt4v';
/** Sent in refused PUT bodies only: never stored. */
const REFUSED_SECRET = 'cs-refused-Hx81pQa-never-stored';
const WRONG_CLIENT_SECRET = 'cs-wrong-Vb3nM5kq';
const API_KEY = 'demo-api-key';
const BASIC_PASSWORD = 'pw-Tz6yRc1-basic';
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NAMED_SECRETS: Record<string, string> = { CLIENT_SECRET, REFUSED_SECRET, WRONG_CLIENT_SECRET, API_KEY, BASIC_PASSWORD, WEBHOOK_SECRET };
const STATIC_SECRETS = Object.values(NAMED_SECRETS);
/** Every access token any OAuth server issued during the file. */
const issuedTokens = new Set<string>();

// ---------------------------------------------------------------------------------------------
// Everything the service emitted: API answers (raw text), execution records, token events, summaries, stdout/stderr.
const corpus: string[] = [];
const tokenEvents: Array<TokenEvent & { stack: string }> = [];
let restoreWrites: (() => void) | undefined;

function captureProcessOutput(): () => void {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const wrap =
    (original: typeof process.stdout.write): typeof process.stdout.write =>
    (chunk: unknown, ...rest: unknown[]) => {
      corpus.push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk));
      return (original as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    };
  process.stdout.write = wrap(out);
  process.stderr.write = wrap(err);
  return () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
}

function onTokenEvent(stack: string) {
  return (event: TokenEvent) => {
    tokenEvents.push({ ...event, stack });
    corpus.push(JSON.stringify(event));
    // What the functions do with the events (logs, metrics): their output goes through the stdout capture.
    reportTokenEvent(event);
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.
interface ErrorBody {
  error: { code: string; message: string; details?: Array<{ code: string; path: string; message: string }> };
}
interface TraceEntry {
  stepId: string;
  type: string;
  branch: string;
  status: string;
  attempts?: number;
  statusCode?: number | null;
  error?: { type: string; message: string };
}
interface Execution {
  executionId: string;
  flowId: string;
  status: string;
  branch: string;
  variables: Record<string, unknown>;
  trace: TraceEntry[];
  durationMs: number;
}
interface ConnectionView {
  name: string;
  baseUrl: string;
  secretsSet: string[];
  authentication: Record<string, unknown>;
  requests?: Record<string, unknown>;
  token?: { expiresAt?: string; scope?: string; lastError?: string };
  updatedAt: string;
}
interface Page<T> {
  items: T[];
  nextCursor?: string;
}
interface Reply<T> {
  status: number;
  text: string;
  body: T;
}

/** fetch + JSON; every answer's raw text goes to the corpus. A string body is sent as is. */
async function call<T = ErrorBody>(stack: TestStack, method: string, path: string, body?: unknown): Promise<Reply<T>> {
  const res = await fetch(`${stack.api.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  corpus.push(`${method} ${path} -> ${res.status} ${text}`);
  return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Runs the latest version of a flow, then reads its record back (both into the corpus); returns the answer. */
async function run(stack: TestStack, flowId: string, variables: Record<string, unknown> = {}): Promise<Execution> {
  const answer = await call<Execution>(stack, 'POST', `/flows/${flowId}/executions`, { variables });
  expect(answer.status, answer.text).toBe(200);
  const record = await call<Execution>(stack, 'GET', `/executions/${answer.body.executionId}`);
  expect(record.status).toBe(200);
  expect(record.body.branch).toBe(answer.body.branch);
  return answer.body;
}

async function deploy(stack: TestStack, flow: Record<string, unknown>): Promise<void> {
  const res = await call(stack, 'PUT', `/flows/${String(flow['id'])}`, flow);
  expect([200, 201], res.text).toContain(res.status);
}

async function putConnection(stack: TestStack, name: string, body: unknown): Promise<Reply<ConnectionView>> {
  const res = await call<ConnectionView>(stack, 'PUT', `/connections/${name}`, body);
  expect([200, 201], res.text).toContain(res.status);
  return res;
}

/** A backend answering what `answer` says, with any headers; records what it received. */
interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}
interface Backend {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}
async function startBackend(answer: (req: Received, n: number) => { status?: number; headers?: Record<string, string | string[]>; body?: unknown }): Promise<Backend> {
  const requests: Received[] = [];
  const server = createServer((req, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
      requests.push(received);
      const a = answer(received, requests.length - 1);
      const text = a.body === undefined ? '' : JSON.stringify(a.body);
      res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Starts an OAuth server whose issued tokens are recorded and which can be made to answer 500 (`down`). */
async function oauthServer(expiresInSeconds?: number): Promise<OAuthServer & { down: boolean; grantScope?: string }> {
  const server = await startOAuthServer({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }) });
  const controlled = Object.assign(server, { down: false, grantScope: undefined as string | undefined });
  // Runs after startOAuthServer's own listener (which counts the request and checks the client).
  server.server.service.on(Events.BeforeResponse, (response: MutableResponse) => {
    if (controlled.down) {
      response.statusCode = 500;
      response.body = { error: 'temporarily_unavailable' };
      return;
    }
    if (typeof response.body === 'object') {
      if (typeof response.body['access_token'] === 'string') issuedTokens.add(response.body['access_token']);
      if (controlled.grantScope !== undefined && response.statusCode === 200) response.body['scope'] = controlled.grantScope;
    }
  });
  return controlled;
}

// ---------------------------------------------------------------------------------------------
// Definitions.
const LOOKUP = { method: 'GET', path: '/v2/accounts?phone={{phone}}', responseMapping: { status: '$.status', account: '$.data[0]' } };

function oauthConnection(baseUrl: string, tokenEndpoint: string, scopes: string[], extra: { clientSecret?: string | null; requests?: Record<string, unknown>; webhookSigningSecret?: string; timeoutMs?: number } = {}) {
  return {
    baseUrl,
    timeoutMs: extra.timeoutMs ?? 3000,
    authentication: { type: 'oauth2', tokenEndpoint, clientId: CLIENT_ID, ...(extra.clientSecret === null ? {} : { clientSecret: extra.clientSecret ?? CLIENT_SECRET }), scopes, clientAuthentication: 'basic' },
    ...(extra.webhookSigningSecret === undefined ? {} : { webhookSigningSecret: extra.webhookSigningSecret }),
    requests: extra.requests ?? { lookup: LOOKUP },
  };
}

/** A flow of one IntegrationHubExecute step. */
function hubFlow(id: string, connectName: string, requestName = 'lookup', configuration: Record<string, unknown> = {}, flow: Record<string, unknown> = {}) {
  return {
    id,
    name: id,
    flowType: 'IVR',
    inputs: ['phone'],
    deadlineMs: 20000,
    steps: [{ id: 'call', type: 'IntegrationHubExecute', configuration: { connectName, requestName, requestPayload: { phone: '{{phone}}' }, ...configuration } }],
    ...flow,
  };
}

/** A flow of one HTTPRequest step. */
function httpFlow(id: string, configuration: Record<string, unknown>, flow: Record<string, unknown> = {}) {
  return { id, name: id, flowType: 'IVR', inputs: ['phone'], deadlineMs: 20000, steps: [{ id: 'call', type: 'HTTPRequest', configuration }], ...flow };
}

const KNOWN_PHONE = '+12125551234';
const DANA = { id: 'ACC-1001', type: 'account', attributes: { name: 'Dana Whitfield', loyalty_tier: 'PLATINUM', support_tickets: 2 } };

// ---------------------------------------------------------------------------------------------
let oauth: Awaited<ReturnType<typeof oauthServer>>;
let crm: CrmServer;
let main: Awaited<ReturnType<typeof startTestStack>>;
/** A second Lambda instance: same tables and Secrets Manager, no connection/flow cache. */
let peer: Awaited<ReturnType<typeof startTestStack>>;
let secrets: SecretsManagerSecretStore;
let secretsClient: SecretsManagerClient;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  restoreWrites = captureProcessOutput();
  oauth = await oauthServer();
  closers.push(() => oauth.close());
  crm = await startCrmServer({ oauth: { jwksUrl: oauth.jwksUrl }, slowMs: 2000 });
  closers.push(() => crm.close());
  main = await startTestStack({ onTokenEvent: onTokenEvent('main') });
  peer = await startTestStack({
    tables: { definitionsTable: main.config.definitionsTable, stateTable: main.config.stateTable },
    secretsEndpoint: main.secretsEndpoint,
    flowCacheTtlMs: 0,
    onTokenEvent: onTokenEvent('peer'),
  });
  // The peer first: it does not own the Secrets Manager endpoint.
  closers.push(
    () => main.close(),
    () => peer.close(),
  );
  secretsClient = new SecretsManagerClient({ ...LOCAL_AWS, endpoint: main.secretsEndpoint });
  secrets = new SecretsManagerSecretStore({ client: secretsClient, maxAgeSeconds: 0 });
});

afterAll(async () => {
  secretsClient?.destroy();
  for (const close of closers.reverse()) await close().catch(() => undefined);
  restoreWrites?.();
});

/** The value of a connection's secret in Secrets Manager (read fresh). */
const connectionSecret = (name: string) => secrets.getSecretJson(`ivrflow/connections/${name}`, { fresh: true });

// =============================================================================================
describe('connections API', () => {
  const FULL = () => oauthConnection(crm.url, oauth.tokenEndpoint, ['api.read'], { webhookSigningSecret: WEBHOOK_SECRET });

  it('PUT creates (201) then replaces (200); GET shows secretsSet and no credential anywhere', async () => {
    const created = await call<ConnectionView>(main, 'PUT', '/connections/api-crm', FULL());
    expect(created.status).toBe(201);
    expect(created.body.secretsSet).toEqual(['authentication.clientSecret', 'webhookSigningSecret']);
    const replaced = await call<ConnectionView>(main, 'PUT', '/connections/api-crm', FULL());
    expect(replaced.status).toBe(200);

    const got = await call<ConnectionView>(main, 'GET', '/connections/api-crm');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ name: 'api-crm', baseUrl: crm.url, secretsSet: ['authentication.clientSecret', 'webhookSigningSecret'], requests: { lookup: LOOKUP } });
    expect(got.body.authentication).toEqual({ type: 'oauth2', tokenEndpoint: oauth.tokenEndpoint, clientId: CLIENT_ID, scopes: ['api.read'], clientAuthentication: 'basic' });
    for (const text of [created.text, replaced.text, got.text]) for (const secret of STATIC_SECRETS) expect(text).not.toContain(secret);
    expect(await connectionSecret('api-crm')).toEqual({ clientSecret: CLIENT_SECRET, webhookSigningSecret: WEBHOOK_SECRET });
  });

  it('a PUT without the credentials keeps the stored ones, and a run still authenticates with them', async () => {
    // New scopes: a new token is needed, so the run proves the kept client secret works.
    const body = oauthConnection(crm.url, oauth.tokenEndpoint, ['api.read', 'api.kept'], { clientSecret: null });
    const res = await call<ConnectionView>(main, 'PUT', '/connections/api-crm', body);
    expect(res.status).toBe(200);
    expect(res.body.secretsSet).toEqual(['authentication.clientSecret', 'webhookSigningSecret']);
    expect(await connectionSecret('api-crm')).toEqual({ clientSecret: CLIENT_SECRET, webhookSigningSecret: WEBHOOK_SECRET });

    await deploy(main, hubFlow('api-crm-flow', 'api-crm'));
    const before = oauth.tokenRequests;
    const result = await run(main, 'api-crm-flow', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', statusCode: 200 });
    expect(result.variables['requestBody']).toEqual({ status: 'ok', account: DANA });
    expect(oauth.tokenRequests - before).toBe(1);
  });

  it('refused bodies (400/422) change nothing: definition, secret and token stay as they were', async () => {
    const before = await call<ConnectionView>(main, 'GET', '/connections/api-crm');
    const secretBefore = await connectionSecret('api-crm');
    const valid = oauthConnection(crm.url, oauth.tokenEndpoint, ['api.read', 'api.kept'], { clientSecret: REFUSED_SECRET });

    for (const raw of ['[1,2]', '"text"', '42', 'null', 'true']) {
      const res = await call(main, 'PUT', '/connections/api-crm', raw);
      expect(res.status, raw).toBe(400);
      expect(res.body.error.code).toBe('INVALID_BODY');
    }

    const refused: Array<{ body: unknown; code: string; path: string; message?: string }> = [
      { body: { ...valid, extra: true }, code: 'UNKNOWN_KEY', path: 'extra', message: "unknown key 'extra'; valid keys here: baseUrl, allowedHosts, timeoutMs, authentication, webhookSigningSecret, requests" },
      {
        body: { ...valid, timeout: 3000 },
        code: 'UNKNOWN_KEY',
        path: 'timeout',
        message: "unknown key 'timeout' (did you mean 'timeoutMs'?); valid keys here: baseUrl, allowedHosts, timeoutMs, authentication, webhookSigningSecret, requests",
      },
      {
        body: { ...valid, authentication: { ...valid.authentication, audience: 'x' } },
        code: 'UNKNOWN_KEY',
        path: 'authentication.audience',
        message: "unknown key 'audience'; valid keys here: type, tokenEndpoint, clientId, clientSecret, scopes, clientAuthentication",
      },
      { body: { ...valid, requests: { lookup: { ...LOOKUP, verb: 'GET' } } }, code: 'UNKNOWN_KEY', path: 'requests.lookup.verb', message: "unknown key 'verb'; valid keys here: method, path, headers, body, responseMapping, timeoutMs" },
      { body: { ...valid, baseUrl: 'not a url' }, code: 'INVALID_VALUE', path: 'baseUrl' },
      { body: { ...valid, authentication: { ...valid.authentication, tokenEndpoint: 'ftp://127.0.0.1/token' } }, code: 'INVALID_VALUE', path: 'authentication.tokenEndpoint' },
      { body: { ...valid, requests: { lookup: { ...LOOKUP, path: '/v2/accounts?phone={{phone' } } }, code: 'BAD_EXPRESSION', path: 'requests.lookup.path' },
      { body: { ...valid, requests: { lookup: { ...LOOKUP, path: '/v2/accounts/{{ 1 + }}' } } }, code: 'BAD_EXPRESSION', path: 'requests.lookup.path' },
    ];
    for (const { body, code, path, message } of refused) {
      const res = await call(main, 'PUT', '/connections/api-crm', body);
      expect(res.status, res.text).toBe(422);
      expect(res.body.error.code).toBe('INVALID_CONNECTION');
      expect(res.body.error.details, res.text).toContainEqual(expect.objectContaining({ code, path, ...(message ? { message } : {}) }));
    }

    const after = await call<ConnectionView>(main, 'GET', '/connections/api-crm');
    expect(after.body).toEqual(before.body);
    expect(await connectionSecret('api-crm')).toEqual(secretBefore);
    // The cached token was not touched: the run needs no token request.
    const tokensBefore = oauth.tokenRequests;
    const result = await run(main, 'api-crm-flow', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', statusCode: 200 });
    expect(oauth.tokenRequests - tokensBefore).toBe(0);
  });

  it('a create without the client secret is refused (422) and creates nothing', async () => {
    const res = await call(main, 'PUT', '/connections/api-nosecret', oauthConnection(crm.url, oauth.tokenEndpoint, ['x'], { clientSecret: null }));
    expect(res.status).toBe(422);
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ code: 'MISSING_FIELD', path: 'authentication.clientSecret' }));
    expect((await call(main, 'GET', '/connections/api-nosecret')).status).toBe(404);
    expect(await connectionSecret('api-nosecret')).toBeUndefined();
  });

  it('a malformed {name} is a 400 on every route', async () => {
    for (const name of ['bad.name', 'a%20b', 'x'.repeat(65), '%C3%A9t%C3%A9']) {
      for (const [method, body] of [
        ['PUT', FULL()],
        ['GET', undefined],
        ['DELETE', undefined],
      ] as const) {
        const res = await call(main, method, `/connections/${name}`, body);
        expect(res.status, `${method} ${name}`).toBe(400);
        expect(res.body.error.code).toBe('INVALID_PARAMETER');
      }
    }
  });

  it('GET /connections pages through every connection exactly once', async () => {
    for (const n of ['api-p1', 'api-p2', 'api-p3', 'api-p4']) await putConnection(main, n, { baseUrl: crm.url, authentication: { type: 'none' } });
    const expected = ['api-crm', 'api-p1', 'api-p2', 'api-p3', 'api-p4'];
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await call<Page<ConnectionView>>(main, 'GET', `/connections?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((c) => c.name));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 20);
    expect(seen.sort()).toEqual(expected);
    expect(pages).toBeGreaterThanOrEqual(3);
    const bad = await call(main, 'GET', '/connections?limit=0');
    expect(bad.status).toBe(400);
  });

  it('DELETE answers 204, then the connection is 404 and its secret is gone from Secrets Manager', async () => {
    const hash = tokenHash({ tokenEndpoint: oauth.tokenEndpoint, clientId: CLIENT_ID, scopes: ['api.kept', 'api.read'] });
    expect(await secrets.getSecretJson(`ivrflow/tokens/${hash}`, { fresh: true })).toBeDefined();
    const res = await call(main, 'DELETE', '/connections/api-crm');
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect((await call(main, 'GET', '/connections/api-crm')).status).toBe(404);
    expect((await call(main, 'DELETE', '/connections/api-crm')).status).toBe(404);
    expect(await connectionSecret('api-crm')).toBeUndefined();
    expect(await secrets.describe('ivrflow/connections/api-crm')).toBeUndefined();
    // Its cached token too.
    expect(await secrets.getSecretJson(`ivrflow/tokens/${hash}`, { fresh: true })).toBeUndefined();
    expect(await main.roots.flowApi.tokenRegistry.get(hash)).toBeUndefined();
    const list = await call<Page<ConnectionView>>(main, 'GET', '/connections?limit=100');
    expect(list.body.items.map((c) => c.name)).not.toContain('api-crm');
  });
});

// =============================================================================================
describe('deploying flows that name connections', () => {
  beforeAll(async () => {
    await putConnection(main, 'crm', oauthConnection(crm.url, oauth.tokenEndpoint, ['crm.read']));
  });

  it('a missing connection is refused (422 MISSING_CONNECTION) and nothing is stored', async () => {
    const res = await call(main, 'PUT', '/flows/needs-missing', hubFlow('needs-missing', 'no-such-connection'));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('INVALID_FLOW');
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ code: 'MISSING_CONNECTION', path: 'steps[0].configuration.connectName' }));
    expect((await call(main, 'GET', '/flows/needs-missing')).status).toBe(404);
  });

  it('an unknown requestName is refused (422 UNKNOWN_REQUEST)', async () => {
    const res = await call(main, 'PUT', '/flows/needs-request', hubFlow('needs-request', 'crm', 'no-such-request'));
    expect(res.status).toBe(422);
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ code: 'UNKNOWN_REQUEST', path: 'steps[0].configuration.requestName' }));
    expect((await call(main, 'GET', '/flows/needs-request')).status).toBe(404);
  });
});

// =============================================================================================
describe('one token request for concurrent callers', () => {
  it('50 concurrent executions in one instance without a token: exactly 1 token request, all succeed', async () => {
    await putConnection(main, 'conc-one', oauthConnection(crm.url, oauth.tokenEndpoint, ['conc.one']));
    await deploy(main, hubFlow('conc-one-flow', 'conc-one'));
    const before = oauth.tokenRequests;
    const accepted = crm.tokens.accepted;
    const results = await Promise.all(Array.from({ length: 50 }, () => run(main, 'conc-one-flow', { phone: KNOWN_PHONE })));
    const tokenRequests = oauth.tokenRequests - before;
    console.log(`[connections.test] one instance, 50 concurrent executions: ${tokenRequests} token request(s)`);
    expect(results.map((r) => r.trace[0]!.branch)).toEqual(Array(50).fill('OnSuccess'));
    expect(results.every((r) => (r.variables['requestBody'] as { account: unknown }).account !== null)).toBe(true);
    expect(crm.tokens.accepted - accepted).toBe(50);
    expect(tokenRequests).toBe(1);
  });

  it('25 + 25 concurrent executions over two instances sharing tables and Secrets Manager: exactly 1 token request', async () => {
    await putConnection(main, 'conc-two', oauthConnection(crm.url, oauth.tokenEndpoint, ['conc.two']));
    await deploy(main, hubFlow('conc-two-flow', 'conc-two'));
    const before = oauth.tokenRequests;
    const acquired = tokenEvents.length;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => run(i % 2 === 0 ? main : peer, 'conc-two-flow', { phone: KNOWN_PHONE })));
    const tokenRequests = oauth.tokenRequests - before;
    const events = tokenEvents.slice(acquired).map((e) => `${e.stack}:${e.type}:${e.reason}`);
    console.log(`[connections.test] two instances, 25 + 25 concurrent executions: ${tokenRequests} token request(s); token events ${JSON.stringify(events)}`);
    expect(results.map((r) => r.trace[0]!.branch)).toEqual(Array(50).fill('OnSuccess'));
    expect(tokenRequests).toBe(1);
  });
});

// =============================================================================================
describe('a 401 from the backend', () => {
  it('401 once: one token refresh, one resend, success; the backend saw two different bearer tokens', async () => {
    const backend = await startScriptedServer((_req, n) => (n === 1 ? { status: 401, body: { error: 'invalid_token' } } : { status: 200, body: { status: 'ok', data: [{ id: 'ACC-7' }] } }));
    closers.push(() => backend.close());
    await putConnection(main, 'once401', oauthConnection(backend.url, oauth.tokenEndpoint, ['r401.once']));
    await deploy(main, hubFlow('once401-flow', 'once401'));
    // Warm: a token exists before the 401.
    expect((await run(main, 'once401-flow', { phone: KNOWN_PHONE })).trace[0]!.branch).toBe('OnSuccess');
    expect(backend.requests).toHaveLength(1);

    const before = oauth.tokenRequests;
    const result = await run(main, 'once401-flow', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', status: 'SUCCEEDED', statusCode: 200, attempts: 2 });
    expect(result.variables['requestBody']).toEqual({ status: 'ok', account: { id: 'ACC-7' } });
    expect(oauth.tokenRequests - before).toBe(1);
    expect(backend.requests).toHaveLength(3);
    const [refused, resent] = [backend.requests[1]!.headers.authorization, backend.requests[2]!.headers.authorization];
    expect(refused).toMatch(/^Bearer \S+$/);
    expect(resent).toMatch(/^Bearer \S+$/);
    expect(resent).not.toBe(refused);
    // The first run's token is the one refused.
    expect(backend.requests[0]!.headers.authorization).toBe(refused);
  });

  it('401 always, HTTPRequest: OnClientError with http_error.type auth after exactly 2 backend requests', async () => {
    const backend = await startScriptedServer([{ status: 401, body: { error: 'invalid_token' } }]);
    closers.push(() => backend.close());
    await putConnection(main, 'always401', oauthConnection(backend.url, oauth.tokenEndpoint, ['r401.always']));
    await deploy(main, httpFlow('always401-http', { url: `${backend.url}/v2/accounts?phone={{phone}}`, authentication: { connection: 'always401' } }));
    const before = oauth.tokenRequests;
    const result = await run(main, 'always401-http', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnClientError', statusCode: 401, attempts: 2 });
    expect(result.variables['http_error']).toMatchObject({ type: 'auth', statusCode: 401 });
    expect(backend.requests).toHaveLength(2);
    // The first token (missing) and the one renewal: no loop.
    expect(oauth.tokenRequests - before).toBe(2);
    expect(backend.requests[0]!.headers.authorization).not.toBe(backend.requests[1]!.headers.authorization);
  });

  it('401 always, IntegrationHubExecute (the CRM refuses 0401 numbers): OnError with requestErrorDetails.type auth, 2 requests', async () => {
    const hits = crm.hits.get('GET /v2/accounts') ?? 0;
    await deploy(main, hubFlow('crm-flow', 'crm'));
    const result = await run(main, 'crm-flow', { phone: '+12125550401' });
    expect(result.trace[0]).toMatchObject({ branch: 'OnError', statusCode: 401, attempts: 2 });
    expect(result.variables['requestErrorDetails']).toMatchObject({ type: 'auth', statusCode: 401 });
    expect((crm.hits.get('GET /v2/accounts') ?? 0) - hits).toBe(2);
  });
});

// =============================================================================================
describe('the token endpoint down', () => {
  it('runs go on with the cached token while it is valid, then fail auth fast once it expires', async () => {
    const shortOAuth = await oauthServer(3);
    closers.push(() => shortOAuth.close());
    const backend = await startScriptedServer([{ status: 200, body: { status: 'ok', data: [] } }]);
    closers.push(() => backend.close());
    await putConnection(main, 'short', oauthConnection(backend.url, shortOAuth.tokenEndpoint, ['short']));
    await deploy(main, hubFlow('short-flow', 'short', 'lookup', {}, { deadlineMs: 8000 }));

    const first = await run(main, 'short-flow', { phone: KNOWN_PHONE });
    expect(first.trace[0]!.branch).toBe('OnSuccess');
    expect(shortOAuth.tokenRequests).toBe(1);
    const acquired = tokenEvents.filter((e) => e.source === 'connection short' && e.type === 'token_acquired');
    expect(acquired).toHaveLength(1);
    const expiresAt = (acquired[0] as Extract<TokenEvent, { type: 'token_acquired' }>).expiresAt;

    shortOAuth.down = true;
    for (let i = 0; i < 3; i++) {
      const result = await run(main, 'short-flow', { phone: KNOWN_PHONE });
      expect(Date.now()).toBeLessThan(expiresAt);
      expect(result.trace[0]!.branch, JSON.stringify(result.variables)).toBe('OnSuccess');
    }
    expect(backend.requests).toHaveLength(4);
    // The refreshes beside the calls failed, and said they kept the previous token.
    const failed = tokenEvents.filter((e) => e.source === 'connection short' && e.type === 'token_refresh_failed');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.every((e) => e.type === 'token_refresh_failed' && e.usingPreviousToken)).toBe(true);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 100)));
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const result = await run(main, 'short-flow', { phone: KNOWN_PHONE });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(result.durationMs).toBeLessThan(1000);
      expect(result.trace[0]).toMatchObject({ branch: 'OnError', statusCode: null, attempts: 0 });
      expect(result.variables['requestErrorDetails']).toMatchObject({ type: 'auth', statusCode: null });
    }
    // No request went out with the expired token.
    expect(backend.requests).toHaveLength(4);
  });
});

// =============================================================================================
describe('the token-refresher', () => {
  it('refreshes the good connection, lists the failed one by source, and reports scope drift', async () => {
    const stack = await startTestStack({ onTokenEvent: onTokenEvent('refresher') });
    closers.push(() => stack.close());
    await putConnection(stack, 'good', oauthConnection(crm.url, oauth.tokenEndpoint, ['ref.good']));
    await putConnection(stack, 'bad', oauthConnection(crm.url, oauth.tokenEndpoint, ['ref.bad'], { clientSecret: WRONG_CLIENT_SECRET }));

    const before = oauth.tokenRequests;
    const summary = await stack.refreshTokens();
    corpus.push(JSON.stringify(summary));
    expect(oauth.tokenRequests - before).toBe(2);
    expect(summary).toMatchObject({ checked: 2, fresh: 0, busy: 0, scopeDrift: [] });
    expect(summary.refreshed.map((r) => r.source)).toEqual(['connection good']);
    expect(summary.failed).toHaveLength(1);
    expect(summary.failed[0]!.source).toBe('connection bad');
    expect(summary.failed[0]!.error).toMatch(/401 invalid_client/);
    const bad = await call<ConnectionView>(stack, 'GET', '/connections/bad');
    expect(bad.body.token?.lastError).toMatch(/invalid_client/);
    const good = await call<ConnectionView>(stack, 'GET', '/connections/good');
    expect(good.body.token).toMatchObject({ scope: 'ref.good', expiresAt: summary.refreshed[0]!.expiresAt });

    await putConnection(stack, 'drift', oauthConnection(crm.url, oauth.tokenEndpoint, ['crm.read', 'tickets.write']));
    oauth.grantScope = 'crm.read';
    try {
      const second = await stack.refreshTokens();
      corpus.push(JSON.stringify(second));
      expect(second).toMatchObject({ checked: 3, fresh: 1, busy: 0 });
      expect(second.refreshed.map((r) => r.source)).toEqual(['connection drift']);
      expect(second.failed.map((f) => f.source)).toEqual(['connection bad']);
      expect(second.scopeDrift).toEqual([{ source: 'connection drift', missingScopes: ['tickets.write'] }]);
    } finally {
      oauth.grantScope = undefined;
    }
  });
});

// =============================================================================================
describe('IntegrationHubExecute', () => {
  let echo: Backend;
  beforeAll(async () => {
    // Answers with headers that must not reach requestHeadersList, and echoes the credential it received.
    echo = await startBackend((req) => ({
      status: 200,
      headers: { 'set-cookie': ['session=abc; HttpOnly', 'other=1'], authorization: 'Bearer server-side', 'x-api-key': 'server-key', 'x-trace-id': 'trace-123', 'x-echo': req.headers.authorization ?? '' },
      body: { status: 'ok', data: [{ id: 'ACC-9', seenAuthorization: req.headers.authorization ?? null }], extra: 'not mapped' },
    }));
    closers.push(() => echo.close());
    await putConnection(main, 'echo', oauthConnection(echo.url, oauth.tokenEndpoint, ['echo'], { requests: { lookup: { ...LOOKUP, responseMapping: { status: '$.status', account: '$.data[0]', count: '$.data.length' } } } }));
  });

  it('success: requestBody mapped, requestHeadersList without cookies or credentials, requestProxy { method, url }', async () => {
    await deploy(main, hubFlow('hub-success', 'echo'));
    const result = await run(main, 'hub-success', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', status: 'SUCCEEDED', statusCode: 200, attempts: 1 });
    const received = echo.requests.at(-1)!;
    expect(received.url).toBe('/v2/accounts?phone=%2B12125551234');
    expect(received.headers.authorization).toMatch(/^Bearer \S+$/);
    expect(result.variables['requestBody']).toEqual({ status: 'ok', account: { id: 'ACC-9', seenAuthorization: '***' }, count: 1 });
    expect(result.variables['requestErrorDetails']).toBeNull();
    const headers = result.variables['requestHeadersList'] as Array<{ name: string; value: string }>;
    expect(headers).toContainEqual({ name: 'x-trace-id', value: 'trace-123' });
    expect(headers).toContainEqual({ name: 'content-type', value: 'application/json' });
    expect(headers).toContainEqual({ name: 'x-echo', value: '***' });
    for (const h of headers) {
      expect(Object.keys(h).sort()).toEqual(['name', 'value']);
      expect(typeof h.value).toBe('string');
    }
    expect(headers.map((h) => h.name.toLowerCase()).filter((n) => ['set-cookie', 'cookie', 'authorization', 'x-api-key'].includes(n))).toEqual([]);
    expect(result.variables['requestProxy']).toEqual({ method: 'GET', url: `${echo.url}/v2/accounts?phone=%2B12125551234` });
  });

  it('custom output variable names are honoured', async () => {
    await deploy(main, hubFlow('hub-names', 'echo', 'lookup', { requestBodyVarName: 'acct', requestErrorDetailsVarName: 'err', requestHeadersListVarName: 'hdrs', requestProxyVarName: 'proxy' }));
    const result = await run(main, 'hub-names', { phone: KNOWN_PHONE });
    expect(result.trace[0]!.branch).toBe('OnSuccess');
    expect(result.variables).toMatchObject({ acct: { status: 'ok', count: 1 }, err: null, proxy: { method: 'GET', url: `${echo.url}/v2/accounts?phone=%2B12125551234` } });
    expect(result.variables['hdrs']).toContainEqual({ name: 'x-trace-id', value: 'trace-123' });
    for (const name of ['requestBody', 'requestErrorDetails', 'requestHeadersList', 'requestProxy']) expect(result.variables).not.toHaveProperty(name);
  });

  it('timeout: a backend slower than the request timeoutMs takes OnTimeout', async () => {
    await putConnection(main, 'crm-slow', oauthConnection(crm.url, oauth.tokenEndpoint, ['crm.read'], { requests: { lookup: { ...LOOKUP, timeoutMs: 300 } } }));
    await deploy(main, hubFlow('hub-timeout', 'crm-slow'));
    const started = Date.now();
    const result = await run(main, 'hub-timeout', { phone: '+12125550900' });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(result.trace[0]).toMatchObject({ branch: 'OnTimeout', statusCode: null, attempts: 1 });
    expect(result.variables['requestErrorDetails']).toMatchObject({ type: 'timeout', statusCode: null });
    expect(result.variables['requestBody']).toBeNull();
  });

  it('error: a 503 takes OnError with requestErrorDetails { type: http_5xx, statusCode: 503 }', async () => {
    await deploy(main, hubFlow('crm-flow', 'crm'));
    const hits = crm.hits.get('GET /v2/accounts') ?? 0;
    const result = await run(main, 'crm-flow', { phone: '+12125550503' });
    expect(result.trace[0]).toMatchObject({ branch: 'OnError', statusCode: 503, attempts: 1 });
    expect(result.variables['requestErrorDetails']).toMatchObject({ type: 'http_5xx', statusCode: 503 });
    expect((crm.hits.get('GET /v2/accounts') ?? 0) - hits).toBe(1);
  });

  it('invalid payload: a string that is not JSON, and a payload without a field the path uses, are OnError invalid_payload (nothing sent)', async () => {
    const sent = echo.requests.length;
    await deploy(main, hubFlow('hub-text-payload', 'echo', 'lookup', { requestPayload: '{{payload_text}}' }, { inputs: ['payload_text'] }));
    const notJson = await run(main, 'hub-text-payload', { payload_text: 'phone=+12125551234' });
    expect(notJson.trace[0]).toMatchObject({ branch: 'OnError', attempts: 0 });
    expect(notJson.variables['requestErrorDetails']).toMatchObject({ type: 'invalid_payload', statusCode: null });
    expect((notJson.variables['requestErrorDetails'] as { message: string }).message).toMatch(/not valid JSON/);

    await deploy(main, hubFlow('hub-missing-field', 'echo', 'lookup', { requestPayload: { telephone: '{{phone}}' } }));
    const missing = await run(main, 'hub-missing-field', { phone: KNOWN_PHONE });
    expect(missing.trace[0]).toMatchObject({ branch: 'OnError', attempts: 0 });
    expect(missing.variables['requestErrorDetails']).toMatchObject({ type: 'invalid_payload', statusCode: null });
    expect((missing.variables['requestErrorDetails'] as { message: string }).message).toContain("'phone'");
    expect(echo.requests.length).toBe(sent);
  });

  it('unknown request at run time: the connection lost the request after the deploy → OnError unknown_request', async () => {
    const requests = { lookup: LOOKUP, extra: { ...LOOKUP } };
    await putConnection(main, 'shrinking', oauthConnection(echo.url, oauth.tokenEndpoint, ['echo'], { requests }));
    await deploy(main, hubFlow('hub-shrinking', 'shrinking', 'extra'));
    expect((await run(peer, 'hub-shrinking', { phone: KNOWN_PHONE })).trace[0]!.branch).toBe('OnSuccess');
    await putConnection(main, 'shrinking', oauthConnection(echo.url, oauth.tokenEndpoint, ['echo']));
    const sent = echo.requests.length;
    // The peer caches no connection (flowCacheTtlMs 0): it sees the change at once.
    const result = await run(peer, 'hub-shrinking', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnError', attempts: 0 });
    expect(result.variables['requestErrorDetails']).toMatchObject({ type: 'unknown_request', statusCode: null });
    expect(echo.requests.length).toBe(sent);
  });
});

// =============================================================================================
describe('HTTPRequest with stored credentials', () => {
  it('authentication { connection } with an apiKey connection reaches the CRM', async () => {
    await putConnection(main, 'crm-key', { baseUrl: crm.url, authentication: { type: 'apiKey', apiKey: API_KEY } });
    await deploy(main, httpFlow('http-apikey', { url: `${crm.url}/v2/accounts?phone={{phone}}`, authentication: { connection: 'crm-key' }, responseMapping: { customer: '$.data[0].attributes.name' } }));
    const result = await run(main, 'http-apikey', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', statusCode: 200 });
    expect(result.variables).toMatchObject({ customer: 'Dana Whitfield', http_status_code: 200, http_error: null });
  });

  it('authentication { connection } with a basic connection sends the stored password', async () => {
    const backend = await startBackend(() => ({ body: { ok: true } }));
    closers.push(() => backend.close());
    await putConnection(main, 'basic-conn', { baseUrl: backend.url, authentication: { type: 'basic', username: 'ivr', password: BASIC_PASSWORD } });
    await deploy(main, httpFlow('http-basic', { url: `${backend.url}/ping`, authentication: { connection: 'basic-conn' } }));
    const result = await run(main, 'http-basic', {});
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', statusCode: 200 });
    expect(backend.requests).toHaveLength(1);
    expect(backend.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`ivr:${BASIC_PASSWORD}`).toString('base64')}`);
  });

  it('a URL on a host outside the connection hosts is refused on deploy (HOST_NOT_ALLOWED)', async () => {
    const port = new URL(crm.url).port;
    const res = await call(main, 'PUT', '/flows/http-elsewhere', httpFlow('http-elsewhere', { url: `http://localhost:${port}/v2/accounts?phone={{phone}}`, authentication: { connection: 'crm-key' } }));
    expect(res.status).toBe(422);
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ code: 'HOST_NOT_ALLOWED', path: 'steps[0].configuration.url' }));
    expect((await call(main, 'GET', '/flows/http-elsewhere')).status).toBe(404);
  });

  it('the inline oauth2 form with the client secret bound through the flow secrets works against the OAuth server', async () => {
    await secrets.putSecretJson('ivrflow/flows/crm-oauth', { clientSecret: CLIENT_SECRET });
    await deploy(
      main,
      httpFlow(
        'http-inline-oauth',
        {
          url: `${crm.url}/v2/accounts?phone={{phone}}`,
          authentication: { type: 'oauth2', tokenEndpoint: oauth.tokenEndpoint, clientId: CLIENT_ID, clientSecret: '{{crm_secret}}', scopes: ['inline.read'] },
          responseMapping: { customer: '$.data[0].attributes.name' },
        },
        { secrets: { crm_secret: { secretId: 'crm-oauth', key: 'clientSecret' } } },
      ),
    );
    const before = oauth.tokenRequests;
    const accepted = crm.tokens.accepted;
    const result = await run(main, 'http-inline-oauth', { phone: KNOWN_PHONE });
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', statusCode: 200 });
    expect(result.variables['customer']).toBe('Dana Whitfield');
    expect(oauth.tokenRequests - before).toBe(1);
    expect(crm.tokens.accepted - accepted).toBe(1);
    expect(result.variables).not.toHaveProperty('crm_secret');
  });
});

// =============================================================================================
describe('one token identity, several users', () => {
  it('deleting a connection leaves the token another connection with the same (endpoint, client id, scopes) uses working', async () => {
    let refuse = 0;
    const backend = await startScriptedServer(() => (refuse-- > 0 ? { status: 401, body: { error: 'invalid_token' } } : { status: 200, body: { status: 'ok', data: [] } }));
    closers.push(() => backend.close());
    await putConnection(main, 'twin-a', oauthConnection(backend.url, oauth.tokenEndpoint, ['twin']));
    await putConnection(main, 'twin-b', oauthConnection(backend.url, oauth.tokenEndpoint, ['twin']));
    await deploy(main, hubFlow('twin-flow', 'twin-b', 'lookup', {}, { deadlineMs: 2000 }));
    expect((await run(main, 'twin-flow', { phone: KNOWN_PHONE })).trace[0]!.branch).toBe('OnSuccess');
    const hash = tokenHash({ tokenEndpoint: oauth.tokenEndpoint, clientId: CLIENT_ID, scopes: ['twin'] });
    expect(await main.roots.flowApi.tokenRegistry.get(hash)).toBeDefined();

    expect((await call(main, 'DELETE', '/connections/twin-a')).status).toBe(204);
    expect((await call(main, 'GET', '/connections/twin-b')).status).toBe(200);
    // twin-b still needs the token's record: without it the refresher never refreshes its token, and no instance can take its lease.
    expect.soft(await main.roots.flowApi.tokenRegistry.get(hash), 'token record of twin-b after deleting twin-a').toBeDefined();

    // The backend refuses the current token once: the token must be renewed (1 token request) and the request sent again.
    refuse = 1;
    const before = oauth.tokenRequests;
    const result = await run(main, 'twin-flow', { phone: KNOWN_PHONE });
    corpus.push(JSON.stringify(result));
    expect(result.variables['requestErrorDetails'], JSON.stringify(result.variables['requestErrorDetails'])).toBeNull();
    expect(result.trace[0]).toMatchObject({ branch: 'OnSuccess', attempts: 2 });
    expect(oauth.tokenRequests - before).toBe(1);
  });

  it('an instance that takes the lease just after another instance published a new token uses that token (no second token request)', async () => {
    // A third Lambda instance whose first lease request is held until the test lets it go (a slow DynamoDB round trip).
    const client = localDynamoDbClient(inject('dynamodbEndpoint'));
    let armed = false;
    let reached: () => void = () => undefined;
    let open: () => void = () => undefined;
    const atLease = new Promise<void>((resolve) => (reached = resolve));
    const gate = new Promise<void>((resolve) => (open = resolve));
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = (args as { input?: { UpdateExpression?: unknown } }).input;
        if (armed && typeof input?.UpdateExpression === 'string' && input.UpdateExpression.startsWith('SET leaseOwner')) {
          armed = false;
          reached();
          await gate;
        }
        return next(args);
      },
      { step: 'initialize', name: 'holdFirstLease' },
    );
    const slowInstance = await startTestStack({
      tables: { definitionsTable: main.config.definitionsTable, stateTable: main.config.stateTable },
      secretsEndpoint: main.secretsEndpoint,
      flowCacheTtlMs: 0,
      dynamodb: client,
      onTokenEvent: onTokenEvent('slow'),
    });
    closers.push(() => slowInstance.close());
    await putConnection(main, 'race', oauthConnection(crm.url, oauth.tokenEndpoint, ['race']));
    await deploy(main, hubFlow('race-flow', 'race'));

    const before = oauth.tokenRequests;
    armed = true;
    const late = run(slowInstance, 'race-flow', { phone: KNOWN_PHONE });
    // The slow instance found no token and is asking for the lease; meanwhile the other instance refreshes and publishes.
    await atLease;
    const first = await run(main, 'race-flow', { phone: KNOWN_PHONE });
    expect(first.trace[0]!.branch).toBe('OnSuccess');
    expect(oauth.tokenRequests - before).toBe(1);
    open();
    const second = await late;
    const tokenRequests = oauth.tokenRequests - before;
    console.log(`[connections.test] lease taken after the peer published its token: ${tokenRequests} token request(s)`);
    expect(second.trace[0]!.branch).toBe('OnSuccess');
    expect(tokenRequests).toBe(1);
  });
});

// =============================================================================================
describe('secrets never leak', () => {
  it('refused bodies carrying credentials do not echo them', async () => {
    const probes: unknown[] = [
      { baseUrl: crm.url, authentication: { type: 'apiKey', apiKey: 12345, extraSecret: REFUSED_SECRET } },
      { baseUrl: crm.url, authentication: { type: 'oauth2', tokenEndpoint: oauth.tokenEndpoint, clientId: CLIENT_ID, clientSecret: `${REFUSED_SECRET}${'x'.repeat(9000)}` } },
      { baseUrl: crm.url, authentication: { type: 'nope', clientSecret: REFUSED_SECRET } },
      { baseUrl: crm.url, authentication: { type: 'basic', username: 'u', password: REFUSED_SECRET, passwd: REFUSED_SECRET } },
      { baseUrl: crm.url, authentication: { type: 'none' }, webhookSigningSecret: { value: REFUSED_SECRET } },
      { baseUrl: crm.url, authentication: { type: 'apiKey', apiKey: REFUSED_SECRET }, requests: { r: { path: `/x/{{${REFUSED_SECRET}` } } },
    ];
    for (const body of probes) {
      const res = await call(main, 'PUT', '/connections/leak-probe', body);
      expect(res.status, res.text).toBe(422);
      expect(res.text).not.toContain(REFUSED_SECRET);
    }
    expect((await call(main, 'GET', '/connections/leak-probe')).status).toBe(404);
  });

  it('no client secret, API key, password or access token appears in any answer, record, token event or output', async () => {
    // The process output was captured (the token events' error logs are in it).
    expect(corpus.some((text) => text.includes('"message":"access token refresh failed"'))).toBe(true);
    // Make sure the search covers something: answers, records, events and tokens were produced.
    expect(corpus.length).toBeGreaterThan(100);
    expect(tokenEvents.length).toBeGreaterThan(5);
    expect(issuedTokens.size).toBeGreaterThan(5);
    // Also read every execution record of the file once more, and every connection as listed.
    for (const stack of [main, peer]) await call(stack, 'GET', '/connections?limit=100');
    const haystack = corpus.join('\n');
    const leaks: string[] = [];
    const named: Array<[string, string]> = [...Object.entries(NAMED_SECRETS), ...[...issuedTokens].map((t, i): [string, string] => [`access token #${i + 1}`, t])];
    for (const [name, secret] of named) {
      const at = haystack.indexOf(secret);
      if (at >= 0) leaks.push(`${name} in: …${haystack.slice(Math.max(0, at - 120), at)}<${name}>${haystack.slice(at + secret.length, at + secret.length + 40)}…`);
    }
    expect(leaks).toEqual([]);
  });

  // After the global check on purpose: a failure here has its own report.
  it('a URL carrying credentials is refused without echoing them', async () => {
    const probes: Array<{ body: unknown; path: string }> = [
      { body: { baseUrl: `https://ivr:${REFUSED_SECRET}@crm.example.com/`, authentication: { type: 'none' } }, path: 'baseUrl' },
      { body: oauthConnection(crm.url, `http://ivr:${REFUSED_SECRET}@127.0.0.1:1/token`, ['x']), path: 'authentication.tokenEndpoint' },
    ];
    for (const { body, path } of probes) {
      const res = await call(main, 'PUT', '/connections/leak-url', body);
      expect(res.status, res.text).toBe(422);
      expect(res.body.error.details).toContainEqual(expect.objectContaining({ path }));
      expect.soft(res.text, `422 answer for ${path}`).not.toContain(REFUSED_SECRET);
    }
  });
});
