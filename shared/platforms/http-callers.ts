/**
 * Execution requests from platforms that cannot send JSON with headers (docs/architecture.md,
 * "The platforms that call ivrflow"): Twilio Studio's HTTP Request widget (form-urlencoded or
 * GET, no custom headers), NICE CXone's REST action (form-urlencoded by default). Form fields and
 * query parameters become variables (strings); `Idempotency-Key`, `contactId` and `deadlineMs` may
 * come as fields for callers that cannot set headers. `shape` and `maxBytes` are query parameters.
 */
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors';
import { header, readJsonBody, readTextBody, type ApiEvent } from '../api/http';
import type { ExecutionResult } from '../steps/types';
import { answerBytes, answerOf, DEFAULT_MAX_ANSWER_BYTES } from './answers';

/** Query parameters that shape the answer, never variables. */
const ANSWER_PARAMETERS = new Set(['shape', 'maxBytes']);
/** Fields that are part of the request, not variables. */
const REQUEST_FIELDS = new Set(['Idempotency-Key', 'contactId', 'deadlineMs']);

/** What an execution request carries, whatever its form. */
export interface ExecutionCall {
  body: unknown;
  idempotencyKey: string | undefined;
  /** How the answer is shaped: the whole record (`record`, the default for JSON), or `flat`/`json` outputs with `ivrflow_*` keys. */
  shape: 'record' | 'flat' | 'json';
  /** Largest answer, bytes; undefined: unbounded (a JSON caller asking for the record). */
  maxBytes: number | undefined;
}

/** Fields (form or query) as an execution body: variables plus the request fields. @throws BadRequestError for a bad deadlineMs */
function bodyOf(fields: URLSearchParams): { body: Record<string, unknown>; idempotencyKey: string | undefined } {
  const variables: Record<string, unknown> = {};
  for (const [name, value] of fields) if (!REQUEST_FIELDS.has(name) && !ANSWER_PARAMETERS.has(name) && !Object.hasOwn(variables, name)) variables[name] = value;
  const deadline = fields.get('deadlineMs');
  if (deadline !== null && !/^\d{1,6}$/.test(deadline)) throw new BadRequestError('INVALID_PARAMETER', 'deadlineMs must be an integer number of milliseconds');
  const contactId = fields.get('contactId');
  return { body: { variables, ...(contactId === null ? {} : { contactId }), ...(deadline === null ? {} : { deadlineMs: Number(deadline) }) }, idempotencyKey: fields.get('Idempotency-Key') ?? undefined };
}

/**
 * Reads an execution request: a JSON body (as before), a form-urlencoded body, or (for GET) the
 * query parameters.
 * @throws BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError as `readJsonBody` does; `INVALID_PARAMETER` for a bad `shape` or `maxBytes`
 */
export function readExecutionCall(event: ApiEvent): ExecutionCall {
  const query = event.queryStringParameters ?? {};
  const shapeParam = query['shape'];
  if (shapeParam !== undefined && shapeParam !== 'flat' && shapeParam !== 'json') throw new BadRequestError('INVALID_PARAMETER', "shape must be 'flat' or 'json'");
  const maxParam = query['maxBytes'];
  if (maxParam !== undefined && (!/^\d{1,7}$/.test(maxParam) || Number(maxParam) < 256 || Number(maxParam) > 6_000_000)) throw new BadRequestError('INVALID_PARAMETER', 'maxBytes must be an integer in [256, 6000000]');
  const contentType = header(event, 'content-type') ?? '';
  const isGet = event.requestContext.http.method === 'GET';
  const isForm = /^application\/x-www-form-urlencoded\b/i.test(contentType);
  let body: unknown;
  let idempotencyKey = header(event, 'idempotency-key');
  if (isGet || isForm) {
    let fields: URLSearchParams;
    if (isGet) fields = new URLSearchParams(event.rawQueryString ?? '');
    else {
      fields = new URLSearchParams(readTextBody(event));
    }
    const read = bodyOf(fields);
    body = read.body;
    idempotencyKey ??= read.idempotencyKey;
  } else if (contentType !== '' && !/^application\/([\w.+-]*\+)?json\b/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(`content-type must be application/json or application/x-www-form-urlencoded, got '${contentType.slice(0, 80)}'`);
  } else body = readJsonBody(event, { optional: true });
  const platform = isGet || isForm;
  const shape = shapeParam ?? (platform ? 'flat' : 'record');
  const maxBytes = maxParam !== undefined ? Number(maxParam) : platform || shapeParam !== undefined ? DEFAULT_MAX_ANSWER_BYTES : undefined;
  return { body, idempotencyKey, shape, maxBytes };
}

/** The answer to send: shaped, within `maxBytes`. @throws AnswerTooLargeError (413 `RESPONSE_TOO_LARGE`, naming the execution) past it */
export function shapeAnswer(result: ExecutionResult, call: Pick<ExecutionCall, 'shape' | 'maxBytes'>): unknown {
  const answer = call.shape === 'record' ? result : answerOf(result, call.shape);
  if (call.maxBytes !== undefined && answerBytes(answer) > call.maxBytes) throw new AnswerTooLargeError(result.executionId, call.maxBytes);
  return answer;
}

/** The answer of an execution that ran is larger than the caller can read; the execution and its record are kept. */
export class AnswerTooLargeError extends PayloadTooLargeError {
  constructor(executionId: string, maxBytes: number) {
    super(`the answer of execution ${executionId} is larger than maxBytes (${maxBytes}); the execution ran: GET /executions/${executionId}, or declare fewer outputs`, 'RESPONSE_TOO_LARGE');
    this.name = 'AnswerTooLargeError';
  }
}
