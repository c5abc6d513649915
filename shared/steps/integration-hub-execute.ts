/**
 * `IntegrationHubExecute`: runs a named request of a stored connection, as the CXone Studio
 * "Integration Hub Execute" action does (docs/architecture.md, "Connections, secrets and tokens").
 *
 * Inputs: `connectName` (the connection), `requestName` (one of its `requests`), `requestPayload`
 * (a JSON object, or a string template rendering to one, or `{{ var }}` holding one or its JSON text;
 * flow values in it are JSON-escaped). The payload's fields are the only variables the request's
 * `{{ }}` templates (path, headers, body) see; a field a template reads but the payload lacks is an
 * invalid payload. The URL is the connection's `baseUrl` + the request's `path`, and must be on
 * the connection's hosts; the connection's credentials authenticate it through the shared call
 * pipeline (retries, circuit breaker, one token renewal on 401).
 *
 * Outputs (names configurable, the action's defaults shown):
 * - `requestBody`: the response body, parsed when JSON (text otherwise, null when empty); with the
 *   request's `responseMapping`, the mapped object `{ name: value }`;
 * - `requestErrorDetails`: null on success, else `{ type, message, retryable, statusCode }` (`type`
 *   from the failure taxonomy, shared/flow/failures.ts: the call's, or `invalid_payload`,
 *   `unknown_connection`, `unknown_request`, `invalid_response`);
 * - `requestHeadersList`: the response headers as `[{ name, value }]`, without credentials
 *   (`set-cookie` and credential headers dropped, known secrets redacted);
 * - `requestProxy`: the endpoint called, `{ method, url }`, credentials redacted.
 *
 * Branches: OnSuccess (2xx), OnTimeout (no answer within the request's timeout, or the run's
 * deadline), OnError (anything else), Default.
 */
import * as z from 'zod';
import { connectionAuth, connectionsService, secretNamesService } from '../connections/auth';
import { connectionHosts, type Connection, type ConnectionRequest } from '../connections/connection';
import { ConnectionName, RequestName } from '../ids';
import { BudgetExceededError, isFlowFailure, TemplateError } from '../errors';
import { branchOf, stepFailure, type FailureType } from '../flow/failures';
import { evaluate } from '../expressions/evaluator';
import { applyResponseMapping } from '../expressions/response-mapping';
import { compileTemplate, renderHeader, renderJsonText, renderJsonValue, renderUrl, templatesIn } from '../expressions/template';
import { MAX_VALUE_BYTES, jsonSizeWithin } from '../budgets';
import { callBackend, CircuitBreakerConfig, type CallOutcome, type PreparedRequest } from '../http/call-pipeline';
import type { HttpResponse } from '../http/client';
import { hostAllowed } from '../http/network-policy';
import { parseUntrustedJson } from '../json';
import { RetryPolicy } from '../resilience/retry';
import { circuitsService, httpService } from '../services';
import { Expression, Template, VariableName } from './common';
import { parseBody, SECRET_HEADERS, soleReference } from './http-request';

const IHE_BRANCHES = ['OnSuccess', 'OnError', 'OnTimeout'] as const;
import { defineStep, type StepContext, type StepOutcome } from './types';

/** The configuration of an `IntegrationHubExecute` step: the connection, its request, the payload, the output variables' names, retries and circuit breaker. */
export const IntegrationHubExecuteConfig = z.lazy(() =>
  z
    .object({
      connectName: ConnectionName.describe('The connection to use'),
      requestName: RequestName.describe('The request of the connection to run'),
      requestPayload: z
        .union([Template, z.record(z.string(), z.unknown())])
        .optional()
        .describe("A JSON object (or a template rendering to one) whose fields fill the request's {{ }} templates"),
      requestBodyVarName: VariableName.default('requestBody'),
      requestErrorDetailsVarName: VariableName.default('requestErrorDetails'),
      requestHeadersListVarName: VariableName.default('requestHeadersList'),
      requestProxyVarName: VariableName.default('requestProxy'),
      retryPolicy: RetryPolicy.optional(),
      circuitBreaker: CircuitBreakerConfig.optional(),
      when: Expression.optional().describe('Skip the step (branch Default) unless this is true'),
    })
    .strict(),
);
/** The configuration of an `IntegrationHubExecute` step, defaults applied. */
export type IntegrationHubExecuteConfig = z.infer<typeof IntegrationHubExecuteConfig>;

/** Response headers never copied to `requestHeadersList`. */
const DROPPED_HEADERS = /^(set-cookie|cookie)$/i;

class PayloadError extends TemplateError {}

/** The payload as an object. @throws PayloadError (or a TemplateError/ExpressionError rendering it) */
function payloadOf(config: IntegrationHubExecuteConfig, ctx: StepContext): Record<string, unknown> {
  const raw = config.requestPayload;
  let value: unknown;
  if (raw === undefined) value = {};
  else if (typeof raw !== 'string') value = renderJsonValue(raw, ctx.variables, ctx.functions);
  else {
    const sole = soleReference(raw.trim());
    const text = sole !== undefined ? ctx.variables[sole] : renderJsonText(raw, ctx.variables, ctx.functions);
    if (typeof text === 'string') {
      try {
        value = parseUntrustedJson(text);
      } catch (err) {
        throw new PayloadError(`requestPayload is not valid JSON: ${(err as Error).message}`);
      }
    } else value = text;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PayloadError(`requestPayload must be a JSON object, got ${value === null || value === undefined ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}`);
  return value as Record<string, unknown>;
}

/** The request's templates, by place. */
function requestTemplates(request: ConnectionRequest): Array<{ path: string; text: string }> {
  return [
    { path: 'path', text: request.path },
    ...Object.entries(request.headers ?? {}).map(([k, v]) => ({ path: `headers.${k}`, text: v })),
    ...(typeof request.body === 'string' ? [{ path: 'body', text: request.body }] : templatesIn(request.body, 'body')),
  ];
}

function buildRequest(connection: Connection, name: string, request: ConnectionRequest, payload: Record<string, unknown>, ctx: StepContext): PreparedRequest {
  for (const t of requestTemplates(request)) {
    for (const v of compileTemplate(t.text).variables) {
      if (!Object.hasOwn(payload, v)) throw new PayloadError(`requestPayload has no field '${v}', which request '${name}' uses in ${t.path}`);
    }
  }
  const { url, pathShape } = renderUrl(`${connection.baseUrl.replace(/\/+$/, '')}${request.path}`, payload, ctx.functions);
  if (!hostAllowed(url.hostname, connectionHosts(connection))) throw new TemplateError(`host ${url.hostname} is not one of connection '${connection.name}' hosts; no request was sent`);
  const headers: Record<string, string> = {};
  for (const [h, text] of Object.entries(request.headers ?? {})) {
    headers[h.toLowerCase()] = renderHeader(h, text, payload, ctx.functions);
    if (SECRET_HEADERS.test(h)) ctx.markSecret(headers[h.toLowerCase()]!);
  }
  let body: string | undefined;
  if (request.body !== undefined) {
    body = typeof request.body === 'string' ? renderJsonText(request.body, payload, ctx.functions) : JSON.stringify(renderJsonValue(request.body, payload, ctx.functions));
    headers['content-type'] ??= 'application/json';
  }
  headers['accept'] ??= 'application/json';
  return { url, pathShape, method: request.method, headers, ...(body === undefined ? {} : { body }) };
}

/** `requestBody`: the parsed JSON, else the text; null when empty. @throws UnsafeJsonError | BudgetExceededError-free: a too-large body is an `invalid_response` */
function responseBody(response: HttpResponse | undefined, request: ConnectionRequest | undefined, ctx: StepContext): unknown {
  if (!response || response.body.length === 0) return null;
  const json = parseBody(response);
  const value = json !== undefined ? json : response.body.toString('utf8');
  const result = request?.responseMapping && json !== undefined ? applyResponseMapping(request.responseMapping, json, ctx.functions) : value;
  if (jsonSizeWithin(result, MAX_VALUE_BYTES) === Infinity) throw new BudgetExceededError('valueBytes', MAX_VALUE_BYTES, `the response body is larger than ${MAX_VALUE_BYTES} bytes`);
  return ctx.redact(result);
}

function headersList(response: HttpResponse | undefined, ctx: StepContext): Array<{ name: string; value: string }> {
  if (!response) return [];
  return Object.entries(response.headers)
    .filter(([name]) => !DROPPED_HEADERS.test(name) && !SECRET_HEADERS.test(name))
    .map(([name, value]) => ({ name, value: ctx.redact(String(value)) }));
}

/** The `IntegrationHubExecute` step type: runs a connection's named request through the call pipeline; branches OnSuccess, OnTimeout, OnError, Default. */
export const integrationHubExecuteStep = defineStep<IntegrationHubExecuteConfig>({
  type: 'IntegrationHubExecute',
  configSchema: IntegrationHubExecuteConfig,
  branches: IHE_BRANCHES,
  services: [httpService, circuitsService],
  analyze(c) {
    const payload = c.requestPayload;
    return {
      templates: [
        ...(typeof payload === 'string' ? [{ path: 'requestPayload', text: payload }] : templatesIn(payload, 'requestPayload')),
        ...(c.circuitBreaker?.key === undefined ? [] : [{ path: 'circuitBreaker.key', text: c.circuitBreaker.key }]),
      ],
      expressions: c.when ? [{ path: 'when', source: c.when }] : [],
      connectionRefs: [{ path: 'connectName', name: c.connectName, requestName: { path: 'requestName', name: c.requestName } }],
      sets: [c.requestBodyVarName, c.requestErrorDetailsVarName, c.requestHeadersListVarName, c.requestProxyVarName],
    };
  },
  async execute(step, ctx): Promise<StepOutcome> {
    const c = step.configuration;
    if (c.when !== undefined && !evaluate(c.when, ctx.variables, ctx.functions)) return { branch: 'Default', status: 'SKIPPED' };
    const outputs = (body: unknown, error: unknown, response: HttpResponse | undefined, proxy: unknown) => ({
      [c.requestBodyVarName]: body,
      [c.requestErrorDetailsVarName]: error,
      [c.requestHeadersListVarName]: headersList(response, ctx),
      [c.requestProxyVarName]: proxy,
    });
    let proxy: { method: string; url: string } | null = null;
    const fail = (type: FailureType, message: string, statusCode: number | null, trace: CallOutcome['trace'], extra: { body?: unknown; response?: HttpResponse } = {}): StepOutcome => {
      const error = stepFailure(type, message, statusCode);
      return {
        branch: branchOf(type, IHE_BRANCHES),
        status: 'FAILED',
        variables: outputs(extra.body ?? null, error, extra.response, proxy),
        trace: { ...trace, error },
      };
    };
    const noResponse = { attempts: 0, statusCode: null, bodySha256: null };

    let payload: Record<string, unknown>;
    try {
      payload = payloadOf(c, ctx);
    } catch (err) {
      if (isFlowFailure(err)) return fail('invalid_payload', err.message, null, noResponse);
      throw err;
    }
    const connection = await ctx.services.get(connectionsService).get(c.connectName);
    if (!connection) return fail('unknown_connection', `connection '${c.connectName}' does not exist`, null, noResponse);
    const request = connection.requests?.[c.requestName];
    if (!request) return fail('unknown_request', `connection '${c.connectName}' has no request '${c.requestName}'`, null, noResponse);

    let prepared: PreparedRequest;
    try {
      prepared = buildRequest(connection, c.requestName, request, payload, ctx);
    } catch (err) {
      if (err instanceof PayloadError) return fail('invalid_payload', err.message, null, noResponse);
      if (isFlowFailure(err)) return fail('invalid_request', err.message, null, noResponse);
      throw err;
    }
    proxy = { method: prepared.method, url: ctx.redact(prepared.url.toString()) };
    const auth = connectionAuth(connection, ctx.services.get(secretNamesService));
    const call = await callBackend(ctx, {
      request: prepared,
      timeoutMs: request.timeoutMs ?? connection.timeoutMs,
      retryPolicy: c.retryPolicy ?? RetryPolicy.parse({}),
      ...(c.circuitBreaker ? { breaker: c.circuitBreaker } : {}),
      ...(auth ? { auth } : {}),
    });
    let body: unknown;
    try {
      body = responseBody(call.response, call.failure ? undefined : request, ctx);
    } catch (err) {
      return fail('invalid_response', `the response body cannot be used: ${(err as Error).message}`, call.statusCode, call.trace, call.response ? { response: call.response } : {});
    }
    if (call.failure) return fail(call.failure.type, call.failure.message, call.statusCode, call.trace, { body, ...(call.response ? { response: call.response } : {}) });
    return { branch: 'OnSuccess', status: 'SUCCEEDED', variables: outputs(body, null, call.response, proxy), trace: call.trace };
  },
});
