/**
 * HTTP Basic credentials for callers that cannot sign AWS requests or hold tokens (Twilio Studio's
 * HTTP Request widget puts them in the URL: `https://user:password@host/...`; RFC 7617). The
 * expected credentials are a Secrets Manager secret `{ "username", "password" }`, read through the
 * (cached) secret store. Comparison is constant-time: both values are hashed (SHA-256) and the
 * digests compared with `crypto.timingSafeEqual`, and both comparisons always run, so the time
 * taken says nothing about which part, or how much of it, matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { SecretStore } from '../stores/secret-store';

/** `Authorization: Basic <base64(user:password)>` → its parts; undefined for anything else. */
export function parseBasicAuthorization(header: string | undefined): { username: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Constant-time equality of two strings of any lengths. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Checks an `Authorization` header against the HTTP Basic credentials in one secret (RFC 7617), in constant time. */
export class BasicCredentialsChecker {
  constructor(private readonly props: { secrets: SecretStore; secretId: string }) {}

  /** Whether `authorization` carries the secret's credentials. A missing or malformed secret authorizes no one. */
  async check(authorization: string | undefined): Promise<boolean> {
    const given = parseBasicAuthorization(authorization);
    if (!given) return false;
    const expected = await this.props.secrets.getSecretJson(this.props.secretId);
    if (typeof expected?.['username'] !== 'string' || typeof expected['password'] !== 'string' || expected['password'] === '') return false;
    const user = sameSecret(given.username, expected['username']);
    const password = sameSecret(given.password, expected['password']);
    return user && password;
  }
}
