/**
 * `HTTPRequest` (seed 003 §2–§4, DESIGN §3): one outbound call with a timeout clipped to the
 * run's deadline, retries with full-jitter backoff, authentication, templated URL/headers/body,
 * JSONPath response mapping and granular error routing.
 *
 * Sets `http_status_code` (number, or null without a response) and `http_error` (null on 2xx,
 * else `{ type, message, statusCode }` where `type` is `timeout | connection | http_4xx | http_5xx
 * | http_3xx | invalid_request | blocked`), plus the mapped variables.
 * Branches: OnSuccess (2xx), OnClientError (4xx), OnServerError (5xx), OnTimeout, OnError (any
 * failure without its own branch), Default.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { IvrflowError } from '../errors';
import { evaluate } from '../expressions/evaluator';
import { applyResponseMapping } from '../expressions/response-mapping';
import { renderHeader, renderJsonText, renderJsonValue, renderText, renderUrl, templatesIn } from '../expressions/template';
import type { HttpResponse } from '../http/client';
import { IDEMPOTENT_METHODS, RetryPolicy, backoffDelayMs } from '../resilience/retry';
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
  })
  .strict();
export type HttpRequestConfig = z.infer<typeof HttpRequestConfig>;

export const HTTP_BRANCHES = ['OnSuccess', 'OnClientError', 'OnServerError', 'OnTimeout', 'OnError'] as const;

type FailureType = 'timeout' | 'connection' | 'http_3xx' | 'http_4xx' | 'http_5xx' | 'invalid_request' | 'blocked';

const BRANCH_OF: Record<FailureType, string> = {
  timeout: 'OnTimeout',
  connection: 'OnError',
  blocked: 'OnError',
  invalid_request: 'OnError',
  http_3xx: 'OnError',
  http_4xx: 'OnClientError',
  http_5xx: 'OnServerError',
};

function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

function parseBody(res: HttpResponse): unknown {
  if (res.body.length === 0) return undefined;
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

interface PreparedRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

function prepare(config: HttpRequestConfig, ctx: StepContext): PreparedRequest {
  const vars = ctx.variables;
  const url = renderUrl(config.url, vars, ctx.functions);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.headers ?? {})) headers[name.toLowerCase()] = renderHeader(name, value, vars, ctx.functions);
  const auth = config.authentication;
  if (auth?.type === 'basic') {
    const user = renderText(auth.username, vars, ctx.functions);
    const password = renderText(auth.password, vars, ctx.functions);
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  } else if (auth?.type === 'apiKey') {
    headers[auth.headerName.toLowerCase()] = renderHeader(auth.headerName, auth.headerValue, vars, ctx.functions);
  }
  let body: string | undefined;
  if (config.body !== undefined) {
    body = typeof config.body === 'string' ? renderJsonText(config.body, vars, ctx.functions) : JSON.stringify(renderJsonValue(config.body, vars, ctx.functions));
    headers['content-type'] ??= 'application/json';
  }
  headers['accept'] ??= 'application/json';
  return { url, method: config.method, headers, ...(body === undefined ? {} : { body }) };
}

function mapped(config: HttpRequestConfig, body: unknown, ctx: StepContext): Record<string, unknown> {
  if (!config.responseMapping) return {};
  return applyResponseMapping(config.responseMapping, body ?? config.defaultResponse, ctx.functions);
}

export const httpRequestStep = defineStep<HttpRequestConfig>({
  type: 'HTTPRequest',
  configSchema: HttpRequestConfig,
  branches: HTTP_BRANCHES,
  analyze(c) {
    const templates = [
      ...Object.entries(c.headers ?? {}).map(([k, v]) => ({ path: `headers.${k}`, text: v })),
      ...(typeof c.body === 'string' ? [{ path: 'body', text: c.body }] : templatesIn(c.body, 'body')),
    ];
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
      if (/^(authorization|proxy-authorization|x-api-key|api-key|x-auth-token)$/i.test(k)) secrets.push({ path: `headers.${k}`, value: v });
    }
    return {
      urls: [{ path: 'url', text: c.url }],
      templates,
      expressions: c.when ? [{ path: 'when', source: c.when }] : [],
      mappings: Object.entries(c.responseMapping ?? {}).map(([k, v]) => ({ path: `responseMapping.${k}`, source: v })),
      secrets,
      sets: ['http_status_code', 'http_error', ...Object.keys(c.responseMapping ?? {})],
    };
  },
  async execute(step, ctx): Promise<StepOutcome> {
    const config = step.configuration;
    if (config.when !== undefined && !evaluate(config.when, ctx.variables, ctx.functions)) return { branch: 'Default', status: 'SKIPPED' };

    const fail = (type: FailureType, message: string, statusCode: number | null, extra: Partial<StepOutcome> & { body?: unknown } = {}): StepOutcome => ({
      branch: BRANCH_OF[type],
      status: 'FAILED',
      variables: { ...mapped(config, extra.body, ctx), http_status_code: statusCode, http_error: { type, message, statusCode } },
      trace: { ...extra.trace, error: { type, message } },
    });

    let request: PreparedRequest;
    try {
      request = prepare(config, ctx);
    } catch (err) {
      if (err instanceof IvrflowError) return fail('invalid_request', err.message, null, { trace: { attempts: 0, statusCode: null, bodySha256: null } });
      throw err;
    }

    const policy = config.retryPolicy ?? RetryPolicy.parse({});
    const retryable = IDEMPOTENT_METHODS.has(request.method) || 'idempotency-key' in request.headers;
    let attempts = 0;
    for (;;) {
      const remainingMs = ctx.deadlineAt - ctx.clock.now();
      if (remainingMs <= 0) return fail('timeout', 'the run deadline passed before the request could be sent', null, { trace: { attempts, statusCode: null, bodySha256: null } });
      const timeoutMs = Math.min(config.timeout, remainingMs);
      attempts++;
      const result = await ctx.http.send({ ...request, timeoutMs });

      let type: FailureType | undefined;
      let message: string;
      if (result.kind === 'response') {
        const s = result.status;
        type = s >= 200 && s < 300 ? undefined : s >= 500 ? 'http_5xx' : s >= 400 ? 'http_4xx' : 'http_3xx';
        message = `HTTP ${s}`;
      } else {
        type = result.kind === 'timeout' ? 'timeout' : result.kind === 'blocked' ? 'blocked' : 'connection';
        message = result.message;
      }
      const statusCode = result.kind === 'response' ? result.status : null;
      const trace = { attempts, statusCode, bodySha256: result.kind === 'response' ? sha256(result.body) : null };

      const canRetry =
        type !== undefined &&
        retryable &&
        attempts <= policy.maxRetries &&
        ((statusCode !== null && policy.retryOnStatusCodes.includes(statusCode)) || (type === 'timeout' && policy.retryOnTimeout));
      if (canRetry) {
        const delayMs = backoffDelayMs(policy, attempts - 1, ctx.randomness.random());
        if (ctx.clock.now() + delayMs < ctx.deadlineAt) {
          await ctx.clock.sleep(delayMs);
          continue;
        }
      }

      const body = result.kind === 'response' ? parseBody(result) : undefined;
      if (type === undefined) {
        return { branch: 'OnSuccess', status: 'SUCCEEDED', variables: { ...mapped(config, body, ctx), http_status_code: statusCode, http_error: null }, trace };
      }
      return fail(type, message, statusCode, { trace });
    }
  },
});
