/**
 * The CLI's client of an ivrflow HTTP API (a deployed one, or `ivrflow serve`): the base URL from
 * `--api` or `IVRFLOW_API_URL`, JSON in and out, and with `--aws` every request signed with AWS
 * Signature Version 4 for an API whose routes use IAM authorization (AWS documentation, "Create a
 * signed AWS API request"; service `execute-api`). The remote commands (cli/remote.ts) and
 * `deploy` send every request through it.
 *
 * Failures are typed: {@link ApiUsageError} (bad usage, exit 2), {@link ApiNetworkError} (the API
 * could not be reached), {@link ApiCredentialsError} (no credentials to sign with), {@link ApiResponseError} (the API answered 4xx/5xx, with the
 * `{ error: { code, message, details } }` it gave).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { parseUntrustedJson } from '#shared/json';

/** The environment variable that names the API base URL when `--api` is absent. */
export const API_URL_ENV = 'IVRFLOW_API_URL';

/** How long one request may take before it is abandoned, ms. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** AWS credentials, as the SDK's credential providers resolve them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Resolves credentials on each call (the default chain memoizes and refreshes them). */
export type CredentialsProvider = () => Promise<AwsCredentials>;

/** The flags every remote command takes. */
export interface ApiOptions {
  /** The API base URL (a stage path is kept: `https://<api-id>.execute-api.<region>.amazonaws.com/prod`). @default $IVRFLOW_API_URL */
  api?: string;
  /** Sign each request with AWS Signature Version 4. @default false */
  aws?: boolean;
}

/** What the client is built from; every field has the real default and is replaced by tests. */
export interface ApiClientDeps {
  /** Where `IVRFLOW_API_URL`, `AWS_REGION` and `AWS_DEFAULT_REGION` are read. @default process.env */
  env?: Record<string, string | undefined>;
  /** The credentials `--aws` signs with. @default fromNodeProviderChain() of `@aws-sdk/credential-providers` */
  credentials?: CredentialsProvider;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The signing time. @default () => new Date() */
  now?: () => Date;
  /** @default {@link REQUEST_TIMEOUT_MS} */
  timeoutMs?: number;
}

/** A query parameter; `undefined` and `''` are left out of the URL. */
export type QueryValue = string | number | undefined;

/** What one request carries besides its method and path. */
export interface ApiRequestInit {
  query?: Record<string, QueryValue>;
  /** Sent as JSON (`content-type: application/json`). */
  body?: unknown;
}

/** An answer: the status and the body (parsed JSON; the text when it is not JSON; undefined when empty). */
export interface ApiResponse {
  status: number;
  body: unknown;
}

/** A client bound to one API: its base URL, the signing region with `--aws`, and `request`. */
export interface ApiClient {
  baseUrl: URL;
  /** The region requests are signed for (only with `--aws`). */
  region?: string;
  /**
   * Sends one request; answers of any status are returned, never thrown.
   * @param path the path below the base URL, its segments already encoded (`/circuits/${encodeURIComponent(key)}`)
   * @throws ApiNetworkError when the API cannot be reached or does not answer within the timeout;
   *   ApiCredentialsError when `--aws` finds no credentials
   */
  request(method: string, path: string, init?: ApiRequestInit): Promise<ApiResponse>;
}

/** Base of the client's errors. */
export class ApiClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiClientError';
  }
}

/** Bad usage: no API URL, one that is not a URL, or `--aws` without a region. The command exits 2. */
export class ApiUsageError extends ApiClientError {
  constructor(message: string) {
    super(message);
    this.name = 'ApiUsageError';
  }
}

/** The API could not be reached (DNS, refused connection, TLS, timeout). */
export class ApiNetworkError extends ApiClientError {
  constructor(
    readonly url: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach ${url}: ${reason}`, options);
    this.name = 'ApiNetworkError';
  }
}

/** `--aws` could not resolve credentials to sign with (the default chain found none, or the provider failed). */
export class ApiCredentialsError extends ApiClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiCredentialsError';
  }
}

/** The API answered 4xx or 5xx: its status and the `{ error: { code, message, details } }` it gave. */
export class ApiResponseError extends ApiClientError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiResponseError';
  }
}

/**
 * A client for the API the flags name: the base URL from `--api`, else `IVRFLOW_API_URL`; with
 * `--aws` a SigV4 signer for service `execute-api` in the region of the URL's host
 * (`<api-id>.execute-api.<region>.amazonaws.com`), else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
 * Nothing is sent and no credential is resolved until the first request.
 * @throws ApiUsageError when there is no URL, it is not an http(s) URL, or `--aws` has no region
 * @example
 * const client = apiClient({ api: 'https://abc123.execute-api.eu-west-1.amazonaws.com', aws: true });
 * const { status, body } = await client.request('GET', '/flows', { query: { limit: 10 } });
 */
export function apiClient(options: ApiOptions, deps: ApiClientDeps = {}): ApiClient {
  const env = deps.env ?? process.env;
  const baseUrl = baseUrlOf(options.api, env);
  const region = options.aws ? signingRegion(baseUrl, env) : undefined;
  const send = deps.fetch ?? globalThis.fetch;
  const timeoutMs = deps.timeoutMs ?? REQUEST_TIMEOUT_MS;
  let signer: SignatureV4 | undefined;
  const signerFor = (signingRegion: string): SignatureV4 => (signer ??= new SignatureV4({ service: 'execute-api', region: signingRegion, sha256: Sha256, credentials: deps.credentials ?? defaultCredentials() }));

  return {
    baseUrl,
    ...(region === undefined ? {} : { region }),
    async request(method, path, init = {}) {
      const url = new URL(baseUrl.href);
      url.pathname = `${baseUrl.pathname.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;
      const query = Object.fromEntries(Object.entries(init.query ?? {}).flatMap(([k, v]) => (v === undefined || v === '' ? [] : [[k, String(v)]]))) as Record<string, string>;
      // Encoded as the signature's canonical query string encodes (RFC 3986), so the server's canonical form matches ours.
      url.search = Object.entries(query)
        .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
        .join('&');
      let headers: Record<string, string> = { accept: 'application/json' };
      const body = init.body === undefined ? undefined : JSON.stringify(init.body);
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (region !== undefined) {
        const signed = await signerFor(region)
          .sign(
            { method, protocol: url.protocol, hostname: url.hostname, ...(url.port ? { port: Number(url.port) } : {}), path: url.pathname, query, headers: { ...headers, host: url.host }, ...(body === undefined ? {} : { body }) },
            { signingDate: (deps.now ?? (() => new Date()))() },
          )
          .catch((e: unknown) => {
            throw new ApiCredentialsError(`--aws: cannot sign the request: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
          });
        // fetch sets Host itself, to the value signed above (url.host).
        const { host: _host, ...rest } = signed.headers;
        headers = rest;
      }
      let res: Response;
      try {
        res = await send(url, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        throw new ApiNetworkError(baseUrl.href, reasonOf(e, timeoutMs), { cause: e });
      }
      const text = await res.text().catch(() => '');
      return { status: res.status, body: parseBody(text) };
    },
  };
}

/**
 * One request through a new {@link apiClient}: what every remote command and `deploy` send.
 * @returns the status and body of any answer (4xx/5xx included; see {@link expectOk})
 * @throws ApiUsageError, ApiNetworkError, ApiCredentialsError
 */
export function apiRequest(options: ApiOptions, method: string, path: string, init: ApiRequestInit = {}, deps: ApiClientDeps = {}): Promise<ApiResponse> {
  return apiClient(options, deps).request(method, path, init);
}

/**
 * The answer when its status is 2xx.
 * @throws ApiResponseError with the server's `error.code`, `error.message` and `error.details`; for
 *   an answer without that envelope (an API Gateway `{ "message": "Forbidden" }`, a proxy's page),
 *   the status text as the code and its `message` or first 300 characters
 */
export function expectOk(res: ApiResponse): ApiResponse {
  if (res.status >= 200 && res.status < 300) return res;
  const envelope = (res.body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (envelope && typeof envelope.code === 'string') {
    throw new ApiResponseError(res.status, envelope.code, typeof envelope.message === 'string' ? envelope.message : '', envelope.details);
  }
  const message = (res.body as { message?: unknown } | undefined)?.message;
  const text = typeof message === 'string' ? message : typeof res.body === 'string' ? res.body.slice(0, 300) : res.body === undefined ? '' : JSON.stringify(res.body).slice(0, 300);
  throw new ApiResponseError(res.status, STATUS_TEXT[res.status] ?? 'HTTP_ERROR', text);
}

/**
 * The lines the CLI prints for a client error: `ivrflow: <status> <code>: <message>` and the
 * details as JSON when the server gave some; one line for the others.
 */
export function errorLines(e: ApiClientError): string[] {
  if (e instanceof ApiResponseError) return [`ivrflow: ${e.status} ${e.code}: ${e.message}`.trimEnd(), ...(e.details === undefined ? [] : [`ivrflow: details: ${JSON.stringify(e.details)}`])];
  return [`ivrflow: ${e.message.replace(/\s*[\r\n]+\s*/g, ' ')}`];
}

/**
 * The region a SigV4 request to `url` is signed for: the `<region>` of an
 * `<api-id>.execute-api.<region>.amazonaws.com` host (also `.amazonaws.com.cn` and VPC endpoint
 * hosts), else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
 * @throws ApiUsageError when none gives one
 */
export function signingRegion(url: URL, env: Record<string, string | undefined>): string {
  const fromHost = /\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/.exec(url.hostname)?.[1];
  const region = fromHost ?? (env['AWS_REGION'] || undefined) ?? (env['AWS_DEFAULT_REGION'] || undefined);
  if (region === undefined) throw new ApiUsageError(`--aws: no region to sign for: ${url.host} is not <api-id>.execute-api.<region>.amazonaws.com; set AWS_REGION or AWS_DEFAULT_REGION`);
  return region;
}

function baseUrlOf(flag: string | undefined, env: Record<string, string | undefined>): URL {
  const [text, source] = flag !== undefined && flag !== '' ? [flag, '--api'] : [env[API_URL_ENV], API_URL_ENV];
  if (text === undefined || text === '') throw new ApiUsageError(`no API URL: pass --api <url> or set ${API_URL_ENV}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ApiUsageError(`${source} is not a URL: ${text}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ApiUsageError(`${source} is not an http(s) URL: ${text}`);
  if (url.username || url.password) throw new ApiUsageError(`${source} must not hold credentials`);
  url.search = '';
  url.hash = '';
  return url;
}

/** The default credential chain (environment, SSO, shared files, web identity, ECS, instance metadata), loaded only when `--aws` signs without injected credentials. */
function defaultCredentials(): CredentialsProvider {
  let provider: Promise<CredentialsProvider> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-providers').then((m) => m.fromNodeProviderChain());
    return (await provider)();
  };
}

/** RFC 3986 percent-encoding (every character but the unreserved ones), as SigV4's canonical query string uses. */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    // Our own API's answers, but still JSON from the network: no prototype keys.
    return parseUntrustedJson(text, { maxDepth: 256 });
  } catch {
    return text;
  }
}

function reasonOf(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  const message = e instanceof Error ? e.message : String(e);
  return detail === undefined ? message : `${message} (${detail})`;
}

/** The code shown for an error answer without the API's envelope. */
const STATUS_TEXT: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_ERROR',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};
