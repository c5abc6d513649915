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
 * With `circuitBreaker`, every attempt first asks the shared breaker (docs/architecture.md,
 * "Resilience"): an open circuit answers OnCircuitOpen at once with no network call; 5xx, timeouts
 * and connection errors count as failures, 4xx never do.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { evaluate } from '../expressions/evaluator';
import { applyResponseMapping } from '../expressions/response-mapping';
import { renderHeader, renderJsonText, renderJsonValue, renderText, renderUrl, templatesIn } from '../expressions/template';
import { isFlowFailure, TemplateError } from '../errors';
import type { HttpResponse } from '../http/client';
import { hostAllowed } from '../http/network-policy';
import { parseUntrustedJson } from '../json';
import type { Admission, CircuitState } from '../resilience/circuit-breaker';
import { IDEMPOTENT_METHODS, RetryPolicy, backoffDelayMs } from '../resilience/retry';
import { circuitsService, httpService, stepMetricsService } from '../services';
import { Expression, Template, VariableName } from './common';
import { defineStep, type StepContext, type StepOutcome } from './types';

const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name');

export const Authentication = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('basic'), username: Template, password: Template.describe('A {{ reference }}, never a literal secret') }).strict(),
  z
    .object({
      type: z.literal('apiKey'),
      headerName: HeaderName.default('X-API-Key'),
      headerValue: Template.describe('A {{ reference }}, never a literal secret'),
    })
    .strict(),
]);
export type Authentication = z.infer<typeof Authentication>;

export const CircuitBreakerConfig = z
  .object({
    key: Template.optional().describe('Circuit key template; default: method + host + path template of the URL'),
    failureThreshold: z.number().int().min(1).max(100).default(3).describe('Consecutive failures (5xx, timeouts, connection errors) that open the circuit'),
    cooldownMs: z.number().int().min(100).max(3_600_000).default(30000).describe('How long the circuit stays open before one probe, ms'),
  })
  .strict();
export type CircuitBreakerConfig = z.infer<typeof CircuitBreakerConfig>;

export const HttpRequestConfig = z
  .object({
    url: Template.describe('Absolute http(s) URL; {{ }} values are percent-encoded'),
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
  })
  .strict();
export type HttpRequestConfig = z.infer<typeof HttpRequestConfig>;

export const HTTP_BRANCHES = ['OnSuccess', 'OnClientError', 'OnServerError', 'OnTimeout', 'OnCircuitOpen', 'OnError'] as const;

/** The failure classes exposed as `http_error.type`. */
export type FailureType = 'timeout' | 'connection' | 'http_3xx' | 'http_4xx' | 'auth' | 'http_5xx' | 'circuit_open' | 'invalid_request' | 'invalid_response';

const BRANCH_OF: Record<FailureType, string> = {
  timeout: 'OnTimeout',
  connection: 'OnError',
  invalid_request: 'OnError',
  invalid_response: 'OnError',
  http_3xx: 'OnError',
  http_4xx: 'OnClientError',
  auth: 'OnClientError',
  http_5xx: 'OnServerError',
  circuit_open: 'OnCircuitOpen',
};

/** Failures that count toward the circuit breaker (docs/architecture.md, "Resilience"): never 4xx. */
const BREAKER_FAILURES: ReadonlySet<FailureType | undefined> = new Set<FailureType | undefined>(['http_5xx', 'timeout', 'connection']);

/**
 * The default circuit key: method, the host actually requested and the path actually requested
 * with every part that came from a value replaced by `{}` (`GET crm.example.com/v2/accounts/{}`),
 * so `/v2/accounts/{{id}}` is one circuit and no value can move a call onto another path's circuit.
 */
export function defaultCircuitKey(method: string, url: URL, pathShape: string): string {
  return `${method} ${url.host}${pathShape}`;
}

/** Longest circuit key stored as is; a longer one keeps its start and a hash of the whole (a DynamoDB key is at most 1024 bytes). */
export const MAX_CIRCUIT_KEY_LENGTH = 256;

function boundedKey(key: string): string {
  if (Buffer.byteLength(key) <= MAX_CIRCUIT_KEY_LENGTH) return key;
  return `${key.slice(0, 128)}…#${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

/** The HTTP trace fields of a step that got no response. */
function noResponse(attempts: number) {
  return { attempts, statusCode: null, bodySha256: null };
}

function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * The body as JSON: undefined when empty or not JSON (then `defaultResponse` applies).
 * @throws UnsafeJsonError when it nests deeper than 64 levels (the step fails `invalid_response`).
 */
function parseBody(res: HttpResponse): unknown {
  if (res.body.length === 0) return undefined;
  let text: string;
  try {
    text = res.body.toString('utf8');
    JSON.parse(text);
  } catch {
    return undefined;
  }
  return parseUntrustedJson(text, { protectProto: false });
}

interface PreparedRequest {
  url: URL;
  pathShape: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** Headers whose values are credentials whatever the flow says (redacted like authentication values). */
export const SECRET_HEADERS = /^(authorization|proxy-authorization|x-api-key|api-key|x-auth-token)$/i;

/** Thrown by {@link prepare} for a destination the flow does not allow. */
class HostNotAllowedError extends TemplateError {}

function prepare(config: HttpRequestConfig, ctx: StepContext): PreparedRequest {
  const vars = ctx.variables;
  const { url, pathShape } = renderUrl(config.url, vars, ctx.functions);
  if (ctx.allowedHosts && !hostAllowed(url.hostname, ctx.allowedHosts)) {
    throw new HostNotAllowedError(`host ${url.hostname} is not in the flow's allowedHosts; no request was sent`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.headers ?? {})) {
    headers[name.toLowerCase()] = renderHeader(name, value, vars, ctx.functions);
    if (SECRET_HEADERS.test(name)) ctx.markSecret(headers[name.toLowerCase()]!);
  }
  const auth = config.authentication;
  if (auth?.type === 'basic') {
    const user = renderText(auth.username, vars, ctx.functions);
    const password = renderText(auth.password, vars, ctx.functions);
    ctx.markSecret(password);
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    ctx.markSecret(headers['authorization']);
  } else if (auth?.type === 'apiKey') {
    headers[auth.headerName.toLowerCase()] = renderHeader(auth.headerName, auth.headerValue, vars, ctx.functions);
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

function mapped(config: HttpRequestConfig, body: unknown, ctx: StepContext): Record<string, unknown> {
  if (!config.responseMapping) return {};
  return applyResponseMapping(config.responseMapping, body ?? config.defaultResponse, ctx.functions);
}

export const httpRequestStep = defineStep<HttpRequestConfig>({
  type: 'HTTPRequest',
  configSchema: HttpRequestConfig,
  branches: HTTP_BRANCHES,
  services: [httpService, circuitsService, stepMetricsService],
  analyze(c) {
    const templates = [...Object.entries(c.headers ?? {}).map(([k, v]) => ({ path: `headers.${k}`, text: v })), ...(typeof c.body === 'string' ? [{ path: 'body', text: c.body }] : templatesIn(c.body, 'body'))];
    const secrets: Array<{ path: string; value: string }> = [];
    const auth = c.authentication;
    if (auth?.type === 'basic') {
      templates.push({ path: 'authentication.username', text: auth.username }, { path: 'authentication.password', text: auth.password });
      secrets.push({ path: 'authentication.password', value: auth.password });
    } else if (auth?.type === 'apiKey') {
      templates.push({ path: 'authentication.headerValue', text: auth.headerValue });
      secrets.push({ path: 'authentication.headerValue', value: auth.headerValue });
    }
    for (const [k, v] of Object.entries(c.headers ?? {})) {
      if (SECRET_HEADERS.test(k)) secrets.push({ path: `headers.${k}`, value: v });
    }
    return {
      urls: [{ path: 'url', text: c.url }],
      templates,
      jsonTemplates: typeof c.body === 'string' ? [{ path: 'body', text: c.body }] : [],
      expressions: c.when ? [{ path: 'when', source: c.when }] : [],
      mappings: Object.entries(c.responseMapping ?? {}).map(([k, v]) => ({ path: `responseMapping.${k}`, source: v })),
      secrets,
      sets: ['http_status_code', 'http_error', ...Object.keys(c.responseMapping ?? {})],
    };
  },
  async execute(step, ctx): Promise<StepOutcome> {
    const config = step.configuration;
    if (config.when !== undefined && !evaluate(config.when, ctx.variables, ctx.functions)) return { branch: 'Default', status: 'SKIPPED' };

    const http = ctx.services.get(httpService);
    const circuits = ctx.services.get(circuitsService);
    const stepMetrics = ctx.services.get(stepMetricsService);
    const fail = (type: FailureType, message: string, statusCode: number | null, extra: Partial<StepOutcome> & { body?: unknown } = {}): StepOutcome => {
      stepMetrics.failure('HTTPRequest', type, statusCode);
      return {
        branch: BRANCH_OF[type],
        status: 'FAILED',
        variables: { ...mapped(config, extra.body, ctx), http_status_code: statusCode, http_error: { type, message, statusCode } },
        trace: { ...extra.trace, error: { type, message } },
      };
    };

    let request: PreparedRequest;
    try {
      request = prepare(config, ctx);
    } catch (err) {
      if (isFlowFailure(err)) return fail('invalid_request', err.message, null, { trace: noResponse(0) });
      throw err;
    }

    const policy = config.retryPolicy ?? RetryPolicy.parse({});
    const retryable = IDEMPOTENT_METHODS.has(request.method) || 'idempotency-key' in request.headers;
    const breaker = config.circuitBreaker;
    let circuit: { key: string; state: CircuitState; transitions?: string[] } | undefined;
    if (breaker) {
      try {
        const key = breaker.key ? renderText(breaker.key, ctx.variables, ctx.functions) : defaultCircuitKey(request.method, request.url, request.pathShape);
        // Credentials never reach the shared circuit store or its logs.
        circuit = { key: boundedKey(ctx.redact(key)), state: 'CLOSED' };
      } catch (err) {
        if (isFlowFailure(err)) return fail('invalid_request', err.message, null, { trace: noResponse(0) });
        throw err;
      }
    }
    let attempts = 0;
    let last: { type: FailureType; message: string; statusCode: number | null; trace: { attempts: number; statusCode: number | null; bodySha256: string | null } } | undefined;
    for (;;) {
      const remainingMs = ctx.deadlineAt - ctx.clock.now();
      if (remainingMs <= 0) return fail('timeout', 'the run deadline passed before the request could be sent', null, { trace: { ...noResponse(attempts), ...(circuit ? { circuit } : {}) } });
      let admission: Admission | undefined;
      if (circuit) {
        admission = await circuits.admit(circuit.key);
        circuit.state = admission.state;
        if (!admission.allowed) {
          // A retry refused by a circuit that opened meanwhile ends with the failure already seen.
          if (last) return fail(last.type, last.message, last.statusCode, { trace: { ...last.trace, circuit } });
          return fail('circuit_open', `circuit '${circuit.key}' is ${admission.state}; no request was sent`, null, { trace: { ...noResponse(0), circuit } });
        }
        if (admission.probe) circuit.transitions = [...(circuit.transitions ?? []), 'OPEN→HALF_OPEN'];
      }
      const timeoutMs = Math.min(config.timeout, remainingMs);
      attempts++;
      const result = await http.send({ ...request, timeoutMs });

      let type: FailureType | undefined;
      let message: string;
      if (result.kind === 'response') {
        const s = result.status;
        type = s >= 200 && s < 300 ? undefined : s >= 500 ? 'http_5xx' : s === 401 || s === 403 ? 'auth' : s >= 400 ? 'http_4xx' : 'http_3xx';
        message = `HTTP ${s}`;
      } else {
        type = result.kind === 'timeout' ? 'timeout' : result.kind === 'blocked' || result.kind === 'invalid' ? 'invalid_request' : 'connection';
        message = result.message;
      }
      const statusCode = result.kind === 'response' ? result.status : null;
      const trace = { attempts, statusCode, bodySha256: result.kind === 'response' ? sha256(result.body) : null };

      if (circuit && admission?.allowed && type !== 'invalid_request') {
        const recorded = await circuits.record(circuit.key, admission, BREAKER_FAILURES.has(type), breaker!);
        if (recorded.transition) {
          circuit.state = recorded.transition.to;
          circuit.transitions = [...(circuit.transitions ?? []), `${recorded.transition.from}→${recorded.transition.to}`];
        }
      }
      const traced = circuit ? { ...trace, circuit } : trace;

      const canRetry = type !== undefined && retryable && attempts <= policy.maxRetries && ((statusCode !== null && policy.retryOnStatusCodes.includes(statusCode)) || (type === 'timeout' && policy.retryOnTimeout));
      if (canRetry) {
        const delayMs = backoffDelayMs(policy, attempts - 1, ctx.randomness.random());
        if (ctx.clock.now() + delayMs < ctx.deadlineAt) {
          last = { type: type!, message, statusCode, trace };
          await ctx.clock.sleep(delayMs);
          continue;
        }
      }

      let body: unknown;
      try {
        body = result.kind === 'response' ? parseBody(result) : undefined;
      } catch (err) {
        return fail('invalid_response', `the response body cannot be used: ${(err as Error).message}`, statusCode, { trace: traced });
      }
      if (type === undefined) {
        return { branch: 'OnSuccess', status: 'SUCCEEDED', variables: { ...mapped(config, body, ctx), http_status_code: statusCode, http_error: null }, trace: traced };
      }
      return fail(type, message, statusCode, { trace: traced });
    }
  },
});
