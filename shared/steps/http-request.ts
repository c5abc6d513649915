/**
 * `HTTPRequest` (docs/architecture.md, "Executing a flow" and "Resilience"): one outbound call with
 * a timeout clipped to the run's deadline, retries with full-jitter backoff, authentication,
 * templated URL/headers/body, JSONPath response mapping and granular error routing.
 *
 * Sets `http_status_code` (number, or null without a response) and `http_error` (null on 2xx,
 * else `{ type, message, statusCode }` where `type` is `timeout | connection | http_4xx | http_5xx
 * | auth (401, 403) | http_3xx (redirects are not followed) | circuit_open | invalid_request` (a
 * request that could not be built or a destination that is not allowed)), plus the mapped variables.
 * Branches: OnSuccess (2xx), OnClientError (4xx), OnServerError (5xx), OnTimeout, OnCircuitOpen,
 * OnError (any failure without its own branch), Default.
 *
 * Retries, the circuit breaker and authentication go through the shared call pipeline
 * (`shared/http/call-pipeline.ts`). Authentication: `basic` and `apiKey` from `{{ }}` references;
 * `oauth2` (client credentials, RFC 6749 §4.4) with the client secret bound to a secret through the
 * flow's `secrets`; or `{ "connection": "crm" }`, a stored connection's credentials, in which case
 * the URL must be on the connection's hosts. Variables bound to secrets are read when the step
 * runs and may appear only in `authentication` and `headers`.
 *
 * Async backends (`async`; docs/architecture.md, "Async backends and webhooks"): the URL, headers
 * and body may use `{{callback_url}}`, a URL of this API with a fresh single-use token. A 202
 * Accepted suspends the execution (WAITING) for up to `async.maxWaitMs` (≤ 120 s); the backend's
 * `POST` to the callback URL resumes the step with its body mapped by `async.callbackMapping`
 * (else `responseMapping`) and OnSuccess (`http_status_code` stays 202); no callback in time takes
 * OnTimeout (`http_error.type` `timeout`). Any other answer is handled synchronously, as without `async`.
 */
import * as z from 'zod';
import { MIN_CALL_MS } from '../budgets';
import { callbackEndpointService, newCallback, waitRegistryService } from '../callbacks/callback-token';
import { connectionAuth, connectionsService, oauth2Auth, secretNamesService, secretStoreService } from '../connections/auth';
import { connectionHosts, type Connection } from '../connections/connection';
import { ConnectionName } from '../ids';
import { normalizeScopes } from '../connections/oauth2';
import { CredentialUnavailableError } from '../connections/token-provider';
import { evaluate } from '../expressions/evaluator';
import { applyResponseMapping } from '../expressions/response-mapping';
import { compileTemplate, renderHeader, renderJsonText, renderJsonValue, renderText, renderUrl, templatesIn } from '../expressions/template';
import { isFlowFailure, TemplateError } from '../errors';
import { branchOf, stepFailure, type FailureType } from '../flow/failures';
import { callBackend, CircuitBreakerConfig, SECRET_HEADERS, type CallAuth, type CallOutcome, type PreparedRequest } from '../http/call-pipeline';
import type { HttpResponse } from '../http/client';
import { bodyCredentialLiterals, queryCredentialLiterals } from '../http/credential-literals';
import { hostAllowed } from '../http/network-policy';
import { parseUntrustedJson } from '../json';
import { RetryPolicy } from '../resilience/retry';
import { circuitsService, httpService } from '../services';
import { Expression, Template, VariableName } from './common';
import { defineStep, type StepContext, type StepOutcome, type StepResult } from './types';

export { CircuitBreakerConfig, defaultCircuitKey, SECRET_HEADERS } from '../http/call-pipeline';

const HeaderName = z.lazy(() => z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name'));

/** The retry policy of a step that sets none: the schema's defaults, parsed once. */
let DEFAULT_RETRY_POLICY: RetryPolicy | undefined;
/** The longest an async step waits for its callback, ms (the hold a caller can bear). */
export const MAX_ASYNC_WAIT_MS = 120_000;

/** How an `HTTPRequest` authenticates: `none`, `basic`, `apiKey` or `oauth2` (credentials as `{{ references }}`), or `{ connection }`, a stored connection's. */
export const Authentication = z.lazy(() =>
  z.union([
    z.discriminatedUnion('type', [
      z.object({ type: z.literal('none') }).strict(),
      z.object({ type: z.literal('basic'), username: Template, password: Template.describe('A {{ reference }}, never a literal secret') }).strict(),
      z
        .object({
          type: z.literal('apiKey'),
          headerName: HeaderName.default('X-API-Key'),
          headerValue: Template.describe('A {{ reference }}, never a literal secret'),
        })
        .strict(),
      z
        .object({
          type: z.literal('oauth2'),
          tokenEndpoint: z.string().url().max(2048).describe('The token endpoint (client credentials grant, RFC 6749 §4.4)'),
          clientId: Template,
          clientSecret: Template.describe("A {{ reference }} to a variable bound in the flow's secrets"),
          scopes: z.array(z.string().min(1).max(256)).max(50).optional(),
          clientAuthentication: z.enum(['basic', 'body']).default('basic').describe('RFC 6749 §2.3.1: HTTP Basic or client_id/client_secret in the form body'),
        })
        .strict(),
    ]),
    z.object({ connection: ConnectionName.describe("A stored connection: its credentials authenticate the call, and the URL must be on the connection's hosts") }).strict(),
  ]),
);
/** How an `HTTPRequest` authenticates, defaults applied. */
export type Authentication = z.infer<typeof Authentication>;

/** The configuration of an `HTTPRequest` step: the request (URL, method, headers, body, timeout in ms), retries, authentication, response mapping, circuit breaker and `async`. */
export const HttpRequestConfig = z.lazy(() =>
  z
    .object({
      url: Template.describe("Absolute http(s) URL, or with authentication.connection a path ('/...') on the connection's baseUrl; {{ }} values are percent-encoded"),
      method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).default('GET'),
      headers: z.record(HeaderName, Template).optional(),
      body: z
        .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
        .optional()
        .describe('JSON body: a string template (values JSON-escaped; must parse) or a JSON value rendered leaf by leaf'),
      timeout: z.number().int().min(1).max(30000).default(5000).describe('Per-attempt timeout, ms (clipped to the time left)'),
      retryPolicy: RetryPolicy.optional(),
      authentication: Authentication.optional(),
      responseMapping: z.record(VariableName, z.string().min(1).max(4096)).optional().describe('variable → JSONPath or expression over $ (the body)'),
      defaultResponse: z.unknown().optional().describe('Used as the body when it is empty or not JSON, and on failures'),
      when: Expression.optional().describe('Skip the step (branch Default) unless this is true'),
      circuitBreaker: CircuitBreakerConfig.optional().describe('Use the shared circuit breaker for this call'),
      async: z
        .object({
          maxWaitMs: z.number().int().min(1000).max(MAX_ASYNC_WAIT_MS).default(MAX_ASYNC_WAIT_MS).describe('How long to wait for the callback after a 202, ms; then OnTimeout'),
          callbackMapping: z.record(VariableName, z.string().min(1).max(4096)).optional().describe('variable → JSONPath or expression over $ (the callback body); default: responseMapping'),
        })
        .strict()
        .optional()
        .describe('A backend that answers 202 Accepted delivers its result later to {{callback_url}}; the execution waits (WAITING) meanwhile'),
    })
    .strict(),
);
/** The configuration of an `HTTPRequest` step, defaults applied. */
export type HttpRequestConfig = z.infer<typeof HttpRequestConfig>;

/** The branches an `HTTPRequest` step may declare (besides `Default`). */
export const HTTP_BRANCHES = ['OnSuccess', 'OnClientError', 'OnServerError', 'OnTimeout', 'OnCircuitOpen', 'OnError'] as const;

/**
 * The body as JSON: undefined when empty or not JSON (then a default applies).
 * @throws UnsafeJsonError when it nests deeper than 64 levels (the step fails `invalid_response`).
 */
export function parseBody(res: HttpResponse): unknown {
  if (res.body.length === 0) return undefined;
  const text = res.body.toString('utf8');
  try {
    return parseUntrustedJson(text, { protectProto: false });
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    // Too deep: refused only when the body is JSON at all (a body that is not JSON is no body).
    try {
      JSON.parse(text);
    } catch {
      return undefined;
    }
    throw err;
  }
}

/** Thrown by {@link prepare} for a destination the flow does not allow. */
class HostNotAllowedError extends TemplateError {}

/** The templates that may read variables bound to secrets: authentication fields and headers, by path. */
function credentialTemplates(config: HttpRequestConfig): Array<{ path: string; text: string }> {
  const auth = config.authentication;
  const texts = Object.entries(config.headers ?? {}).map(([k, v]) => ({ path: `headers.${k}`, text: v }));
  if (auth && 'type' in auth) {
    if (auth.type === 'basic') texts.push({ path: 'authentication.username', text: auth.username }, { path: 'authentication.password', text: auth.password });
    else if (auth.type === 'apiKey') texts.push({ path: 'authentication.headerValue', text: auth.headerValue });
    else if (auth.type === 'oauth2') texts.push({ path: 'authentication.clientId', text: auth.clientId }, { path: 'authentication.clientSecret', text: auth.clientSecret });
  }
  return texts;
}

/** The variable a template is exactly a reference to (`{{ name }}`), if it is one. */
export function soleReference(text: string): string | undefined {
  return /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/.exec(text)?.[1];
}

/**
 * The values of the secret-bound variables the credential templates read, from the secret store
 * (cached), each registered as a secret.
 * @throws CredentialUnavailableError when a secret or its key is missing, or the store fails
 */
async function secretVariables(config: HttpRequestConfig, bindings: NonNullable<StepContext['secretVariables']>, ctx: StepContext): Promise<Record<string, string>> {
  const names = new Set(credentialTemplates(config).flatMap((t) => [...compileTemplate(t.text).variables]));
  const values: Record<string, string> = {};
  for (const name of names) {
    const ref = bindings[name];
    if (!ref) continue;
    const secretId = ctx.services.get(secretNamesService).flowSecret(ref.secretId);
    let value: Record<string, string> | undefined;
    try {
      value = await ctx.services.get(secretStoreService).getSecretJson(secretId);
    } catch (err) {
      throw new CredentialUnavailableError(`secret "${ref.secretId}" (bound to variable '${name}') cannot be read`, { cause: err });
    }
    const v = value?.[ref.key];
    if (v === undefined) throw new CredentialUnavailableError(value ? `secret "${ref.secretId}" has no key "${ref.key}" (bound to variable '${name}')` : `secret "${ref.secretId}" (bound to variable '${name}') does not exist`);
    ctx.markSecret(v);
    values[name] = v;
  }
  return values;
}

/** The request without the credentials the pipeline adds (connection and oauth2); `secrets`: the secret-bound variables, readable by headers and authentication only. */
function prepare(config: HttpRequestConfig, ctx: StepContext, secrets: Record<string, string>, locals: Record<string, string>, connection: Connection | undefined): PreparedRequest {
  const vars = Object.keys(locals).length > 0 ? { ...ctx.variables, ...locals } : ctx.variables;
  const credentialVars = Object.keys(secrets).length > 0 ? { ...vars, ...secrets } : vars;
  const relative = config.url.startsWith('/');
  if (relative && !connection) throw new TemplateError(`URL ${config.url.slice(0, 100)} is a path: only a step with authentication.connection may use one (it is joined to the connection's baseUrl)`);
  const { url, pathShape } = renderUrl(relative ? `${connection!.baseUrl.replace(/\/+$/, '')}${config.url}` : config.url, vars, ctx.functions);
  if (ctx.allowedHosts && !hostAllowed(url.hostname, ctx.allowedHosts)) {
    throw new HostNotAllowedError(`host ${url.hostname} is not in the flow's allowedHosts; no request was sent`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.headers ?? {})) {
    headers[name.toLowerCase()] = renderHeader(name, value, credentialVars, ctx.functions);
    if (SECRET_HEADERS.test(name)) ctx.markSecret(headers[name.toLowerCase()]!);
  }
  const auth = config.authentication;
  if (auth && 'type' in auth && auth.type === 'basic') {
    const user = renderText(auth.username, credentialVars, ctx.functions);
    const password = renderText(auth.password, credentialVars, ctx.functions);
    ctx.markSecret(password);
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    ctx.markSecret(headers['authorization']);
  } else if (auth && 'type' in auth && auth.type === 'apiKey') {
    headers[auth.headerName.toLowerCase()] = renderHeader(auth.headerName, auth.headerValue, credentialVars, ctx.functions);
    ctx.markSecret(headers[auth.headerName.toLowerCase()]!);
  }
  let body: string | undefined;
  if (config.body !== undefined) {
    body = typeof config.body === 'string' ? renderJsonText(config.body, vars, ctx.functions) : JSON.stringify(renderJsonValue(config.body, vars, ctx.functions));
    headers['content-type'] ??= 'application/json';
  }
  headers['accept'] ??= 'application/json';
  return { url, pathShape, method: config.method, headers, ...(body === undefined ? {} : { body }) };
}

/** The connection a step authenticates with. @throws TemplateError when it does not exist */
async function connectionNamed(name: string, ctx: StepContext): Promise<Connection> {
  const connection = await ctx.services.get(connectionsService).get(name);
  if (!connection) throw new TemplateError(`connection '${name}' does not exist; no request was sent`);
  return connection;
}

/**
 * The pipeline's authentication for a connection or an inline oauth2 form (basic and apiKey are
 * plain headers, built by {@link prepare}).
 * @throws TemplateError when the URL is not on the connection's hosts
 */
function pipelineAuth(config: HttpRequestConfig, request: PreparedRequest, ctx: StepContext, secrets: Record<string, string>, connection: Connection | undefined): CallAuth | undefined {
  const auth = config.authentication;
  if (!auth) return undefined;
  const names = ctx.services.get(secretNamesService);
  if (connection) {
    if (!hostAllowed(request.url.hostname, connectionHosts(connection))) throw new HostNotAllowedError(`host ${request.url.hostname} is not one of connection '${connection.name}' hosts; no request was sent`);
    return connectionAuth(connection, names);
  }
  if ('connection' in auth || auth.type !== 'oauth2') return undefined;
  const bound = soleReference(auth.clientSecret);
  const ref = bound === undefined ? undefined : ctx.secretVariables?.[bound];
  if (!ref) throw new TemplateError("authentication.clientSecret must be a {{ reference }} to a variable bound in the flow's secrets");
  return oauth2Auth({
    tokenEndpoint: auth.tokenEndpoint,
    clientId: renderText(auth.clientId, { ...ctx.variables, ...secrets }, ctx.functions),
    scopes: normalizeScopes(auth.scopes).sort(),
    clientAuthentication: auth.clientAuthentication,
    clientSecret: { secretId: names.flowSecret(ref.secretId), key: ref.key },
    source: `flow ${ctx.flowId}`,
  });
}

function mapped(config: HttpRequestConfig, body: unknown, ctx: StepContext, mapping = config.responseMapping): Record<string, unknown> {
  if (!mapping) return {};
  return applyResponseMapping(mapping, body ?? config.defaultResponse, ctx.functions);
}

/** A failed outcome: `http_status_code`, `http_error` and the mapping of the default response. */
function failure(config: HttpRequestConfig, ctx: StepContext, type: FailureType, message: string, statusCode: number | null, trace: CallOutcome['trace'], mapping = config.responseMapping): StepOutcome {
  const error = stepFailure(type, message, statusCode);
  return {
    branch: branchOf(type, HTTP_BRANCHES),
    status: 'FAILED',
    variables: { ...mapped(config, undefined, ctx, mapping), http_status_code: statusCode, http_error: error },
    trace: { ...trace, error },
  };
}

/** The longest a wait's registration may hold its call, ms (registering is best effort: a callback that finds none is asked to retry). */
const REGISTER_WAIT_MS = 300;

/**
 * Registers the wait before the request is sent, so a backend that calls back before its 202 is
 * handled finds it; never fails the step (a wait that is not registered only makes such a callback retry).
 */
async function registerWait(ctx: StepContext, waitId: string, until: number, connection: string | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, Math.min(REGISTER_WAIT_MS, ctx.callDeadlineAt - ctx.clock.now() - MIN_CALL_MS)))));
  try {
    await Promise.race([
      ctx.services
        .get(waitRegistryService)
        .register(ctx.rootExecutionId, waitId, { until, ...(connection ? { connection } : {}) })
        .catch(() => undefined),
      gaveUp,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the call that suspended an async step answered, kept for the trace entry written when the step ends. */
type SuspendedCall = CallOutcome['trace'];

/** The `HTTPRequest` step type: one call through the call pipeline, suspending on a 202 when `async` (see the module's header). */
export const httpRequestStep = defineStep<HttpRequestConfig>({
  type: 'HTTPRequest',
  configSchema: HttpRequestConfig,
  branches: HTTP_BRANCHES,
  services: [httpService, circuitsService, callbackEndpointService, waitRegistryService],
  analyze(c) {
    const credentials = credentialTemplates(c);
    const templates = [
      ...credentials.map((t) => ({ ...t, credential: true })),
      ...(typeof c.body === 'string' ? [{ path: 'body', text: c.body }] : templatesIn(c.body, 'body')),
      ...(c.circuitBreaker?.key === undefined ? [] : [{ path: 'circuitBreaker.key', text: c.circuitBreaker.key }]),
    ];
    const secrets: Array<{ path: string; value: string }> = [];
    const auth = c.authentication;
    if (auth && 'type' in auth) {
      if (auth.type === 'basic') secrets.push({ path: 'authentication.password', value: auth.password });
      else if (auth.type === 'apiKey') secrets.push({ path: 'authentication.headerValue', value: auth.headerValue });
      else if (auth.type === 'oauth2') secrets.push({ path: 'authentication.clientSecret', value: auth.clientSecret });
    }
    for (const [k, v] of Object.entries(c.headers ?? {})) {
      if (SECRET_HEADERS.test(k)) secrets.push({ path: `headers.${k}`, value: v });
    }
    // A path on a connection's baseUrl is checked with the connection; anything else as a URL (a path without a connection is refused there).
    const onConnection = c.url.startsWith('/') && auth !== undefined && 'connection' in auth;
    return {
      urls: onConnection ? [] : [{ path: 'url', text: c.url }],
      templates: onConnection ? [{ path: 'url', text: c.url }, ...templates] : templates,
      jsonTemplates: typeof c.body === 'string' ? [{ path: 'body', text: c.body }] : [],
      expressions: c.when ? [{ path: 'when', source: c.when }] : [],
      mappings: [
        ...Object.entries(c.responseMapping ?? {}).map(([k, v]) => ({ path: `responseMapping.${k}`, source: v })),
        ...Object.entries(c.async?.callbackMapping ?? {}).map(([k, v]) => ({ path: `async.callbackMapping.${k}`, source: v })),
      ],
      secrets,
      credentialLiterals: [...queryCredentialLiterals(c.url, 'url'), ...(c.body === undefined ? [] : bodyCredentialLiterals(c.body, 'body'))],
      ...(auth && 'type' in auth && auth.type === 'oauth2' ? { boundSecrets: [{ path: 'authentication.clientSecret', value: auth.clientSecret }] } : {}),
      ...(auth && 'connection' in auth ? { connectionRefs: [{ path: 'authentication.connection', name: auth.connection, url: { path: 'url', text: c.url } }] } : {}),
      sets: ['http_status_code', 'http_error', ...Object.keys(c.responseMapping ?? {}), ...Object.keys(c.async?.callbackMapping ?? {})],
      // Only where prepare() renders with it: not `when`, the circuit key or an inline oauth2 clientId.
      ...(c.async ? { locals: [{ name: 'callback_url', paths: ['url', 'headers', 'body', 'authentication.username', 'authentication.password', 'authentication.headerValue'] }] } : {}),
    };
  },
  async execute(step, ctx): Promise<StepResult> {
    const config = step.configuration;
    if (config.when !== undefined && !evaluate(config.when, ctx.variables, ctx.functions)) return { branch: 'Default', status: 'SKIPPED' };
    const noResponse = { attempts: 0, statusCode: null, bodySha256: null };
    const connectionName = config.authentication && 'connection' in config.authentication ? config.authentication.connection : undefined;

    let request: PreparedRequest;
    let auth: CallAuth | undefined;
    const callback = config.async ? newCallback(ctx.services.get(callbackEndpointService), ctx.rootExecutionId) : undefined;
    try {
      // Most steps read no secret and use no connection: no await for those.
      const secrets = ctx.secretVariables ? await secretVariables(config, ctx.secretVariables, ctx) : {};
      const connection = connectionName === undefined ? undefined : await connectionNamed(connectionName, ctx);
      request = prepare(config, ctx, secrets, callback ? { callback_url: callback.url } : {}, connection);
      auth = pipelineAuth(config, request, ctx, secrets, connection);
    } catch (err) {
      if (err instanceof CredentialUnavailableError) return failure(config, ctx, 'auth', err.message, null, noResponse);
      if (isFlowFailure(err)) return failure(config, ctx, 'invalid_request', err.message, null, noResponse);
      throw err;
    }

    if (callback && config.async) await registerWait(ctx, callback.waitId, ctx.clock.now() + config.timeout + config.async.maxWaitMs, connectionName);
    const call = await callBackend(ctx, {
      request,
      timeoutMs: config.timeout,
      retryPolicy: config.retryPolicy ?? (DEFAULT_RETRY_POLICY ??= RetryPolicy.parse({})),
      ...(config.circuitBreaker ? { breaker: config.circuitBreaker } : {}),
      ...(auth ? { auth } : {}),
    });
    if (callback && config.async && call.statusCode === 202 && !call.failure) {
      // Accepted: the result comes to the callback URL; the execution waits for it (or its timeout).
      const state: SuspendedCall = call.trace;
      return { suspend: { waitId: callback.waitId, until: ctx.clock.now() + config.async.maxWaitMs, onTimeout: 'OnTimeout', callback: connectionName ? { connection: connectionName } : {}, state: { ...state } } };
    }
    let body: unknown;
    try {
      body = call.response ? parseBody(call.response) : undefined;
    } catch (err) {
      return failure(config, ctx, 'invalid_response', `the response body cannot be used: ${(err as Error).message}`, call.statusCode, call.trace);
    }
    if (call.failure) return failure(config, ctx, call.failure.type, call.failure.message, call.statusCode, call.trace);
    const variables = mapped(config, body, ctx);
    variables['http_status_code'] = call.statusCode;
    variables['http_error'] = null;
    return { branch: 'OnSuccess', status: 'SUCCEEDED', variables, trace: call.trace };
  },
  /** An async step's end: the callback's body (mapped with `async.callbackMapping`, else `responseMapping`) and OnSuccess, or OnTimeout. */
  resume(step, event, ctx): Promise<StepOutcome> {
    const config = step.configuration;
    if (event.kind === 'child') throw new Error('HTTPRequest does not call sub-flows');
    const call = (event.state ?? {}) as SuspendedCall;
    if (event.kind === 'timeout') {
      const waited = config.async?.maxWaitMs ?? MAX_ASYNC_WAIT_MS;
      // The callback's variables, from defaultResponse, as a callback with an empty body would set them.
      return Promise.resolve(failure(config, ctx, 'timeout', `the backend accepted the request (202) but no callback came within ${waited} ms`, call.statusCode ?? 202, call, config.async?.callbackMapping ?? config.responseMapping));
    }
    const variables = { ...mapped(config, event.payload, ctx, config.async?.callbackMapping ?? config.responseMapping), http_status_code: call.statusCode ?? 202, http_error: null };
    return Promise.resolve({ branch: 'OnSuccess', status: 'SUCCEEDED', variables, trace: call });
  },
});
