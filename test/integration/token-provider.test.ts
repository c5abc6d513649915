/**
 * TokenProvider against a real OAuth2 server (oauth2-mock-server via examples/backends/oauth-server.ts)
 * on 127.0.0.1, with a MemoryTokenRegistry and a MemorySecretStore shared by several providers (several
 * "Lambda instances"). Every count is a delta of the server's `tokenRequests`.
 *
 * With a FakeClock, a background refresh still runs over real I/O: `settle()` waits until no token
 * request is in flight (the provider's `request` is wrapped to count them) and the microtasks after it
 * (secret write, lease release, event) have run.
 */
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Events, type MutableResponse, type TokenRequestIncomingMessage } from 'oauth2-mock-server';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { startOAuthServer, type OAuthServer } from '../../examples/backends/oauth-server';
import { FakeClock, systemClock, type Clock } from '#shared/clock';
import { SecretNames } from '#shared/connections/secret-names';
import { requestClientCredentialsToken, TokenRequestError, type AccessToken } from '#shared/connections/oauth2';
import { refreshTokens } from '#shared/connections/refresher';
import { CredentialUnavailableError, TokenProvider, type TokenEvent } from '#shared/connections/token-provider';
import { MemoryTokenRegistry, tokenHash, type TokenSpec } from '#shared/connections/token-registry';
import { NodeHttpClient } from '#shared/http/client';
import type { SecretJson } from '#shared/stores/secret-store';
import { MemorySecretStore } from '#shared/stores/secrets/memory-secret-store';

const CLIENT_ID = 'ivr-crm client';
/** Characters that form-encoding changes, so that every encoded form differs from the raw one. */
const CLIENT_SECRET = 'S3cr3t p@ss/word+é';
const WRONG_SECRET = 'Wr0ng s3cret/+ü';
const SECRET_ID = 'ivrflow/connections/crm';
const SECRET_KEY = 'clientSecret';
const T0 = 1_800_000_000_000;
const SECOND = 1000;
const MINUTE = 60_000;

const names = new SecretNames('ivrflow/');
const http = new NodeHttpClient({ allowPrivateNetworks: true });
afterAll(() => http.close());

/** Everything a test saw that must never carry a secret or a token (events, errors, summaries, records). */
const observed: string[] = [];
/** Every access token handed out. */
const accessTokens = new Set<string>();

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function keepError(err: unknown): void {
  if (err instanceof Error) {
    observed.push(err.message, String(err.stack));
    if ('details' in err) observed.push(JSON.stringify(err.details) ?? '');
    if (err.cause instanceof Error) observed.push(err.cause.message, String(err.cause.stack));
    else if (err.cause !== undefined) observed.push(JSON.stringify(err.cause) ?? '');
  } else observed.push(String(err));
}

function keepTokens(...tokens: AccessToken[]): void {
  for (const token of tokens) accessTokens.add(token.accessToken);
}

/** The error a promise rejects with (recorded for the leak check); fails when it resolves. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    const value = await promise;
    if (value && typeof value === 'object' && 'accessToken' in value) keepTokens(value as AccessToken);
  } catch (err) {
    keepError(err);
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

interface Harness {
  server: OAuthServer;
  registry: MemoryTokenRegistry;
  secrets: MemorySecretStore;
  spec: TokenSpec;
  events: TokenEvent[];
  /** A provider, i.e. one Lambda instance, sharing this harness's registry and secret store. */
  provider(instanceId: string, clock: Clock): TokenProvider;
  /** Token requests answered by the server since the harness started. */
  requests(): number;
  /** Waits until no token request is in flight and what follows one (secret write, release, event) has run. */
  settle(): Promise<void>;
  /** Adds a listener that changes the server's answers (after the one startOAuthServer registered). */
  answer(change: (response: MutableResponse, req: TokenRequestIncomingMessage) => void): void;
}

function specFor(server: OAuthServer, extra: Partial<TokenSpec> = {}): TokenSpec {
  return { tokenEndpoint: server.tokenEndpoint, clientId: CLIENT_ID, scopes: ['crm.read'], clientAuthentication: 'basic', clientSecret: { secretId: SECRET_ID, key: SECRET_KEY }, source: 'connection crm', ...extra };
}

async function setup(options: { expiresInSeconds?: number } = {}): Promise<Harness> {
  const server = await startOAuthServer({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...options });
  onTestFinished(() => server.close());
  const registry = new MemoryTokenRegistry();
  const secrets = new MemorySecretStore();
  await secrets.putSecretJson(SECRET_ID, { [SECRET_KEY]: CLIENT_SECRET, apiKey: 'unrelated-value-1' });
  const events: TokenEvent[] = [];
  let inFlight = 0;
  const start = server.tokenRequests;
  return {
    server,
    registry,
    secrets,
    spec: specFor(server),
    events,
    provider: (instanceId, clock) =>
      new TokenProvider({
        registry,
        secrets,
        names,
        http,
        clock,
        instanceId,
        onEvent: (event) => {
          events.push(event);
          observed.push(JSON.stringify(event));
        },
        request: async (config, client, at) => {
          inFlight++;
          try {
            return await requestClientCredentialsToken(config, client, at);
          } finally {
            inFlight--;
          }
        },
      }),
    requests: () => server.tokenRequests - start,
    settle: async () => {
      for (let i = 0; i < 2000; i++) {
        await delay(2);
        if (inFlight === 0) {
          await delay(2);
          if (inFlight === 0) return;
        }
      }
      throw new Error('token requests still in flight');
    },
    answer: (change) => server.server.service.on(Events.BeforeResponse, change),
  };
}

function acquired(events: TokenEvent[]) {
  return events.filter((e): e is Extract<TokenEvent, { type: 'token_acquired' }> => e.type === 'token_acquired');
}

function failed(events: TokenEvent[]) {
  return events.filter((e): e is Extract<TokenEvent, { type: 'token_refresh_failed' }> => e.type === 'token_refresh_failed');
}

describe('one instance', () => {
  it('1. 50 concurrent gets with no token make exactly one token request, shared through the token secret and the registry', async () => {
    const h = await setup();
    const clock = new FakeClock(T0);
    const provider = h.provider('lambda-1', clock);
    const hash = tokenHash(h.spec);

    const tokens = await Promise.all(Array.from({ length: 50 }, () => provider.get(h.spec)));
    keepTokens(...tokens);
    expect(h.requests()).toBe(1);
    const token = tokens[0]!;
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(token).toMatchObject({ tokenType: 'Bearer', issuedAt: T0, expiresAt: T0 + 3600 * SECOND, scope: 'crm.read', grantedScopes: ['crm.read'] });

    // Shared: the token's secret and the registry record.
    expect(h.secrets.values.get(names.token(hash))).toEqual({ accessToken: token.accessToken, tokenType: 'Bearer', issuedAt: String(T0), expiresAt: String(token.expiresAt), scope: 'crm.read' });
    const record = await h.registry.get(hash);
    expect(record).toMatchObject({ hash, source: 'connection crm', tokenEndpoint: h.server.tokenEndpoint, clientId: CLIENT_ID, issuedAt: T0, expiresAt: token.expiresAt, scope: 'crm.read' });
    expect(record).not.toHaveProperty('lastError');
    // The token secret is read twice for the whole burst (the look, then once more under the lease), the client secret once.
    expect(h.secrets.reads.get(names.token(hash))).toBe(2);
    expect(h.secrets.reads.get(SECRET_ID)).toBe(1);
    expect(h.events).toEqual([
      { type: 'token_acquired', hash, source: 'connection crm', tokenEndpoint: h.server.tokenEndpoint, clientId: CLIENT_ID, scopes: ['crm.read'], expiresAt: token.expiresAt, missingScopes: [], reason: 'missing', onCallerPath: true },
    ]);

    // Afterwards from memory: no request, no secret read.
    clock.advance(30 * MINUTE);
    expect(await provider.get(h.spec)).toBe(token);
    expect(h.requests()).toBe(1);
    // The token secret is read twice for the whole burst (the look, then once more under the lease), the client secret once.
    expect(h.secrets.reads.get(names.token(hash))).toBe(2);
  });
});

describe('several instances', () => {
  it('2. five providers sharing a registry and a secret store, 10 concurrent gets each, make exactly one token request', async () => {
    const h = await setup();
    const providers = Array.from({ length: 5 }, (_, i) => h.provider(`lambda-${i + 1}`, systemClock));

    const tokens = await Promise.all(providers.flatMap((provider) => Array.from({ length: 10 }, () => provider.get(h.spec))));
    keepTokens(...tokens);
    expect(tokens).toHaveLength(50);
    expect(h.requests()).toBe(1);
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(acquired(h.events)).toHaveLength(1);
    expect(failed(h.events)).toEqual([]);
    expect(h.secrets.reads.get(SECRET_ID)).toBe(1);
    expect(h.secrets.values.get(names.token(tokenHash(h.spec)))?.['accessToken']).toBe(tokens[0]!.accessToken);

    // Each instance now has it in memory.
    const again = await Promise.all(providers.map((provider) => provider.get(h.spec)));
    expect(new Set(again.map((t) => t.accessToken))).toEqual(new Set([tokens[0]!.accessToken]));
    expect(h.requests()).toBe(1);
  });
});

describe('a token about to expire', () => {
  it('3a. is returned at once and refreshed in the background (one request, off the caller path)', async () => {
    const h = await setup();
    const clock = new FakeClock(T0);
    const provider = h.provider('lambda-1', clock);
    const first = await provider.get(h.spec);
    keepTokens(first);
    expect(h.requests()).toBe(1);

    clock.advance(first.expiresAt - 30 * SECOND - clock.now());
    const during = await provider.get(h.spec);
    // Returned before the token endpoint answered anything.
    expect(during.accessToken).toBe(first.accessToken);
    expect(h.requests()).toBe(1);

    await h.settle();
    expect(h.requests()).toBe(2);
    const events = acquired(h.events);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ reason: 'expiring', onCallerPath: false, expiresAt: clock.now() + 3600 * SECOND });

    const next = await provider.get(h.spec);
    keepTokens(next);
    expect(next.accessToken).not.toBe(first.accessToken);
    expect(next.issuedAt).toBe(clock.now());
    expect(h.requests()).toBe(2);
    expect(h.secrets.values.get(names.token(tokenHash(h.spec)))?.['accessToken']).toBe(next.accessToken);
  });

  it('3b. with five instances at that moment, still exactly one token request', async () => {
    const h = await setup();
    const clock = new FakeClock(T0);
    const providers = Array.from({ length: 5 }, (_, i) => h.provider(`lambda-${i + 1}`, clock));
    const first = await providers[0]!.get(h.spec);
    keepTokens(first);
    // The other instances take it from the token secret.
    for (const provider of providers.slice(1)) expect((await provider.get(h.spec)).accessToken).toBe(first.accessToken);
    expect(h.requests()).toBe(1);

    clock.advance(first.expiresAt - 30 * SECOND - clock.now());
    const during = await Promise.all(providers.flatMap((provider) => Array.from({ length: 10 }, () => provider.get(h.spec))));
    expect(new Set(during.map((t) => t.accessToken))).toEqual(new Set([first.accessToken]));
    expect(h.requests()).toBe(1);

    await h.settle();
    expect(h.requests()).toBe(2);
    const after = await Promise.all(providers.map((provider) => provider.get(h.spec)));
    keepTokens(...after);
    expect(new Set(after.map((t) => t.accessToken)).size).toBe(1);
    expect(after[0]!.accessToken).not.toBe(first.accessToken);
    await h.settle();
    expect(h.requests()).toBe(2);
    expect(acquired(h.events).map((e) => [e.reason, e.onCallerPath])).toEqual([
      ['missing', true],
      ['expiring', false],
    ]);
  });
});

describe('5-minute tokens', () => {
  it('4. over 30 simulated minutes (refresher every 5 min, executions every 10 s): no expired token, never a caller waiting on the endpoint', async () => {
    const h = await setup({ expiresInSeconds: 300 });
    const clock = new FakeClock(T0);
    const refresher = h.provider('token-refresher', clock);
    const executors = [h.provider('lambda-1', clock), h.provider('lambda-2', clock)];
    // The connection is registered (saving it does), so the refresher acquires the first token before any execution.
    await refresher.register(h.spec);

    const runs: { at: number; refreshed: number; fresh: number; busy: number; failed: number }[] = [];
    const expiredHandedOut: { at: number; expiresAt: number }[] = [];
    let gets = 0;
    for (let t = 0; t <= 30 * MINUTE; t += 10 * SECOND) {
      expect(clock.now()).toBe(T0 + t);
      if (t % (5 * MINUTE) === 0) {
        const summary = await refreshTokens(h.registry, refresher);
        observed.push(JSON.stringify(summary));
        runs.push({ at: t, refreshed: summary.refreshed.length, fresh: summary.fresh, busy: summary.busy, failed: summary.failed.length });
        await h.settle();
      }
      for (const executor of executors) {
        const token = await executor.get(h.spec);
        gets++;
        keepTokens(token);
        if (token.expiresAt <= clock.now()) expiredHandedOut.push({ at: t, expiresAt: token.expiresAt - T0 });
        await h.settle();
      }
      clock.advance(10 * SECOND);
    }

    expect(gets).toBe(2 * 181);
    expect(expiredHandedOut).toEqual([]);
    expect(h.events.filter((e) => e.type === 'token_acquired' && e.onCallerPath)).toEqual([]);
    expect(failed(h.events)).toEqual([]);
    // 5-minute tokens are always below the 15-minute floor: every refresher run refreshes.
    expect(runs).toHaveLength(7);
    for (const run of runs) expect(run).toMatchObject({ refreshed: 1, failed: 0 });
    const requests = h.requests();
    const byReason = Object.fromEntries(['scheduled', 'expiring', 'missing', 'rejected'].map((r) => [r, acquired(h.events).filter((e) => e.reason === r).length]));
    console.info(`5-minute tokens over 30 min: ${requests} token requests`, byReason);
    expect(requests).toBe(acquired(h.events).length);
    expect(byReason['scheduled']).toBe(7);
    // Between two refresher runs at most one background refresh (the refresher leaves a token with 5 min to go,
    // an executor refreshes it when it has 60 s left, never more often).
    expect(requests).toBeLessThanOrEqual(7 + 6);
  });
});

describe('a token the backend refused', () => {
  it('5. get({ rejected }) returns a new token, and memory no longer hands out the refused one', async () => {
    const h = await setup();
    const clock = new FakeClock(T0);
    const provider = h.provider('lambda-1', clock);
    const a = await provider.get(h.spec);
    expect(h.requests()).toBe(1);

    clock.advance(MINUTE);
    const b = await provider.get(h.spec, { rejected: a.accessToken });
    keepTokens(a, b);
    expect(b.accessToken).not.toBe(a.accessToken);
    expect(b.issuedAt).toBe(clock.now());
    expect(h.requests()).toBe(2);
    expect(acquired(h.events).at(-1)).toMatchObject({ reason: 'rejected', onCallerPath: true });

    // Memory and the shared secret hold B; a late 401 for A (invalidate) does not drop B.
    expect(await provider.get(h.spec)).toBe(b);
    provider.invalidate(h.spec, a.accessToken);
    expect(await provider.get(h.spec)).toBe(b);
    expect((await h.provider('lambda-2', clock).get(h.spec)).accessToken).toBe(b.accessToken);
    // Refusing A again (a late 401) returns B without a request.
    expect((await provider.get(h.spec, { rejected: a.accessToken })).accessToken).toBe(b.accessToken);
    expect(h.requests()).toBe(2);
  });
});

describe('the token endpoint down', () => {
  it('6. keeps the old token while valid, then fails, fails fast for 5 s, retries, and recovers', async () => {
    const h = await setup();
    let down = false;
    h.answer((response) => {
      if (!down) return;
      response.statusCode = 500;
      response.body = { error: 'server_error', error_description: 'the authorization server is down' };
    });
    const clock = new FakeClock(T0);
    const provider = h.provider('lambda-1', clock);
    const hash = tokenHash(h.spec);
    const old = await provider.get(h.spec);
    keepTokens(old);
    expect(h.requests()).toBe(1);

    down = true;
    clock.advance(old.expiresAt - 30 * SECOND - clock.now());
    expect((await provider.get(h.spec)).accessToken).toBe(old.accessToken);
    await h.settle();
    expect(h.requests()).toBe(2);
    expect(failed(h.events)).toEqual([
      {
        type: 'token_refresh_failed',
        hash,
        source: 'connection crm',
        tokenEndpoint: h.server.tokenEndpoint,
        clientId: CLIENT_ID,
        scopes: ['crm.read'],
        reason: 'expiring',
        message: expect.stringContaining('answered 500 server_error') as string,
        usingPreviousToken: true,
      },
    ]);
    expect(await h.registry.get(hash)).toMatchObject({ expiresAt: old.expiresAt, lastErrorAt: clock.now(), lastError: expect.stringContaining('answered 500') as string });

    // Expired: the caller waits on the endpoint, which fails.
    clock.advance(30 * SECOND);
    const expired = await failure(provider.get(h.spec));
    expect(expired).toBeInstanceOf(TokenRequestError);
    expect(expired).toMatchObject({ type: 'token_endpoint_error', status: 500, error: 'server_error' });
    expect(h.requests()).toBe(3);
    expect(failed(h.events).at(-1)).toMatchObject({ reason: 'missing', usingPreviousToken: false });

    // Within 5 s: the same error at once, no request.
    clock.advance(4 * SECOND);
    const fast = await failure(provider.get(h.spec));
    expect(fast).toBe(expired);
    await h.settle();
    expect(h.requests()).toBe(3);
    // The endpoint recovering changes nothing before the back-off ends.
    down = false;
    clock.advance(999);
    expect(await failure(provider.get(h.spec))).toBe(expired);
    await h.settle();
    expect(h.requests()).toBe(3);

    // After 5 s it tries again (down again: a new failure, a new back-off).
    down = true;
    clock.advance(1);
    const retried = await failure(provider.get(h.spec));
    expect(retried).not.toBe(expired);
    expect(retried).toMatchObject({ type: 'token_endpoint_error', status: 500 });
    expect(h.requests()).toBe(4);

    // Recovered: after the back-off a new token comes.
    down = false;
    clock.advance(5 * SECOND);
    const fresh = await provider.get(h.spec);
    keepTokens(fresh);
    expect(fresh.accessToken).not.toBe(old.accessToken);
    expect(fresh.expiresAt).toBe(clock.now() + 3600 * SECOND);
    expect(h.requests()).toBe(5);
    expect(acquired(h.events).at(-1)).toMatchObject({ reason: 'missing', onCallerPath: true });
    const record = await h.registry.get(hash);
    expect(record).toMatchObject({ expiresAt: fresh.expiresAt });
    expect(record).not.toHaveProperty('lastError');
  });

  it('6b. a closed port: the old token is kept, then token_endpoint_unreachable', async () => {
    const h = await setup();
    const clock = new FakeClock(T0);
    const provider = h.provider('lambda-1', clock);
    const spec = { ...h.spec, tokenEndpoint: `http://127.0.0.1:${await closedPort()}/token` };
    // A token in the shared secret, as another instance left it.
    const hash = tokenHash(spec);
    await provider.register(spec);
    await h.secrets.putSecretJson(names.token(hash), { accessToken: 'previous-token-abc', tokenType: 'Bearer', issuedAt: String(T0 - 59 * MINUTE), expiresAt: String(T0 + 20 * SECOND), scope: 'crm.read' });
    accessTokens.add('previous-token-abc');

    expect((await provider.get(spec)).accessToken).toBe('previous-token-abc');
    await h.settle();
    expect(failed(h.events)).toMatchObject([{ reason: 'expiring', usingPreviousToken: true }]);
    clock.advance(20 * SECOND);
    const err = await failure(provider.get(spec));
    expect(err).toMatchObject({ type: 'token_endpoint_unreachable' });
    expect(h.requests()).toBe(0);
  });

  it('6c. a failing background refresh is not retried by every call during the 5 s back-off', async () => {
    const h = await setup();
    h.answer((response) => {
      response.statusCode = 500;
      response.body = { error: 'server_error' };
    });
    const clock = new FakeClock(T0);
    const provider = h.provider('lambda-1', clock);
    const hash = tokenHash(h.spec);
    await provider.register(h.spec);
    await h.secrets.putSecretJson(names.token(hash), { accessToken: 'valid-for-60s', tokenType: 'Bearer', issuedAt: String(T0 - 59 * MINUTE), expiresAt: String(T0 + 60 * SECOND), scope: 'crm.read' });
    accessTokens.add('valid-for-60s');

    // One call per second for the token's last 50 s: each returns the old token.
    for (let i = 0; i < 50; i++) {
      expect((await provider.get(h.spec)).accessToken).toBe('valid-for-60s');
      await h.settle();
      clock.advance(SECOND);
    }
    // The back-off after a failed refresh is 5 s: about one attempt per 5 s, not one per call.
    console.info(`endpoint down for the last 50 s of a token, one call per second: ${h.requests()} token requests`);
    expect(h.requests()).toBeLessThanOrEqual(10);
  });
});

describe('the client secret unavailable', () => {
  const cases: { name: string; value?: SecretJson; storeFails?: boolean }[] = [
    { name: 'the secret has no such key', value: { apiKey: 'unrelated-value-2' } },
    { name: 'the key is empty', value: { [SECRET_KEY]: '', apiKey: 'unrelated-value-3' } },
    { name: 'the secret does not exist' },
    { name: 'the store fails', storeFails: true },
  ];
  it.each(cases)('7. $name: CredentialUnavailableError naming the secret id and the key, never a value', async ({ value, storeFails }) => {
    const h = await setup();
    h.secrets.values.delete(SECRET_ID);
    if (value) await h.secrets.putSecretJson(SECRET_ID, value);
    if (storeFails) {
      const read = h.secrets.getSecretJson.bind(h.secrets);
      h.secrets.getSecretJson = (secretId: string) => (secretId === SECRET_ID ? Promise.reject(new Error('AccessDeniedException: not authorized')) : read(secretId));
    }
    const provider = h.provider('lambda-1', new FakeClock(T0));

    const err = await failure(provider.get(h.spec));
    expect(err).toBeInstanceOf(CredentialUnavailableError);
    expect(err).toMatchObject({ code: 'CREDENTIAL_UNAVAILABLE' });
    expect(err.message).toContain(SECRET_ID);
    expect(err.message).toContain('connection crm');
    for (const text of [err.message, String(err.stack)]) for (const v of ['unrelated-value', CLIENT_SECRET]) expect(text).not.toContain(v);
    expect(h.requests()).toBe(0);
    expect(failed(h.events)).toMatchObject([{ reason: 'missing', usingPreviousToken: false, message: err.message }]);
    // Named last so that the other checks above are reported even when this one fails.
    if (!storeFails) expect(err.message).toContain(`"${SECRET_KEY}"`);
  });
});

describe('the refresher', () => {
  it('8. refreshes each token on its own, reports failures and scope drift; refreshIfDue says fresh and busy', async () => {
    const h = await setup();
    const clock = new FakeClock(T0);
    const refresher = h.provider('token-refresher', clock);
    await h.secrets.putSecretJson('ivrflow/connections/billing', { clientSecret: WRONG_SECRET });
    const good = h.spec;
    const wrong = specFor(h.server, { scopes: ['billing.read'], clientSecret: { secretId: 'ivrflow/connections/billing', key: 'clientSecret' }, source: 'connection billing' });
    const drift = specFor(h.server, { scopes: ['crm.admin', 'crm.read'], source: 'flow ivr step lookup' });
    // The server grants only crm.read to a request for crm.admin.
    h.answer((response, req) => {
      if (response.body !== '' && req.body.scope?.split(' ').includes('crm.admin')) response.body['scope'] = 'crm.read';
    });
    for (const spec of [good, wrong, drift]) await refresher.register(spec);

    const summary = await refreshTokens(h.registry, refresher);
    observed.push(JSON.stringify(summary));
    expect(h.requests()).toBe(3);
    expect(summary.checked).toBe(3);
    expect(summary.refreshed.map((r) => r.source).sort()).toEqual(['connection crm', 'flow ivr step lookup']);
    for (const r of summary.refreshed) expect(r.expiresAt).toBe(new Date(T0 + 3600 * SECOND).toISOString());
    expect(summary.failed).toEqual([{ source: 'connection billing', error: expect.stringContaining('401 invalid_client') as string }]);
    expect(summary.scopeDrift).toEqual([{ source: 'flow ivr step lookup', missingScopes: ['crm.admin'] }]);
    expect(summary).toMatchObject({ fresh: 0, busy: 0 });
    expect(acquired(h.events).find((e) => e.source === 'flow ivr step lookup')).toMatchObject({ reason: 'scheduled', onCallerPath: false, missingScopes: ['crm.admin'] });
    expect(await h.registry.get(tokenHash(wrong))).toMatchObject({ lastError: expect.stringContaining('invalid_client') as string, lastErrorAt: T0 });
    expect(await h.registry.get(tokenHash(good))).toMatchObject({ expiresAt: T0 + 3600 * SECOND, scope: 'crm.read' });
    expect(await h.registry.get(tokenHash(drift))).toMatchObject({ scope: 'crm.read' });
    // The executors find the refreshed tokens in the secrets: no request.
    const executor = h.provider('lambda-1', clock);
    keepTokens(await executor.get(good), await executor.get(drift));
    expect(h.requests()).toBe(3);

    // Ten minutes later: the two 60-minute tokens are fresh, the failed one is tried again.
    clock.advance(10 * MINUTE);
    const again = await refreshTokens(h.registry, refresher);
    expect(again).toMatchObject({ checked: 3, fresh: 2, busy: 0, refreshed: [], failed: [{ source: 'connection billing' }] });
    expect(h.requests()).toBe(4);
    const goodRecord = (await h.registry.get(tokenHash(good)))!;
    expect(await refresher.refreshIfDue(goodRecord)).toEqual({ status: 'fresh' });

    // 46 minutes after issue (14 left): due; another instance holds the lease → busy, no request.
    clock.advance(36 * MINUTE);
    const due = (await h.registry.get(tokenHash(good)))!;
    expect(await h.registry.acquireLease(due.hash, due, 'lambda-7', clock.now(), clock.now() + 10 * SECOND)).toBe(true);
    expect(await refresher.refreshIfDue(due)).toEqual({ status: 'busy' });
    expect(h.requests()).toBe(4);
    // The lease lapses: refreshed.
    clock.advance(10 * SECOND);
    const outcome = await refresher.refreshIfDue(due);
    expect(outcome).toEqual({ status: 'refreshed', expiresAt: clock.now() + 3600 * SECOND, missingScopes: [] });
    expect(h.requests()).toBe(5);
  });
});

describe('the token secret cannot be written', () => {
  async function failingWrite() {
    const h = await setup();
    const put = h.secrets.putSecretJson.bind(h.secrets);
    const state = { fail: true };
    h.secrets.putSecretJson = (secretId: string, value: SecretJson) => (state.fail && secretId.startsWith(names.token('')) ? Promise.reject(new Error('ThrottlingException: rate exceeded')) : put(secretId, value));
    return { h, state };
  }

  it('10a. the caller still gets the token it obtained (get throws only TokenRequestError or CredentialUnavailableError)', async () => {
    const { h } = await failingWrite();
    const provider = h.provider('lambda-1', new FakeClock(T0));
    const outcome = await provider.get(h.spec).then(
      (token) => {
        keepTokens(token);
        return 'token';
      },
      (err: unknown) => {
        keepError(err);
        return `${(err as Error).name}: ${(err as Error).message}`;
      },
    );
    expect(h.requests()).toBe(1);
    // The token is in this instance's memory anyway: the next get has it without a request.
    keepTokens(await provider.get(h.spec));
    expect(h.requests()).toBe(1);
    expect(outcome).toBe('token');
  });

  it('10b. the registry does not record a token the token secret does not hold (the refresher must not think it fresh)', async () => {
    const { h, state } = await failingWrite();
    const clock = new FakeClock(T0);
    await failure(h.provider('lambda-1', clock).get(h.spec)).catch(() => undefined);
    const hash = tokenHash(h.spec);
    expect(h.secrets.values.get(names.token(hash))).toBeUndefined();
    expect(h.requests()).toBe(1);

    // The store works again; the refresher runs 5 minutes later.
    state.fail = false;
    clock.advance(5 * MINUTE);
    const summary = await refreshTokens(h.registry, h.provider('token-refresher', clock));
    // Another instance then finds a token in the secret instead of calling the endpoint on its caller's path.
    const before = h.requests();
    const onCallerPathBefore = acquired(h.events).filter((e) => e.onCallerPath).length;
    keepTokens(await h.provider('lambda-2', clock).get(h.spec));
    const otherOnCallerPath = acquired(h.events).filter((e) => e.onCallerPath).length - onCallerPathBefore;
    expect({ fresh: summary.fresh, refreshed: summary.refreshed.length, otherRequests: h.requests() - before, otherOnCallerPath }).toEqual({ fresh: 0, refreshed: 1, otherRequests: 0, otherOnCallerPath: 0 });
  });
});

describe('secrets', () => {
  it('9. no event, error, summary or record carries the client secret, its Basic form or an access token', async () => {
    // A dedicated run with failures: a 401 echoing the credentials, a 500, a closed port, a missing secret, a wrong secret.
    const h = await setup();
    const basic = Buffer.from(`${formEncode(CLIENT_ID)}:${formEncode(CLIENT_SECRET)}`).toString('base64');
    let mode: 'ok' | 'echo' | 'down' = 'ok';
    h.answer((response) => {
      if (mode === 'echo') {
        response.statusCode = 401;
        response.body = { error: 'invalid_client', error_description: `client_secret ${CLIENT_SECRET} (${formEncode(CLIENT_SECRET)}, Basic ${basic}) is wrong` };
      } else if (mode === 'down') {
        response.statusCode = 500;
        response.body = { error: 'server_error' };
      }
    });
    const clock = new FakeClock(T0);
    const provider = h.provider('lambda-1', clock);
    const token = await provider.get(h.spec);
    keepTokens(token);

    mode = 'echo';
    clock.advance(token.expiresAt - 30 * SECOND - clock.now());
    keepTokens(await provider.get(h.spec));
    await h.settle();
    clock.advance(31 * SECOND);
    const echoed = await failure(provider.get(h.spec));
    expect(echoed.message).toContain('[REDACTED]');
    clock.advance(5 * SECOND);
    await failure(h.provider('lambda-2', clock).get({ ...h.spec, clientAuthentication: 'body' }));
    mode = 'down';
    clock.advance(5 * SECOND);
    await failure(provider.get(h.spec));
    await failure(provider.get(h.spec, { rejected: token.accessToken }));
    mode = 'ok';
    await failure(provider.get({ ...h.spec, tokenEndpoint: `http://127.0.0.1:${await closedPort()}/token` }));
    await failure(provider.get({ ...h.spec, clientSecret: { secretId: 'ivrflow/connections/none', key: SECRET_KEY } }));
    await h.secrets.putSecretJson('ivrflow/connections/wrong', { clientSecret: WRONG_SECRET });
    const wrong = { ...h.spec, scopes: ['other'], clientSecret: { secretId: 'ivrflow/connections/wrong', key: 'clientSecret' } };
    await failure(provider.get(wrong));
    observed.push(JSON.stringify(await refreshTokens(h.registry, provider)));
    observed.push(JSON.stringify(await h.registry.list()));
    expect(failed(h.events).length).toBeGreaterThanOrEqual(7);

    const forms = [
      CLIENT_SECRET,
      formEncode(CLIENT_SECRET),
      encodeURIComponent(CLIENT_SECRET),
      'S3cr3t+p%40ss',
      basic,
      Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'),
      WRONG_SECRET,
      formEncode(WRONG_SECRET),
      Buffer.from(`${formEncode(CLIENT_ID)}:${formEncode(WRONG_SECRET)}`).toString('base64'),
      ...accessTokens,
    ];
    // Everything the tests above collected, and this run's.
    expect(observed.length).toBeGreaterThan(40);
    expect(accessTokens.size).toBeGreaterThan(10);
    const leaks = observed.flatMap((text) => forms.filter((form) => text.includes(form)).map((form) => ({ form: form.slice(0, 12), text: text.slice(0, 200) })));
    expect(leaks).toEqual([]);
  });
});
