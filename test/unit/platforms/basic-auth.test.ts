/**
 * HTTP Basic caller credentials (shared/platforms/basic-auth.ts) and the basic-authorizer Lambda:
 * parsing the Authorization header (RFC 7617), the constant-time comparison (SHA-256 digests
 * through `crypto.timingSafeEqual`, both parts always compared), the checker over a secret store,
 * and the authorizer's simple responses.
 */
import * as crypto from 'node:crypto';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { createBasicAuthorizerHandler } from '../../../functions/basic-authorizer/handler';
import { lambdaContext } from '#shared/local/api-server';
import { logger } from '#shared/observability';
import { BasicCredentialsChecker, parseBasicAuthorization, sameSecret } from '#shared/platforms/basic-auth';
import type { SecretJson, SecretStore } from '#shared/stores/secret-store';
import { MemorySecretStore } from '#shared/stores/secrets/memory-secret-store';

/** The Lambda context API Gateway's authorizer invocation gets. */
const CONTEXT = lambdaContext('BasicAuthorizer', 'request-1', 5000);

// Every timingSafeEqual call basic-auth.ts makes goes through this spy (the real function still answers).
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const timingSafeEqual = vi.mocked(crypto.timingSafeEqual);

const SECRET_ID = 'callers/basic';
const USER = 'twilio-studio';
const PASSWORD = 'pa:ss w0rd:é';

const basic = (credentials: string, scheme = 'Basic') => `${scheme} ${Buffer.from(credentials, 'utf8').toString('base64')}`;

async function storeWith(value?: SecretJson): Promise<MemorySecretStore> {
  const store = new MemorySecretStore();
  if (value) await store.putSecretJson(SECRET_ID, value);
  return store;
}

beforeEach(() => {
  timingSafeEqual.mockClear();
});

describe('parseBasicAuthorization', () => {
  it('a valid header → its username and password', () => {
    expect(parseBasicAuthorization(basic('alice:secret'))).toEqual({ username: 'alice', password: 'secret' });
    expect(parseBasicAuthorization(`Basic   ${Buffer.from('alice:secret').toString('base64')}  `)).toEqual({ username: 'alice', password: 'secret' });
    expect(parseBasicAuthorization(basic('ünï:cødé'))).toEqual({ username: 'ünï', password: 'cødé' });
  });

  it('the scheme is case-insensitive', () => {
    expect(parseBasicAuthorization(basic('alice:secret', 'basic'))).toEqual({ username: 'alice', password: 'secret' });
    expect(parseBasicAuthorization(basic('alice:secret', 'BASIC'))).toEqual({ username: 'alice', password: 'secret' });
  });

  it('the password may contain colons (only the first colon separates)', () => {
    expect(parseBasicAuthorization(basic('alice:pa:ss:'))).toEqual({ username: 'alice', password: 'pa:ss:' });
    expect(parseBasicAuthorization(basic(':only-password'))).toEqual({ username: '', password: 'only-password' });
    expect(parseBasicAuthorization(basic('only-user:'))).toEqual({ username: 'only-user', password: '' });
  });

  it('no colon → undefined', () => {
    expect(parseBasicAuthorization(basic('alice'))).toBeUndefined();
    expect(parseBasicAuthorization(basic('no-colon-here'))).toBeUndefined();
  });

  it('not base64 → undefined', () => {
    expect(parseBasicAuthorization('Basic not*base64!')).toBeUndefined();
    expect(parseBasicAuthorization('Basic YWxpY2U6c2VjcmV0===')).toBeUndefined();
    expect(parseBasicAuthorization('Basic YWxp Y2U6c2VjcmV0')).toBeUndefined();
    expect(parseBasicAuthorization('Basic ')).toBeUndefined();
    expect(parseBasicAuthorization('Basic')).toBeUndefined();
  });

  it('another scheme (Bearer), or an empty or missing header → undefined', () => {
    expect(parseBasicAuthorization(`Bearer ${Buffer.from('alice:secret').toString('base64')}`)).toBeUndefined();
    expect(parseBasicAuthorization(Buffer.from('alice:secret').toString('base64'))).toBeUndefined();
    expect(parseBasicAuthorization('')).toBeUndefined();
    expect(parseBasicAuthorization(undefined)).toBeUndefined();
  });
});

describe('sameSecret', () => {
  it('equal strings → true; different strings → false', () => {
    expect(sameSecret('s3cret', 's3cret')).toBe(true);
    expect(sameSecret('', '')).toBe(true);
    expect(sameSecret('s3cret', 's3creT')).toBe(false);
    expect(sameSecret('s3cret', '')).toBe(false);
  });

  it('strings of different lengths compare without throwing (timingSafeEqual gets two 32-byte digests)', () => {
    expect(() => sameSecret('short', 'a much longer value than the other')).not.toThrow();
    expect(sameSecret('short', 'a much longer value than the other')).toBe(false);
    expect(sameSecret('x'.repeat(10_000), 'x')).toBe(false);
    for (const [a, b] of timingSafeEqual.mock.calls) {
      expect(Buffer.isBuffer(a) && a.length).toBe(32);
      expect(Buffer.isBuffer(b) && b.length).toBe(32);
    }
    expect(timingSafeEqual).toHaveBeenCalledTimes(3);
  });
});

describe('BasicCredentialsChecker', () => {
  it('the right credentials → true', async () => {
    const checker = new BasicCredentialsChecker({ secrets: await storeWith({ username: USER, password: PASSWORD }), secretId: SECRET_ID });
    expect(await checker.check(basic(`${USER}:${PASSWORD}`))).toBe(true);
    expect(await checker.check(basic(`${USER}:${PASSWORD}`, 'basic'))).toBe(true);
  });

  it('a wrong username, a wrong password, a missing or malformed header → false', async () => {
    const checker = new BasicCredentialsChecker({ secrets: await storeWith({ username: USER, password: PASSWORD }), secretId: SECRET_ID });
    expect(await checker.check(basic(`someone-else:${PASSWORD}`))).toBe(false);
    expect(await checker.check(basic(`${USER}:wrong`))).toBe(false);
    expect(await checker.check(basic(`${USER}:${PASSWORD} `))).toBe(false);
    expect(await checker.check(basic(`${USER.toUpperCase()}:${PASSWORD}`))).toBe(false);
    expect(await checker.check(basic(`${USER}`))).toBe(false);
    expect(await checker.check(basic(`:${PASSWORD}`))).toBe(false);
    expect(await checker.check(undefined)).toBe(false);
    expect(await checker.check('')).toBe(false);
    expect(await checker.check('Basic %%%')).toBe(false);
    expect(await checker.check(`Bearer ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`)).toBe(false);
  });

  it('a missing secret, or one without a (non-empty) password or username, authorizes no one', async () => {
    for (const value of [undefined, { username: USER }, { password: PASSWORD }, { username: USER, password: '' }, { user: USER, pass: PASSWORD }] as (SecretJson | undefined)[]) {
      const checker = new BasicCredentialsChecker({ secrets: await storeWith(value), secretId: SECRET_ID });
      expect(await checker.check(basic(`${USER}:${PASSWORD}`)), JSON.stringify(value)).toBe(false);
      expect(await checker.check(basic(`${USER}:`)), JSON.stringify(value)).toBe(false);
      expect(await checker.check(basic(':')), JSON.stringify(value)).toBe(false);
    }
  });

  it('the secret is read through the store once per check, by its id, never bypassing the cache', async () => {
    const store = await storeWith({ username: USER, password: PASSWORD });
    const read = vi.spyOn(store, 'getSecretJson');
    const checker = new BasicCredentialsChecker({ secrets: store, secretId: SECRET_ID });
    await checker.check(basic(`${USER}:${PASSWORD}`));
    await checker.check(basic(`${USER}:wrong`));
    await checker.check(basic(`nobody:${PASSWORD}`));
    expect(store.reads.get(SECRET_ID)).toBe(3);
    expect(read).toHaveBeenCalledTimes(3);
    for (const args of read.mock.calls) {
      const [secretId, options] = args as unknown as [string, { fresh?: boolean } | undefined];
      expect(secretId).toBe(SECRET_ID);
      expect(options?.fresh).not.toBe(true);
    }
    // A header that is not Basic credentials costs no read.
    await checker.check('Bearer abc');
    expect(read).toHaveBeenCalledTimes(3);
  });

  it('a caching store is honoured: many checks, one read of the backing store; a rotated secret is seen once the cache lets it through', async () => {
    const backing = await storeWith({ username: USER, password: PASSWORD });
    const cache = new Map<string, SecretJson | undefined>();
    const caching: SecretStore = {
      getSecretJson: async (id, options) => {
        if (options?.fresh || !cache.has(id)) cache.set(id, await backing.getSecretJson(id));
        return cache.get(id);
      },
      putSecretJson: (id, value) => backing.putSecretJson(id, value),
      deleteSecret: (id) => backing.deleteSecret(id),
      describe: (id) => backing.describe(id),
    };
    const checker = new BasicCredentialsChecker({ secrets: caching, secretId: SECRET_ID });
    for (let i = 0; i < 5; i++) expect(await checker.check(basic(`${USER}:${PASSWORD}`))).toBe(true);
    expect(await checker.check(basic(`${USER}:wrong`))).toBe(false);
    expect(backing.reads.get(SECRET_ID)).toBe(1);
    await backing.putSecretJson(SECRET_ID, { username: USER, password: 'rotated' });
    expect(await checker.check(basic(`${USER}:${PASSWORD}`))).toBe(true);
    cache.clear();
    expect(await checker.check(basic(`${USER}:${PASSWORD}`))).toBe(false);
    expect(await checker.check(basic(`${USER}:rotated`))).toBe(true);
    expect(backing.reads.get(SECRET_ID)).toBe(2);
  });

  it('both comparisons always run (username and password), whichever part is wrong', async () => {
    const checker = new BasicCredentialsChecker({ secrets: await storeWith({ username: USER, password: PASSWORD }), secretId: SECRET_ID });
    for (const [credentials, expected] of [
      [`${USER}:${PASSWORD}`, true],
      [`someone-else:${PASSWORD}`, false],
      [`${USER}:wrong`, false],
      ['someone-else:wrong', false],
      [`x:${PASSWORD}`, false],
    ] as const) {
      timingSafeEqual.mockClear();
      expect(await checker.check(basic(credentials)), credentials).toBe(expected);
      expect(timingSafeEqual, credentials).toHaveBeenCalledTimes(2);
      // Digests of equal length whatever the lengths given: nothing short-circuits on length.
      for (const [a, b] of timingSafeEqual.mock.calls) expect([Buffer.isBuffer(a) && a.length, Buffer.isBuffer(b) && b.length], credentials).toEqual([32, 32]);
    }
  });
});

describe('basic-authorizer handler', () => {
  let errors: MockInstance<typeof logger.error>;
  beforeEach(() => {
    errors = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => errors.mockRestore());

  const event = (headers: Record<string, string> | undefined): APIGatewayRequestAuthorizerEventV2 =>
    ({
      version: '2.0',
      type: 'REQUEST',
      routeArn: 'arn:aws:execute-api:us-east-1:000000000000:api/$default/POST/flows/f/executions',
      identitySource: headers ? Object.values(headers) : [],
      routeKey: 'POST /flows/{flowId}/executions',
      rawPath: '/flows/f/executions',
      rawQueryString: '',
      cookies: [],
      ...(headers ? { headers } : {}),
      requestContext: {
        accountId: '000000000000',
        apiId: 'api',
        domainName: 'api.example.com',
        domainPrefix: 'api',
        http: { method: 'POST', path: '/flows/f/executions', protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'TwilioProxy/1.1' },
        requestId: 'req',
        routeKey: 'POST /flows/{flowId}/executions',
        stage: '$default',
        time: '01/Jan/2026:00:00:00 +0000',
        timeEpoch: 0,
      },
    }) as unknown as APIGatewayRequestAuthorizerEventV2;

  it('{ isAuthorized: true } for the right credentials, whatever the case of the header name', async () => {
    const store = await storeWith({ username: USER, password: PASSWORD });
    const handler = createBasicAuthorizerHandler(
      () => store,
      () => SECRET_ID,
    );
    for (const name of ['authorization', 'Authorization', 'AUTHORIZATION', 'aUtHoRiZaTiOn']) {
      expect(await handler(event({ [name]: basic(`${USER}:${PASSWORD}`), 'user-agent': 'TwilioProxy/1.1' }), CONTEXT), name).toEqual({ isAuthorized: true });
    }
    expect(store.reads.get(SECRET_ID)).toBe(4);
  });

  it('{ isAuthorized: false } otherwise: wrong credentials, another scheme, no header, no headers at all, a missing secret', async () => {
    const store = await storeWith({ username: USER, password: PASSWORD });
    const authorizer = createBasicAuthorizerHandler(
      () => store,
      () => SECRET_ID,
    );
    expect(await authorizer(event({ authorization: basic(`${USER}:wrong`) }), CONTEXT)).toEqual({ isAuthorized: false });
    expect(await authorizer(event({ authorization: basic(`other:${PASSWORD}`) }), CONTEXT)).toEqual({ isAuthorized: false });
    expect(await authorizer(event({ authorization: `Bearer ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` }), CONTEXT)).toEqual({ isAuthorized: false });
    expect(await authorizer(event({ 'x-authorization': basic(`${USER}:${PASSWORD}`) }), CONTEXT)).toEqual({ isAuthorized: false });
    expect(await authorizer(event({}), CONTEXT)).toEqual({ isAuthorized: false });
    expect(await authorizer(event(undefined), CONTEXT)).toEqual({ isAuthorized: false });
    const empty = createBasicAuthorizerHandler(
      () => new MemorySecretStore(),
      () => SECRET_ID,
    );
    expect(await empty(event({ authorization: basic(`${USER}:${PASSWORD}`) }), CONTEXT)).toEqual({ isAuthorized: false });
    expect(errors).not.toHaveBeenCalled();
  });

  it('{ isAuthorized: false }, not a throw, when the secret store fails; the failure is logged', async () => {
    const failing: SecretStore = {
      getSecretJson: () => Promise.reject(new Error('Secrets Manager is unreachable')),
      putSecretJson: () => Promise.resolve(),
      deleteSecret: () => Promise.resolve(false),
      describe: () => Promise.resolve(undefined),
    };
    const handler = createBasicAuthorizerHandler(
      () => failing,
      () => SECRET_ID,
    );
    await expect(handler(event({ Authorization: basic(`${USER}:${PASSWORD}`) }), CONTEXT)).resolves.toEqual({ isAuthorized: false });
    expect(errors).toHaveBeenCalledTimes(1);
    const throwing: SecretStore = {
      ...failing,
      getSecretJson: () => {
        throw new Error('synchronous failure');
      },
    };
    const sync = createBasicAuthorizerHandler(
      () => throwing,
      () => SECRET_ID,
    );
    await expect(sync(event({ authorization: basic(`${USER}:${PASSWORD}`) }), CONTEXT)).resolves.toEqual({ isAuthorized: false });
  });
});
