/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4): requesting a token, and the refresh rules. The
 * token provider (`token-provider.ts`) caches and shares the tokens.
 *
 * Secrets stay out of errors and events: a {@link TokenRequestError} never carries the client
 * secret or a token in its message or details, and has no `cause` (an HTTP failure message is
 * copied, scrubbed, instead).
 */
import { decodeJwt } from 'jose';
import type { Clock } from '../clock';
import { IvrflowError } from '../errors';
import type { HttpClient, HttpFailure, HttpResponse } from '../http/client';
import { parseUntrustedJson } from '../json';

/** How the client authenticates at the token endpoint (RFC 6749 §2.3.1). */
export type ClientAuthentication = 'basic' | 'body';

/** What a client credentials token request needs (RFC 6749 §4.4), the client secret included. */
export interface ClientCredentialsConfig {
  /** The token endpoint, an absolute http(s) URL. */
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  /** Scopes requested; none → no `scope` parameter (the server's default scope). */
  scopes?: string[];
  /** `basic`: HTTP Basic with the form-encoded id and secret; `body`: `client_id`/`client_secret` in the form body. */
  clientAuthentication: ClientAuthentication;
  /** Timeout of the whole token request. @default 5000 */
  timeoutMs?: number;
}

/** An access token from a token endpoint (RFC 6749 §5.1), with when it was issued and expires (epoch ms). */
export interface AccessToken {
  accessToken: string;
  /** `token_type` as the server sent it (usually `Bearer`; compare case-insensitively). */
  tokenType: string;
  /** When the request was sent (epoch ms, from the injected clock): the start of the token's lifetime. */
  issuedAt: number;
  /** Epoch ms: `issuedAt + expires_in`, or the JWT `exp` claim when `expires_in` is absent. */
  expiresAt: number;
  /** The granted scope string (the response's `scope`, or the requested one when the response omits it, RFC 6749 §5.1). */
  scope: string;
  grantedScopes: string[];
}

/** Why a token request failed: see {@link TokenRequestError}. */
export type TokenRequestErrorType = 'token_endpoint_unreachable' | 'token_endpoint_error' | 'invalid_token_response';

/**
 * A token request failed. `type`: `token_endpoint_unreachable` (no HTTP answer: connection, timeout,
 * blocked or unusable URL), `token_endpoint_error` (a non-2xx answer; `error` is the RFC 6749 §5.2
 * code when the body has one), `invalid_token_response` (a 2xx answer that is not a usable token).
 */
export class TokenRequestError extends IvrflowError {
  readonly type: TokenRequestErrorType;
  /** RFC 6749 §5.2 `error` code (`invalid_client`, `invalid_scope`...), for `token_endpoint_error`. */
  readonly error?: string;
  /** HTTP status, when there was an answer. */
  readonly status?: number;

  constructor(type: TokenRequestErrorType, message: string, options: { error?: string; status?: number } = {}) {
    super('TOKEN_REQUEST_FAILED', message, { details: { type, ...(options.error === undefined ? {} : { error: options.error }), ...(options.status === undefined ? {} : { status: options.status }) } });
    this.name = 'TokenRequestError';
    this.type = type;
    if (options.error !== undefined) this.error = options.error;
    if (options.status !== undefined) this.status = options.status;
  }
}

const DEFAULT_TIMEOUT_MS = 5000;
const MAX_DESCRIPTION_CHARS = 200;
/** RFC 6749 §5.2: `error` is NQSCHAR (printable ASCII without `"` and `\`). */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

/** RFC 6749 Appendix B / §2.3.1: application/x-www-form-urlencoded encoding of one value. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** Scopes split on spaces, deduplicated, empty ones dropped (RFC 6749 §3.3). */
export function normalizeScopes(scopes: readonly string[] | undefined): string[] {
  return [...new Set((scopes ?? []).flatMap((s) => s.split(' ')).filter((s) => s !== ''))];
}

/** Removes every occurrence of the given secrets from a text (a server may echo what it received). An access token is never put in a message. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('[REDACTED]');
  return out;
}

/**
 * Requests a token with the client credentials grant (RFC 6749 §4.4).
 * @throws TokenRequestError on every failure; never anything else for a network or server outcome.
 */
export async function requestClientCredentialsToken(config: ClientCredentialsConfig, http: HttpClient, clock: Clock): Promise<AccessToken> {
  const basic = Buffer.from(`${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`).toString('base64');
  const secrets = [config.clientSecret, formEncode(config.clientSecret), basic];
  let url: URL;
  try {
    url = new URL(config.tokenEndpoint);
  } catch {
    throw new TokenRequestError('token_endpoint_unreachable', 'the token endpoint is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TokenRequestError('token_endpoint_unreachable', `the token endpoint must be an http(s) URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new TokenRequestError('token_endpoint_unreachable', 'the token endpoint URL must not carry credentials');
  const where = `${url.origin}${url.pathname}`;

  const requested = normalizeScopes(config.scopes);
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (requested.length > 0) form.set('scope', requested.join(' '));
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (config.clientAuthentication === 'basic') headers['authorization'] = `Basic ${basic}`;
  else {
    form.set('client_id', config.clientId);
    form.set('client_secret', config.clientSecret);
  }

  const issuedAt = clock.now();
  let answer: HttpResponse | HttpFailure;
  try {
    answer = await http.send({ url, method: 'POST', headers, body: form.toString(), timeoutMs: config.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  } catch (err) {
    // The port resolves failures; a throw is unexpected but still only a reachability failure.
    throw new TokenRequestError('token_endpoint_unreachable', `token endpoint ${where} unreachable: ${scrub(String((err as Error)?.message ?? err), secrets)}`);
  }
  if (answer.kind !== 'response') {
    throw new TokenRequestError('token_endpoint_unreachable', `token endpoint ${where} unreachable (${answer.kind}): ${scrub(answer.message, secrets)}`);
  }

  let body: unknown;
  try {
    body = parseUntrustedJson(answer.body.toString('utf8'));
  } catch {
    body = undefined;
  }
  const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;

  if (answer.status < 200 || answer.status > 299) {
    const code = typeof fields?.['error'] === 'string' && ERROR_CODE.test(fields['error']) ? fields['error'] : undefined;
    const rawDescription = typeof fields?.['error_description'] === 'string' ? fields['error_description'] : undefined;
    const description = rawDescription === undefined ? '' : `: ${scrub(rawDescription.slice(0, MAX_DESCRIPTION_CHARS), secrets)}`;
    throw new TokenRequestError('token_endpoint_error', `token endpoint ${where} answered ${answer.status}${code === undefined ? '' : ` ${scrub(code, secrets)}`}${description}`, {
      status: answer.status,
      ...(code === undefined ? {} : { error: scrub(code, secrets) }),
    });
  }

  const invalid = (why: string) => new TokenRequestError('invalid_token_response', `token endpoint ${where} answered ${answer.status} without a usable token: ${why}`, { status: answer.status });
  if (fields === undefined) throw invalid('the body is not a JSON object');
  const accessToken = fields['access_token'];
  if (typeof accessToken !== 'string' || accessToken === '') throw invalid('no access_token');
  const tokenType = fields['token_type'];
  if (typeof tokenType !== 'string' || tokenType === '') throw invalid('no token_type');

  let expiresAt: number;
  const rawExpiresIn = fields['expires_in'];
  if (rawExpiresIn !== undefined && rawExpiresIn !== null) {
    // Some servers send a numeric string.
    const expiresIn = typeof rawExpiresIn === 'number' ? rawExpiresIn : typeof rawExpiresIn === 'string' && /^\d+$/.test(rawExpiresIn) ? Number(rawExpiresIn) : NaN;
    if (!Number.isFinite(expiresIn) || expiresIn <= 0) throw invalid('expires_in is not a positive number of seconds');
    expiresAt = issuedAt + expiresIn * 1000;
  } else {
    let exp: unknown;
    try {
      exp = decodeJwt(accessToken).exp;
    } catch {
      throw invalid('no expires_in, and the access token is not a JWT');
    }
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('no expires_in, and the JWT has no exp claim');
    expiresAt = exp * 1000;
    if (expiresAt <= issuedAt) throw invalid('no expires_in, and the JWT exp claim is already past');
  }

  const rawScope = fields['scope'];
  if (rawScope !== undefined && rawScope !== null && typeof rawScope !== 'string') throw invalid('scope is not a string');
  const grantedScopes = typeof rawScope === 'string' ? normalizeScopes([rawScope]) : requested;
  return { accessToken, tokenType, issuedAt, expiresAt, scope: grantedScopes.join(' '), grantedScopes };
}

/** The scheduled refresher's rule: remaining life below max(15 min, 25 % of the token's lifetime). */
export function needsRefresh(token: Pick<AccessToken, 'issuedAt' | 'expiresAt'>, nowMs: number): boolean {
  const lifetime = token.expiresAt - token.issuedAt;
  return token.expiresAt - nowMs < Math.max(15 * 60_000, lifetime / 4);
}

/** The executor's pre-flight rule: the token is expired or expires within `withinMs`. */
export function expiresSoon(token: Pick<AccessToken, 'expiresAt'>, nowMs: number, withinMs = 60_000): boolean {
  return token.expiresAt - nowMs <= withinMs;
}

/** The requested scopes that were not granted (empty when none). */
export function scopeDrift(requested: readonly string[], granted: readonly string[]): string[] {
  const have = new Set(normalizeScopes(granted));
  return normalizeScopes(requested).filter((s) => !have.has(s));
}

/** The cache key: (tokenEndpoint, clientId, sorted scopes). */
export function tokenCacheKey(config: Pick<ClientCredentialsConfig, 'tokenEndpoint' | 'clientId' | 'scopes'>): string {
  return JSON.stringify([config.tokenEndpoint, config.clientId, normalizeScopes(config.scopes).sort()]);
}
