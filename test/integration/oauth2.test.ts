/**
 * OAuth2 client credentials against a real OAuth2 server (oauth2-mock-server, signed JWTs) on 127.0.0.1.
 * The server does not authenticate clients: what it received is checked in its hooks, and its
 * answers (expires_in, scope, errors) are changed with `beforeResponse`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { decodeJwt } from 'jose';
import { Events, OAuth2Server, type MutableResponse, type MutableToken, type TokenRequestIncomingMessage } from 'oauth2-mock-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '#shared/clock';
import { expiresSoon, needsRefresh, requestClientCredentialsToken, scopeDrift, TokenRequestError, type AccessToken, type ClientCredentialsConfig } from '#shared/connections/oauth2';
import { NodeHttpClient } from '#shared/http/client';

const CLIENT_ID = 'ivr client:1';
const SECRET = 'S3cr3t p@ss/word+é';
const MINUTE = 60_000;

const http = new NodeHttpClient({ allowPrivateNetworks: true });
const server = new OAuth2Server();
let tokenEndpoint = '';
/** Requests seen by the token endpoint since the last reset. */
let seen: { authorization: string | undefined; body: Record<string, unknown> }[] = [];

function config(extra: Partial<ClientCredentialsConfig> = {}): ClientCredentialsConfig {
  return { tokenEndpoint, clientId: CLIENT_ID, clientSecret: SECRET, scopes: ['crm.read'], clientAuthentication: 'basic', ...extra };
}

/** Changes every token endpoint answer until the end of the test. */
function answer(change: (response: MutableResponse) => void): void {
  server.service.on(Events.BeforeResponse, (response: MutableResponse) => change(response));
}

function fields(response: MutableResponse): Record<string, unknown> {
  if (response.body === '') throw new Error('empty body');
  return response.body;
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function failure(promise: Promise<unknown>): Promise<TokenRequestError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TokenRequestError) return err;
    throw err;
  }
  throw new Error('expected a TokenRequestError');
}

beforeAll(async () => {
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  // issuer.url says http://localhost:<port> whatever host the server listens on: use the bound address.
  tokenEndpoint = `http://127.0.0.1:${server.address().port}/token`;
});

/** Records each token request; gives each token a jti (two tokens signed in the same second are otherwise identical). */
function recordRequests(): void {
  server.service.on(Events.BeforeTokenSigning, (token: MutableToken) => (token.payload['jti'] = randomUUID()));
  server.service.on(Events.BeforeResponse, (_response: MutableResponse, req: TokenRequestIncomingMessage) => {
    seen.push({ authorization: req.headers.authorization, body: { ...(req.body as unknown as Record<string, unknown>) } });
  });
}

afterEach(() => {
  server.service.removeAllListeners();
  seen = [];
  recordRequests();
});
afterAll(async () => {
  http.close();
  await server.stop();
});
recordRequests();

describe('requestClientCredentialsToken', () => {
  it('authenticates with HTTP Basic, id and secret form-encoded (RFC 6749 §2.3.1)', async () => {
    const signed: MutableToken[] = [];
    server.service.once(Events.BeforeTokenSigning, (token: MutableToken) => signed.push(token));
    const clock = new FakeClock(1_000_000);
    const token = await requestClientCredentialsToken(config({ scopes: ['crm.read', 'crm.write'] }), http, clock);

    expect(seen).toHaveLength(1);
    const credentials = Buffer.from(seen[0]!.authorization!.replace(/^Basic /, ''), 'base64').toString('utf8');
    expect(credentials).toBe('ivr+client%3A1:S3cr3t+p%40ss%2Fword%2B%C3%A9');
    expect(seen[0]!.body).toEqual({ grant_type: 'client_credentials', scope: 'crm.read crm.write' });
    expect(signed[0]!.payload['scope']).toBe('crm.read crm.write');

    expect(token).toMatchObject({ tokenType: 'Bearer', issuedAt: 1_000_000, expiresAt: 1_000_000 + 3600 * 1000, scope: 'crm.read crm.write', grantedScopes: ['crm.read', 'crm.write'] });
    expect(decodeJwt(token.accessToken)).toMatchObject({ scope: 'crm.read crm.write' });
  });

  it('authenticates with client_id and client_secret in the body', async () => {
    const token = await requestClientCredentialsToken(config({ clientAuthentication: 'body' }), http, new FakeClock(0));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBeUndefined();
    expect(seen[0]!.body).toEqual({ grant_type: 'client_credentials', scope: 'crm.read', client_id: CLIENT_ID, client_secret: SECRET });
    expect(token.accessToken).not.toBe('');
  });

  it('sends no scope parameter when none is requested', async () => {
    const token = await requestClientCredentialsToken(config({ scopes: [] }), http, new FakeClock(0));
    expect(seen[0]!.body).toEqual({ grant_type: 'client_credentials' });
    expect(token.grantedScopes).toEqual([]);
  });

  it('honours expires_in', async () => {
    answer((r) => (fields(r)['expires_in'] = 300));
    const token = await requestClientCredentialsToken(config(), http, new FakeClock(5_000));
    expect(token.issuedAt).toBe(5_000);
    expect(token.expiresAt).toBe(5_000 + 300_000);
  });

  it('takes the JWT exp claim when expires_in is absent', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    server.service.once(Events.BeforeTokenSigning, (token: MutableToken) => (token.payload.exp = exp));
    answer((r) => delete fields(r)['expires_in']);
    const token = await requestClientCredentialsToken(config(), http, new FakeClock(Date.now()));
    expect(token.expiresAt).toBe(exp * 1000);
  });

  it('refuses a 200 without an access token', async () => {
    answer((r) => delete fields(r)['access_token']);
    const err = await failure(requestClientCredentialsToken(config(), http, new FakeClock(0)));
    expect(err).toMatchObject({ type: 'invalid_token_response', code: 'TOKEN_REQUEST_FAILED', status: 200 });
  });

  it('reports an RFC 6749 §5.2 error answer as token_endpoint_error with its code', async () => {
    answer((r) => {
      r.statusCode = 401;
      r.body = { error: 'invalid_client' };
    });
    const err = await failure(requestClientCredentialsToken(config(), http, new FakeClock(0)));
    expect(err).toBeInstanceOf(TokenRequestError);
    expect(err).toMatchObject({ type: 'token_endpoint_error', error: 'invalid_client', status: 401, details: { type: 'token_endpoint_error', error: 'invalid_client', status: 401 } });
    expect(err.message).toContain('401 invalid_client');
  });

  it('reports a closed port as token_endpoint_unreachable', async () => {
    const port = await closedPort();
    const err = await failure(requestClientCredentialsToken(config({ tokenEndpoint: `http://127.0.0.1:${port}/token` }), http, new FakeClock(0)));
    expect(err.type).toBe('token_endpoint_unreachable');
  });
  it('reports an endpoint that does not answer within the timeout as token_endpoint_unreachable', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const err = await failure(requestClientCredentialsToken(config({ tokenEndpoint: `http://127.0.0.1:${port}/token`, timeoutMs: 200 }), http, new FakeClock(0)));
      expect(err.type).toBe('token_endpoint_unreachable');
      expect(err.message).toContain('timeout');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('refresh rules', () => {
  const at = (issuedAt: number, lifetimeMs: number): AccessToken => ({ accessToken: 'x', tokenType: 'Bearer', issuedAt, expiresAt: issuedAt + lifetimeMs, scope: '', grantedScopes: [] });

  it('a 5-minute and a 60-minute token from the server, against needsRefresh', async () => {
    const clock = new FakeClock(10_000_000);
    answer((r) => (fields(r)['expires_in'] = 300));
    const short = await requestClientCredentialsToken(config(), http, clock);
    server.service.removeAllListeners(Events.BeforeResponse);
    const long = await requestClientCredentialsToken(config(), http, clock);
    expect(short.expiresAt - short.issuedAt).toBe(5 * MINUTE);
    expect(long.expiresAt - long.issuedAt).toBe(60 * MINUTE);

    const t0 = 10_000_000;
    // 5 minutes is less than the 15-minute floor: always due.
    expect(needsRefresh(short, t0)).toBe(true);
    expect(needsRefresh(short, t0 + 4 * MINUTE)).toBe(true);
    // 60 minutes: due when fewer than 15 minutes remain (25 % is 15 minutes too).
    expect(needsRefresh(long, t0)).toBe(false);
    expect(needsRefresh(long, t0 + 30 * MINUTE)).toBe(false);
    expect(needsRefresh(long, t0 + 44 * MINUTE)).toBe(false);
    expect(needsRefresh(long, t0 + 45 * MINUTE)).toBe(false);
    expect(needsRefresh(long, t0 + 45 * MINUTE + 1)).toBe(true);
    expect(needsRefresh(long, t0 + 59 * MINUTE)).toBe(true);
    expect(needsRefresh(long, t0 + 61 * MINUTE)).toBe(true);
  });

  it('a 2-hour token is due when fewer than 30 minutes (25 %) remain', () => {
    const token = at(0, 120 * MINUTE);
    expect(needsRefresh(token, 89 * MINUTE)).toBe(false);
    expect(needsRefresh(token, 90 * MINUTE)).toBe(false);
    expect(needsRefresh(token, 90 * MINUTE + 1)).toBe(true);
  });

  it('expiresSoon: within 60 s by default, or the given window', () => {
    const token = at(0, 60 * MINUTE);
    expect(expiresSoon(token, 58 * MINUTE)).toBe(false);
    expect(expiresSoon(token, 59 * MINUTE - 1)).toBe(false);
    expect(expiresSoon(token, 59 * MINUTE)).toBe(true);
    expect(expiresSoon(token, 61 * MINUTE)).toBe(true);
    expect(expiresSoon(token, 50 * MINUTE, 10 * MINUTE)).toBe(true);
    expect(expiresSoon(token, 49 * MINUTE, 10 * MINUTE)).toBe(false);
  });
});

describe('scope drift', () => {
  it('lists the requested scopes the server did not grant', async () => {
    answer((r) => (fields(r)['scope'] = 'crm.read'));
    const requested = ['crm.read', 'crm.write', 'billing.read'];
    const token = await requestClientCredentialsToken(config({ scopes: requested }), http, new FakeClock(0));
    expect(seen[0]!.body['scope']).toBe('crm.read crm.write billing.read');
    expect(token.grantedScopes).toEqual(['crm.read']);
    expect(token.scope).toBe('crm.read');
    expect(scopeDrift(requested, token.grantedScopes)).toEqual(['crm.write', 'billing.read']);
  });

  it('is empty when everything was granted, or when the answer omits scope (RFC 6749 §5.1)', async () => {
    const granted = await requestClientCredentialsToken(config({ scopes: ['a', 'b'] }), http, new FakeClock(0));
    expect(scopeDrift(['a', 'b'], granted.grantedScopes)).toEqual([]);
    answer((r) => delete fields(r)['scope']);
    const omitted = await requestClientCredentialsToken(config({ scopes: ['a', 'b'] }), http, new FakeClock(0));
    expect(omitted.grantedScopes).toEqual(['a', 'b']);
    expect(scopeDrift(['a', 'b'], omitted.grantedScopes)).toEqual([]);
  });
});

describe('secrets', () => {
  it('the client secret never appears in a TokenRequestError message, details or stack', async () => {
    const captured: string[] = [];
    const errors: TokenRequestError[] = [];
    const clock = new FakeClock(0);
    const keep = (err: TokenRequestError) => {
      errors.push(err);
      captured.push(err.message, JSON.stringify(err.details), String(err.stack), String(err.error));
    };
    const basic = Buffer.from(`ivr+client%3A1:S3cr3t+p%40ss%2Fword%2B%C3%A9`).toString('base64');

    const token = await requestClientCredentialsToken(config(), http, clock);
    // A 401 echoing what it received (raw, form-encoded, the Basic credentials), with both client authentications.
    answer((r) => {
      r.statusCode = 401;
      r.body = { error: 'S3cr3t+p%40ss%2Fword%2B%C3%A9', error_description: `client_secret ${SECRET} (S3cr3t+p%40ss%2Fword%2B%C3%A9, Basic ${basic}) is wrong` };
    });
    keep(await failure(requestClientCredentialsToken(config(), http, clock)));
    keep(await failure(requestClientCredentialsToken(config({ clientAuthentication: 'body' }), http, clock)));
    server.service.removeAllListeners(Events.BeforeResponse);
    // 500, a 200 without a token, a closed port, a timeout.
    answer((r) => (r.statusCode = 500));
    keep(await failure(requestClientCredentialsToken(config(), http, clock)));
    server.service.removeAllListeners(Events.BeforeResponse);
    answer((r) => delete fields(r)['access_token']);
    keep(await failure(requestClientCredentialsToken(config(), http, clock)));
    keep(await failure(requestClientCredentialsToken(config({ tokenEndpoint: `http://127.0.0.1:${await closedPort()}/token` }), http, clock)));
    // An endpoint URL carrying the secret as its password is refused without echoing it.
    keep(await failure(requestClientCredentialsToken(config({ tokenEndpoint: `http://user:${encodeURIComponent(SECRET)}@127.0.0.1:1/token` }), http, clock)));

    expect(errors.map((e) => e.type)).toEqual(['token_endpoint_error', 'token_endpoint_error', 'token_endpoint_error', 'invalid_token_response', 'token_endpoint_unreachable', 'token_endpoint_unreachable']);
    expect(errors[0]!.message).toContain('[REDACTED]');
    expect(errors[0]!.error).toBe('[REDACTED]');
    // No cause to carry an HTTP failure's own text.
    for (const err of errors) expect(err.cause).toBeUndefined();
    const forms = [SECRET, encodeURIComponent(SECRET), 'S3cr3t+p%40ss', 'S3cr3t p@ss', basic, Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64'), token.accessToken];
    for (const text of captured) for (const form of forms) expect(text).not.toContain(form);
  });
});
