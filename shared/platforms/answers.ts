/**
 * Answers shaped for the contact-center platforms that call ivrflow (docs/architecture.md, "The
 * platforms that call ivrflow"): a flat map of strings (Amazon Connect's STRING_MAP response
 * validation; Twilio's and CXone's widgets read flat keys most easily) or JSON, always under the
 * size the caller can read (Connect and CXone: 32 KB), with a coded error past it, never a cut answer.
 */
import { UnprocessableRequestError } from '../errors';
import type { ExecutionResult } from '../steps/types';

/** The default bound of an answer, bytes (Amazon Connect's Lambda response limit, CXone's REST action). */
export const DEFAULT_MAX_ANSWER_BYTES = 32 * 1024;

/**
 * A value flattened to string values with dotted keys (`customer.name`, `items.0.id`); null and
 * undefined become empty strings, numbers and booleans their text. Keys of nested values are
 * joined to `prefix`.
 * @throws UnprocessableRequestError `FLAT_KEY_COLLISION` when two values flatten to one key
 *   (`{ "a.b": 1, "a": { "b": 2 } }`): an answer never silently loses a value
 */
export function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  const set = (key: string, text: string) => {
    if (Object.hasOwn(out, key)) throw new UnprocessableRequestError('FLAT_KEY_COLLISION', `two outputs flatten to the key '${key.slice(0, 100)}'; rename one, or ask for JSON`);
    out[key] = text;
  };
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    if (entries.length === 0 && prefix) set(prefix, Array.isArray(value) ? '[]' : '{}');
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) set(prefix, value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value));
  return out;
}

/** The outputs of an execution with its status, branch and id, as `ivrflow_*` keys. */
export function answerOf(result: ExecutionResult, shape: 'flat' | 'json'): Record<string, unknown> {
  const meta = {
    ivrflow_status: result.status,
    ivrflow_branch: result.branch,
    ivrflow_execution_id: result.executionId,
    ...(result.error ? { ivrflow_error: result.error.code } : {}),
    ...(result.pollAfterMs === undefined ? {} : { ivrflow_poll_after_ms: shape === 'flat' ? String(result.pollAfterMs) : result.pollAfterMs }),
  };
  return shape === 'flat' ? { ...flatten(result.variables), ...meta } : { ...result.variables, ...meta };
}

/** A coded error answer, flat (what a caller's branch can test: `ivrflow_status` ERROR and `ivrflow_error`). */
export function errorAnswer(code: string, message: string, executionId?: string): Record<string, string> {
  return { ivrflow_status: 'ERROR', ivrflow_error: code, ivrflow_message: message.slice(0, 500), ...(executionId ? { ivrflow_execution_id: executionId } : {}) };
}

/** The answer's JSON size in bytes. */
export function answerBytes(answer: unknown): number {
  return Buffer.byteLength(JSON.stringify(answer));
}
