/**
 * The HTTP edge for API Gateway HTTP API (payload v2) handlers: JSON bodies, responses, routing on
 * `routeKey`, and the one error mapping (errors become HTTP only at the edge; docs/architecture.md,
 * "Layers"): deliberate errors become `{ error: { code, message, details } }` with the 4xx status
 * {@link statusOf} gives their class; anything else a generic 500 with the request id — never a
 * stack trace.
 */
import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  BadRequestError,
  ConflictError,
  ExpressionError,
  FlowValidationError,
  GoneError,
  NotFoundError,
  PayloadTooLargeError,
  StoreUnavailableError,
  TemplateError,
  UnauthorizedError,
  UnprocessableRequestError,
  UnsupportedMediaTypeError,
} from '../errors';
import { parseUntrustedJson, UnsafeJsonError } from '../json';
import { LOCAL_ACTOR } from '../stores/audit';
import type { Auditor } from '../stores/ports';

/** The request event of an API Gateway HTTP API (payload format 2.0). */
export type ApiEvent = APIGatewayProxyEventV2;
/**
 * Who makes a request's changes, for the audit trail: the IAM user or role ARN of a SigV4-signed
 * request (the HTTP API's IAM authorizer), else a JWT's `sub`, else `local` (no authorizer: the
 * local stack). From the request context API Gateway sets, never from a header a caller chooses.
 */
export function auditorOf(event: ApiEvent): Auditor {
  const authorizer = (event.requestContext as { authorizer?: { iam?: { userArn?: unknown }; jwt?: { claims?: Record<string, unknown> } } }).authorizer;
  const arn = authorizer?.iam?.userArn;
  if (typeof arn === 'string' && arn !== '') return { actor: arn };
  const sub = authorizer?.jwt?.claims?.['sub'];
  if (typeof sub === 'string' && sub !== '') return { actor: `jwt:${sub}` };
  return LOCAL_ACTOR;
}

/** The structured response of an API Gateway HTTP API (payload format 2.0). */
export type ApiResult = APIGatewayProxyStructuredResultV2;
/** The handler of one route: an event in, a response out. */
export type RouteHandler = (event: ApiEvent) => Promise<ApiResult>;

/** The largest request body accepted, bytes (256 KiB). */
export const MAX_BODY_BYTES = 256 * 1024;

/** A JSON response. */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** A header, case-insensitively. */
export function header(event: ApiEvent, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/**
 * Parses the JSON body.
 * @throws BadRequestError 413 BODY_TOO_LARGE (over {@link MAX_BODY_BYTES}), 415 UNSUPPORTED_MEDIA_TYPE
 *   (a content type that is not JSON), 400 INVALID_JSON (naming the parse error), 400 UNSAFE_JSON
 *   (nested deeper than 64 levels, or a `__proto__` / `constructor.prototype` key), 400 MISSING_BODY.
 */
export function readJsonBody(event: ApiEvent, options: { optional?: boolean } = {}): unknown {
  if (event.body === undefined || event.body === null || event.body === '') {
    if (options.optional) return undefined;
    throw new BadRequestError('MISSING_BODY', 'a JSON body is required');
  }
  const text = readTextBody(event);
  const contentType = header(event, 'content-type');
  if (contentType && !/^application\/([\w.+-]*\+)?json\b/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(`content-type must be application/json, got '${contentType}'`);
  }
  try {
    return parseUntrustedJson(text);
  } catch (err) {
    if (err instanceof UnsafeJsonError) throw new BadRequestError('UNSAFE_JSON', `the body is refused: ${err.message}`);
    throw new BadRequestError('INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The body as text (empty when there is none), decoded when API Gateway sent it base64-encoded.
 * @throws PayloadTooLargeError (413 BODY_TOO_LARGE) over `maxBytes`
 */
export function readTextBody(event: ApiEvent, maxBytes = MAX_BODY_BYTES): string {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > maxBytes) throw new PayloadTooLargeError(`the body is larger than ${maxBytes} bytes`);
  return text;
}

/** A path parameter that must be present. */
export function pathParam(event: ApiEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (!value) throw new BadRequestError('MISSING_PARAMETER', `path parameter ${name} is required`);
  return value;
}

/** An optional positive integer query parameter. @throws BadRequestError 400 naming it. */
export function intQuery(event: ApiEvent, name: string, bounds: { min: number; max: number }): number | undefined {
  const raw = event.queryStringParameters?.[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < bounds.min || n > bounds.max) throw new BadRequestError('INVALID_PARAMETER', `query parameter ${name} must be an integer in [${bounds.min}, ${bounds.max}]`);
  return n;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * The one map from error classes to HTTP statuses (errors become HTTP only at the edge:
 * docs/architecture.md, "Layers"), resolved by `instanceof` in order, most specific first. Domain
 * errors carry no status. A flow failure that reaches the edge (e.g. a session key template that
 * cannot render) is 422; a store that cannot be reached is 503 `STATE_UNAVAILABLE` (retry later);
 * anything not listed (engine faults, budgets, configuration, bugs) is 500.
 */
const STATUS_BY_CLASS: ReadonlyArray<readonly [ErrorClass, number]> = [
  [FlowValidationError, 422],
  [UnprocessableRequestError, 422],
  [ExpressionError, 422],
  [TemplateError, 422],
  [UnauthorizedError, 401],
  [NotFoundError, 404],
  [GoneError, 410],
  [ConflictError, 409],
  [PayloadTooLargeError, 413],
  [UnsupportedMediaTypeError, 415],
  [BadRequestError, 400],
  [StoreUnavailableError, 503],
];

/** The HTTP status of an error: from {@link STATUS_BY_CLASS}, else 500. */
export function statusOf(err: unknown): number {
  for (const [errorClass, status] of STATUS_BY_CLASS) if (err instanceof errorClass) return status;
  return 500;
}

/** Maps an error to the API's error body. */
export function errorResult(err: unknown, requestId: string): ApiResult {
  const status = statusOf(err);
  // The store's own error names what failed inside; the caller learns only that it may retry.
  if (status === 503) return json(503, { error: { code: 'STATE_UNAVAILABLE', message: `ivrflow's state store cannot be reached right now; retry shortly (request id ${requestId})` } }, { 'retry-after': '1' });
  if (status < 500 && err instanceof Error) {
    const { code, details } = err as Error & { code?: string; details?: unknown };
    return json(status, { error: { code, message: err.message, ...(details === undefined ? {} : { details }) } });
  }
  return json(500, { error: { code: 'INTERNAL_ERROR', message: `internal error; request id ${requestId}` } });
}

/**
 * Dispatches on `event.routeKey`; an unknown route is a 404, and an event that is not an API
 * Gateway HTTP API (payload 2.0) event (e.g. a direct invocation with another payload) is a 400
 * `INVALID_EVENT`, never a 500.
 */
export function router(routes: Record<string, RouteHandler>): (event: ApiEvent) => Promise<ApiResult> {
  return async (event) => {
    const shape = event as unknown as Record<string, unknown> | null;
    if (typeof shape !== 'object' || shape === null || typeof shape['routeKey'] !== 'string' || typeof shape['requestContext'] !== 'object' || shape['requestContext'] === null) {
      return json(400, { error: { code: 'INVALID_EVENT', message: 'not an API Gateway HTTP API event (payload format 2.0): routeKey and requestContext are required' } });
    }
    const route = routes[event.routeKey];
    if (!route) return json(404, { error: { code: 'NO_ROUTE', message: `no route for ${event.routeKey}` } });
    return route(event);
  };
}

/** middy middleware: the one place errors become HTTP answers; unexpected ones are logged with the request id. */
export function httpErrors(log: (message: string, error: unknown, requestId: string) => void): middy.MiddlewareObj<ApiEvent, ApiResult, Error, Context> {
  return {
    onError: (request) => {
      const requestId = request.context?.awsRequestId ?? request.event?.requestContext?.requestId ?? 'unknown';
      const status = statusOf(request.error);
      if (status === 503) log('state store unavailable', request.error, requestId);
      else if (status >= 500) log('unhandled error', request.error, requestId);
      request.response = errorResult(request.error, requestId);
    },
  };
}
