/**
 * Callback tokens (shared/callbacks/callback-token.ts): `<base64url(executionId)>.<256 random bits,
 * base64url>`, the wait id is the token's SHA-256, the URL is `<baseUrl>/callbacks/<token>`; a
 * token is parsed back to its execution id, and anything that is not a token's shape is refused.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callbackEndpointService, newCallback, parseCallbackToken, waitIdOf } from '#shared/callbacks/callback-token';
import { ConfigError } from '#shared/errors';
import { ServiceContainer } from '#shared/services';

const ENDPOINT = { baseUrl: 'https://ivr.example.com' };
const TOKEN_SHAPE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const b64 = (text: string) => Buffer.from(text).toString('base64url');
/** A well-formed secret part (43 base64url characters). */
const SECRET = 'A'.repeat(42) + 'w';

describe('newCallback', () => {
  it('a token is <base64url(executionId)>.<43 base64url characters> carrying at least 256 random bits', () => {
    const { token } = newCallback(ENDPOINT, 'exec-123');
    const match = TOKEN_SHAPE.exec(token);
    expect(match, token).not.toBeNull();
    expect(Buffer.from(match![1]!, 'base64url').toString('utf8')).toBe('exec-123');
    expect(match![1]).toBe(b64('exec-123'));
    const secret = Buffer.from(match![2]!, 'base64url');
    expect(secret.length * 8).toBeGreaterThanOrEqual(256);
    expect(secret.toString('base64url')).toBe(match![2]);
  });

  it('the URL is the base URL, /callbacks/ and the token; the wait id is the SHA-256 (hex) of the token', () => {
    const { token, url, waitId } = newCallback(ENDPOINT, 'exec-123');
    expect(url).toBe(`https://ivr.example.com/callbacks/${token}`);
    expect(waitId).toBe(sha256(token));
    expect(waitId).toMatch(/^[0-9a-f]{64}$/);
    expect(waitIdOf(token)).toBe(waitId);
    expect(new URL(url).pathname).toBe(`/callbacks/${token}`);
  });

  it('trailing slashes of the base URL are removed; a path in the base URL is kept', () => {
    for (const baseUrl of ['https://ivr.example.com/', 'https://ivr.example.com///']) {
      const { token, url } = newCallback({ baseUrl }, 'e');
      expect(url).toBe(`https://ivr.example.com/callbacks/${token}`);
    }
    const staged = newCallback({ baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/' }, 'e');
    expect(staged.url).toBe(`https://abc.execute-api.eu-west-1.amazonaws.com/prod/callbacks/${staged.token}`);
    const local = newCallback({ baseUrl: 'http://127.0.0.1:3000' }, 'e');
    expect(local.url).toBe(`http://127.0.0.1:3000/callbacks/${local.token}`);
  });

  it('two calls never give the same token (nor wait id), even for the same execution', () => {
    const tokens = new Set<string>();
    const waitIds = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const c = newCallback(ENDPOINT, 'same-execution');
      tokens.add(c.token);
      waitIds.add(c.waitId);
    }
    expect(tokens.size).toBe(500);
    expect(waitIds.size).toBe(500);
  });

  it('throws ConfigError when the base URL is not configured (undefined or empty)', () => {
    expect(() => newCallback({ baseUrl: undefined }, 'e')).toThrow(ConfigError);
    expect(() => newCallback({ baseUrl: undefined }, 'e')).toThrow(/IVRFLOW_PUBLIC_URL/);
    expect(() => newCallback({ baseUrl: '' }, 'e')).toThrow(ConfigError);
  });
});

describe('callbackEndpointService', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('defaults to no endpoint, whatever the environment (the functions provide IVRFLOW_PUBLIC_URL)', () => {
    vi.stubEnv('IVRFLOW_PUBLIC_URL', 'https://public.example.com');
    expect(new ServiceContainer().get(callbackEndpointService)).toEqual({ baseUrl: undefined });
  });

  it('a provided endpoint is used instead', () => {
    const services = new ServiceContainer().provide(callbackEndpointService, { baseUrl: 'https://ivr.example.com' });
    expect(services.get(callbackEndpointService).baseUrl).toBe('https://ivr.example.com');
  });
});

describe('parseCallbackToken', () => {
  it('round-trips execution ids: UUIDs, sub-flow ids with /, long and punctuated ids', () => {
    const ids = ['3f2504e0-4f89-41d3-9a0c-0305e82c3301', randomUUID(), 'root-exec/child-flow', 'root/a/b/c', 'x', 'id_with-all.sorts~of!punctuation:@$&*()', 'e'.repeat(256)];
    for (const id of ids) {
      const { token, waitId } = newCallback(ENDPOINT, id);
      expect(parseCallbackToken(token), id).toEqual({ executionId: id, waitId });
    }
  });

  it('the wait id of a parsed token is the SHA-256 of the whole token', () => {
    const token = `${b64('exec-9')}.${SECRET}`;
    expect(parseCallbackToken(token)).toEqual({ executionId: 'exec-9', waitId: sha256(token) });
  });

  it('undefined for a token without a dot, or with more than one', () => {
    const { token } = newCallback(ENDPOINT, 'exec-1');
    expect(parseCallbackToken(token.replace('.', ''))).toBeUndefined();
    expect(parseCallbackToken(token.replace('.', '_'))).toBeUndefined();
    expect(parseCallbackToken(`${token}.x`)).toBeUndefined();
    expect(parseCallbackToken(`${b64('a')}.${b64('b')}.${SECRET}`)).toBeUndefined();
  });

  it('undefined for a secret of the wrong length (42, 44, 86 characters) or an empty one', () => {
    const id = b64('exec-1');
    for (const secret of [SECRET.slice(1), `${SECRET}A`, SECRET + SECRET, '']) expect(parseCallbackToken(`${id}.${secret}`), secret).toBeUndefined();
  });

  it('undefined for characters outside base64url (padding, +, /, spaces, percent-escapes, non-ASCII), and for trailing newlines', () => {
    const id = b64('exec-1');
    const bad = [
      `${id}.${SECRET.slice(0, 42)}=`,
      `${id}.${SECRET.slice(0, 42)}+`,
      `${id}.${SECRET.slice(0, 42)}/`,
      `${id}.${SECRET.slice(0, 42)} `,
      `${id}.${SECRET.slice(0, 42)}é`,
      `${id}=.${SECRET}`,
      `a+b.${SECRET}`,
      `a/b.${SECRET}`,
      `%41.${SECRET}`,
      ` ${id}.${SECRET}`,
      `${id}.${SECRET}\n`,
      `${id}\n.${SECRET}`,
    ];
    for (const token of bad) expect(parseCallbackToken(token), JSON.stringify(token)).toBeUndefined();
  });

  it('undefined for an empty token and an empty execution id part', () => {
    expect(parseCallbackToken('')).toBeUndefined();
    expect(parseCallbackToken('.')).toBeUndefined();
    expect(parseCallbackToken(`.${SECRET}`)).toBeUndefined();
    // One base64url character decodes to no byte at all: an empty execution id.
    expect(parseCallbackToken(`A.${SECRET}`)).toBeUndefined();
  });

  it('undefined for huge tokens (an execution id part over 400 characters, an execution id over 256 characters)', () => {
    expect(parseCallbackToken(`${'A'.repeat(401)}.${SECRET}`)).toBeUndefined();
    expect(parseCallbackToken(`${b64('e'.repeat(257))}.${SECRET}`)).toBeUndefined();
    expect(parseCallbackToken(`${b64('e'.repeat(300))}.${SECRET}`)).toBeUndefined();
    expect(parseCallbackToken(`${'A'.repeat(100_000)}.${SECRET}`)).toBeUndefined();
    expect(parseCallbackToken('x'.repeat(1_000_000))).toBeUndefined();
    expect(parseCallbackToken(`${b64('e'.repeat(256))}.${SECRET}`)?.executionId).toBe('e'.repeat(256));
  });

  it('undefined for an execution id with control characters, spaces or characters outside printable ASCII', () => {
    for (const id of ['exec\n1', 'exec\r\n1', 'exec\u00001', 'exec\t1', '\u001b[31mred', 'exec\u007f', 'exec 1', ' ', 'café', 'exec-\u2028', '\uFEFFexec']) {
      expect(parseCallbackToken(`${b64(id)}.${SECRET}`), JSON.stringify(id)).toBeUndefined();
    }
    // Bytes that are not UTF-8 decode to U+FFFD: refused as well.
    expect(parseCallbackToken(`${Buffer.from([0xff, 0xfe, 0x41]).toString('base64url')}.${SECRET}`)).toBeUndefined();
  });

  it('a tampered secret parses to the same execution but a different wait id (it finds no wait)', () => {
    const { token, waitId } = newCallback(ENDPOINT, 'exec-42');
    const [idPart, secret] = token.split('.') as [string, string];
    const flipped = secret[10] === 'A' ? 'B' : 'A';
    const tampered = `${idPart}.${secret.slice(0, 10)}${flipped}${secret.slice(11)}`;
    const parsed = parseCallbackToken(tampered);
    expect(parsed?.executionId).toBe('exec-42');
    expect(parsed?.waitId).not.toBe(waitId);
    expect(parsed?.waitId).toBe(sha256(tampered));
  });

  it('a tampered execution id part names another execution and another wait id', () => {
    const { token, waitId } = newCallback(ENDPOINT, 'exec-42');
    const secret = token.split('.')[1]!;
    const parsed = parseCallbackToken(`${b64('exec-43')}.${secret}`);
    expect(parsed?.executionId).toBe('exec-43');
    expect(parsed?.waitId).not.toBe(waitId);
  });
});
